"""`k8saudit-ovh setup`: find or create what Falco needs on OVHcloud (the MKS cluster's audit
logs subscribed to an LDP stream with WebSocket broadcasting on, an OpenSearch alias for the
history) and write falco.yaml, Helm values and the Secret; `setup --check` verifies each step
of an existing setup."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Callable

from . import falco_compat
from ..redaction import redact, register_secret
from . import outputs, resources
from .choose import interactive
from .errors import SetupError
from .history_probe import search_answers
from .ovh_api import Api, make_client

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_OUT = "k8saudit-ovh-setup"
DEFAULT_PASSWORD_ENV = "LDP_PASSWORD"
TailCheck = Callable[[argparse.Namespace], int]  # __main__.cmd_check


def add_parser(sub, plugin_opts: argparse.ArgumentParser, tail_check: TailCheck) -> None:
    parser = sub.add_parser(
        "setup", parents=[plugin_opts], help="set up LDP for an MKS cluster and write the Falco configuration",
        description="Find the MKS cluster and the LDP service, use or create a stream with WebSocket "
                    "broadcasting on, subscribe the cluster's audit logs to it, use or create an OpenSearch "
                    "alias attached to it, and write falco.yaml, Helm values and a Secret into --out. "
                    "Re-running creates nothing new. OVHcloud credentials come from ovh.conf or OVH_* "
                    "environment variables (python-ovh). Exit codes: 0 done, 1 a step failed (the message "
                    "says which, and what was created before), 2 usage error.")
    parser.add_argument("--project", default=os.environ.get("OVH_CLOUD_PROJECT_SERVICE"),
                        help="Public Cloud project id (default: $OVH_CLOUD_PROJECT_SERVICE)")
    parser.add_argument("--cluster", help="MKS cluster name or id (default: the project's only one)")
    parser.add_argument("--ldp", metavar="SERVICE", help="LDP service name (ldp-xx-NNNNN) or display name "
                                                         "(default: the account's only one)")
    parser.add_argument("--stream", metavar="NAME|ID",
                        help="stream title or id (default: the stream the cluster's audit logs already feed, "
                             "else mks-audit-<cluster>, created when missing)")
    parser.add_argument("--alias", metavar="NAME", help="OpenSearch alias name or suffix (default: "
                                                        "k8saudit-<cluster>, created when missing)")
    parser.add_argument("--password-env", default=DEFAULT_PASSWORD_ENV, metavar="VAR",
                        help=f"environment variable holding the LDP password (default: {DEFAULT_PASSWORD_ENV}; "
                             "asked for on a terminal; never changed)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"where to write (default: ./{DEFAULT_OUT})")
    parser.add_argument("--namespace", default="falco", help="Kubernetes namespace of the Secret (default: falco)")
    parser.add_argument("--falco-version", default=falco_compat.NEWEST.minor, metavar="X.Y",
                        help=f"Falco the falco.yaml is for (>= 0.37; default: {falco_compat.NEWEST.minor})")
    parser.add_argument("--operation-timeout", type=float, default=900.0, metavar="S",
                        help="seconds to wait for each LDP operation (default: 900)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                        help="list every API call setup would make; send no write call, write no file")
    mode.add_argument("--check", action="store_true",
                        help="verify an existing setup step by step (subscription, WebSocket broadcasting, "
                             "the tail connects, history answers); creates nothing")
    parser.add_argument("--frames", type=int, default=20, help="--check: frames to wait for (default: 20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="--check: seconds to wait for them (default: 30)")
    parser.set_defaults(func=lambda args: cmd_setup(args, tail_check))


def cmd_setup(args: argparse.Namespace, tail_check: TailCheck) -> int:
    try:
        falco = falco_compat.lookup(args.falco_version)
    except ValueError as exc:
        print(f"k8saudit-ovh setup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not falco.env_vars:
        print(f"k8saudit-ovh setup: Falco {falco.minor} does not expand ${{VAR}}, which keeps the token out of "
              "falco.yaml: use Falco >= 0.37 (or `k8saudit-ovh falco-config --url`)", file=sys.stderr)
        return EXIT_USAGE
    if not args.project:
        print("k8saudit-ovh setup: --project is required (or OVH_CLOUD_PROJECT_SERVICE)", file=sys.stderr)
        return EXIT_USAGE
    run = None
    try:
        run = resources.Run(Api(make_client(), dry_run=args.dry_run), args.operation_timeout)
        if args.check:
            return _check(run, args, tail_check)
        _setup(run, args, falco)
        return EXIT_OK
    except SetupError as exc:
        print(f"k8saudit-ovh setup: {redact(str(exc))}", file=sys.stderr)
        if run is not None and not args.check:
            _report_created(run.created)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        if run is not None and not args.check:
            _report_created(run.created)
        raise


def _report_created(created: list[str]) -> None:
    """After a failure: what exists now that did not before (a re-run reuses it)."""
    if created:
        print("created before the failure (a re-run reuses it):", file=sys.stderr)
        for item in created:
            print(f"  - {item}", file=sys.stderr)
    else:
        print("nothing was created", file=sys.stderr)


def _setup(run: resources.Run, args: argparse.Namespace, falco: falco_compat.Falco) -> None:
    if args.dry_run:
        print("dry run: the API calls setup would make (reads are sent, writes are only listed):")
    kube = resources.find_cluster(run, args.project, args.cluster)
    print(f"cluster: {kube[1]} ({kube[0]}) in project {args.project}")
    subscribed = resources.audit_subscriptions(run, args.project, kube[0])
    service, username = resources.find_service(run, args.ldp)
    print(f"LDP service: {service}")
    stream_id, title = resources.ensure_stream(run, service, args.stream, subscribed, kube)
    print(f"stream: {title} ({stream_id}), WebSocket broadcasting on")
    resources.subscribe(run, args.project, kube, service, stream_id, subscribed)
    print(f"subscription: the audit logs of {kube[1]} feed {title}")
    url = resources.tail_url(run, service, stream_id)
    alias = resources.ensure_alias(run, service, args.alias, stream_id, kube)
    print(f"OpenSearch alias: {alias[1]} ({alias[0]}), stream attached")
    search = resources.search_url(run, service, alias)
    out = Path(args.out)
    names = [outputs.FALCO_YAML, outputs.HELM_VALUES, outputs.SECRET]
    if args.dry_run:
        print(f"would write {', '.join(str(out / n) for n in names)}; nothing was changed")
        return
    print(f"history: {search}/_search as {username}")
    password = _password(args.password_env, username)
    history = outputs.history_config(search, username)
    about = f"Written by `k8saudit-ovh setup` for MKS cluster {kube[1]} ({kube[0]}), LDP stream {title} ({stream_id})."
    texts = [outputs.falco_yaml(falco, about, history), outputs.helm_values(about, args.namespace, history),
             outputs.secret_manifest(about, args.namespace, url, password)]
    try:
        written = outputs.write(out, dict(zip(names, texts)))
    except OSError as exc:
        raise SetupError(f"writing into {out}: {exc}") from None
    print("created: " + ("; ".join(run.created) if run.created else "nothing (everything existed)"))
    print(f"wrote: {', '.join(map(str, written))} (the token and the password are only in {outputs.SECRET}, mode 0600)")
    print(f"next: kubectl apply -f {out / outputs.SECRET}; helm install falco falcosecurity/falco -n "
          f"{args.namespace} -f {out / outputs.HELM_VALUES}")


def _password(variable: str, username: str) -> str | None:
    password = os.environ.get(variable)
    if not password and interactive():
        password = getpass.getpass(f"LDP password of {username} (for the history; not changed): ")
    if password:
        register_secret(password)
        return password
    print(f"note: no LDP password (${variable} is unset and this is not a terminal): {outputs.SECRET} has no "
          f"'{outputs.SECRET_PASSWORD_KEY}' key, which the history will need", file=sys.stderr)
    return None


# ---- --check --------------------------------------------------------------------------------

def _ok(step: str, detail: str) -> None:
    print(f"ok      {step}: {detail}")


def _broken(step: str, reason: str) -> int:
    """The first broken step ends the check."""
    print(f"BROKEN  {step}: {redact(reason)}")
    return EXIT_FAILURE


def _check(run: resources.Run, args: argparse.Namespace, tail_check: TailCheck) -> int:
    try:
        kube = resources.find_cluster(run, args.project, args.cluster)
        service, username = resources.find_service(run, args.ldp)
    except SetupError as exc:
        return _broken("cluster and LDP service", str(exc))
    _ok("cluster and LDP service", f"{kube[1]} ({kube[0]}), {service}")
    subscribed = resources.audit_subscriptions(run, args.project, kube[0])
    found = resources.find_stream(run, service, args.stream, subscribed,
                                  args.stream or resources.default_stream_title(kube[1]))
    if found is None:
        return _broken("stream", f"no stream {args.stream or 'fed by the cluster'} in {service}: run setup")
    stream_id, stream = found
    title = stream.get("title") or stream_id
    if not any(s.get("streamId") == stream_id for s in subscribed):
        feeds = ", ".join(str(s.get("streamId")) for s in subscribed) or "none"
        return _broken("subscription", f"the audit logs of {kube[1]} do not feed stream {title} "
                                           f"(audit subscriptions to: {feeds}): run setup")
    _ok("subscription", f"the audit logs of {kube[1]} feed stream {title} ({stream_id})")
    if not stream.get("webSocketEnabled"):
        return _broken("WebSocket broadcasting", f"off on stream {title}: run setup")
    _ok("WebSocket broadcasting", f"on for stream {title}")
    url = resources.tail_url(run, service, stream_id)
    tail = argparse.Namespace(url=url, plugin=args.plugin, config=args.config, frames=args.frames,
                              timeout=args.timeout)
    if tail_check(tail) != EXIT_OK:
        return _broken("tail", "the WebSocket tail did not deliver audit events (see above)")
    _ok("tail", "connected and audit events arrived")
    alias = resources.ensure_alias(run, service, args.alias, stream_id, kube, create=False)
    if alias is None:
        return _broken("history", f"no OpenSearch alias with stream {title} attached: run setup")
    search = resources.search_url(run, service, alias)
    password = _password(args.password_env, username)
    if password is None:
        print(f"skipped history: no LDP password to query {search}/_search with")
        return EXIT_OK
    try:
        answer = search_answers(search, username, password)
    except RuntimeError as exc:
        return _broken("history", f"{search}/_search as {username}: {exc}")
    _ok("history", f"{search}/_search answers as {username} ({answer})")
    return EXIT_OK
