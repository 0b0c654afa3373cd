"""`k8saudit-ovh setup --check`: each step of an existing setup, in the order the audit
events travel (cluster, subscription, stream settings, WebSocket tail, history); the first
broken step ends the check. Creates and changes nothing."""
from __future__ import annotations

import argparse
from typing import Callable

from ..redaction import redact
from . import alias as aliases, cluster, credentials, stream as streams
from .errors import SetupError
from .choose import Choice
from .history_probe import documents_last_hour
from .run import Run
from .service import Service, find_service

EXIT_OK, EXIT_FAILURE = 0, 1
TailCheck = Callable[[argparse.Namespace], int]  # the `check` command, on the stream's tail URL


def _ok(step: str, detail: str) -> None:
    print(f"ok      {step}: {detail}")


def _warn(step: str, detail: str) -> None:
    print(f"warn    {step}: {detail}")


def _broken(step: str, reason: str) -> int:
    print(f"BROKEN  {step}: {redact(reason)}")
    return EXIT_FAILURE


def check(run: Run, args: argparse.Namespace, tail_check: TailCheck) -> int:
    try:
        kube = cluster.find_cluster(run, args.project, args.cluster)
        service = find_service(run, args.ldp)
        state = cluster.status(run, args.project, kube)
    except SetupError as exc:
        return _broken("cluster and LDP service", str(exc))
    if state != cluster.READY:
        return _broken("cluster", f"{kube[1]} is {state}: its audit logs flow once it is {cluster.READY}; "
                                  "check again then")
    _ok("cluster and LDP service", f"{kube[1]} ({kube[0]}) is {state}, {service.name}"
                                   + (" (IAM enabled)" if service.iam else ""))
    subscribed = cluster.audit_subscriptions(run, args.project, kube[0])
    found = streams.find_stream(run, service.name, args.stream, subscribed,
                                args.stream or streams.default_title(kube[1]))
    if found is None:
        return _broken("stream", f"no stream {args.stream or 'fed by the cluster'} in {service.name}: run setup")
    stream_id, stream = found
    title = stream.get("title") or stream_id
    if not any(s.get("streamId") == stream_id for s in subscribed):
        feeds = ", ".join(str(s.get("streamId")) for s in subscribed) or "none"
        return _broken("subscription", f"the audit logs of {kube[1]} do not feed stream {title} "
                                       f"(audit subscriptions to: {feeds}): run setup")
    _ok("subscription", f"the audit logs of {kube[1]} feed stream {title} ({stream_id})")
    for key, what in streams.NEEDED.items():
        if stream.get(key) is not True:
            return _broken(what, f"off on stream {title}: run setup")
        _ok(what, f"on for stream {title}")
    tail = argparse.Namespace(url=streams.tail_url(run, service.name, stream_id), plugin=args.plugin,
                              config=args.config, frames=args.frames, timeout=args.timeout)
    if tail_check(tail) != EXIT_OK:
        return _broken("tail", "the WebSocket tail did not deliver audit events (see above)")
    _ok("tail", "connected and audit events arrived")
    return _history(run, args, service, stream_id, title, kube)


def _history(run: Run, args: argparse.Namespace, service: Service, stream_id: str, title: str, kube: Choice) -> int:
    alias = aliases.ensure_alias(run, service, args.alias, stream_id, kube, create=False)
    if alias is None:
        return _broken("history", f"no OpenSearch alias with stream {title} attached: run setup")
    search = aliases.search_url(run, service.name, alias)
    try:
        credential = credentials.resolve(service, args.iam_token_env, args.service_account,
                                         args.service_account_secret_env, args.password_env, ask=True)
    except SetupError as exc:
        print(f"skipped history: {exc}")
        return EXIT_OK
    if credential.secret.value is None:
        print(f"skipped history: no LDP password to query {search}/_search with (${args.password_env})")
        return EXIT_OK
    try:
        count = documents_last_hour(search, credential)
    except RuntimeError as exc:
        return _broken("history", f"{search}/_search {credential.who}: {exc}")
    if count == 0:
        _warn("history", f"{search}/_search answers {credential.who}, but holds 0 documents for the last hour while "
                         f"the tail carries audit events: is stream {title} indexed, and attached to {alias[1]}?")
    else:
        _ok("history", f"{search}/_search answers {credential.who} ({count} documents in the last hour)")
    return EXIT_OK
