"""`k8saudit-ovh setup`: its options, and its outcome as exit codes and messages. What it does
on OVHcloud is k8saudit_ovh/ovhcloud/ (flow.py; check.py for `--check`)."""
from __future__ import annotations

import argparse
import os
import sys

from ..ovhcloud import check, flow
from ..ovhcloud.alias import check_name
from ..ovhcloud.api import Api, make_client
from ..ovhcloud.credentials import DEFAULT_CLIENT_SECRET_ENV, DEFAULT_PASSWORD_ENV
from ..ovhcloud.errors import SetupError
from ..ovhcloud.run import Run
from ..redaction import redact
from . import falco_compat

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_OUT = "k8saudit-ovh-setup"


def add_parser(sub, plugin_opts: argparse.ArgumentParser, tail_check: check.TailCheck) -> None:
    parser = sub.add_parser(
        "setup", parents=[plugin_opts], help="set up LDP for an MKS cluster and write the Falco configuration",
        description="Find the MKS cluster and the LDP service, use or create a stream with WebSocket "
                    "broadcasting and indexing on, subscribe the cluster's audit logs to it and wait until the "
                    "cluster is READY again, use or create an OpenSearch alias attached to it, and write "
                    "falco.yaml, Helm values and a Secret into --out. Re-running creates nothing new. OVHcloud "
                    "credentials come from ovh.conf or OVH_* environment variables (python-ovh). Exit codes: 0 "
                    "done, 1 a step failed (the message says which, and what was created before), 2 usage error.")
    parser.add_argument("--project", default=os.environ.get("OVH_CLOUD_PROJECT_SERVICE"),
                        help="Public Cloud project id (default: $OVH_CLOUD_PROJECT_SERVICE)")
    parser.add_argument("--cluster", help="MKS cluster name or id (default: the project's only one)")
    parser.add_argument("--ldp", metavar="SERVICE", help="LDP service name (ldp-xx-NNNNN) or display name "
                                                         "(default: the account's only one in state ENABLED)")
    parser.add_argument("--stream", metavar="NAME|ID",
                        help="stream title or id (default: the stream the cluster's audit logs already feed, "
                             "else mks-audit-<cluster>, created when missing)")
    parser.add_argument("--alias", metavar="NAME", type=_alias,
                        help="OpenSearch alias name or suffix (lowercase letters, digits, - and _; default: "
                             "k8saudit-<cluster>, created when missing)")
    parser.add_argument("--yes", action="store_true",
                        help="turn indexing on for an existing stream without asking (asked on a terminal; "
                             "refused elsewhere without --yes)")
    legacy = parser.add_argument_group("history credentials, LDP services without IAM")
    legacy.add_argument("--password-env", default=DEFAULT_PASSWORD_ENV, metavar="VAR",
                        help=f"environment variable holding the LDP password (default: {DEFAULT_PASSWORD_ENV}; "
                             "asked for on a terminal; never changed)")
    iam = parser.add_argument_group("history credentials, IAM-enabled LDP services (one of)")
    iam.add_argument("--iam-token-env", metavar="VAR",
                     help="environment variable holding an IAM token (e.g. a personal access token)")
    iam.add_argument("--service-account", metavar="CLIENT_ID",
                     help="an IAM service account: the plugin fetches and refreshes its token")
    iam.add_argument("--service-account-secret-env", metavar="VAR",
                     help=f"environment variable holding its client secret (default: {DEFAULT_CLIENT_SECRET_ENV})")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"where to write (default: ./{DEFAULT_OUT})")
    parser.add_argument("--namespace", default="falco", help="Kubernetes namespace of the Secret (default: falco)")
    parser.add_argument("--falco-version", default=falco_compat.NEWEST.minor, metavar="X.Y",
                        help=f"Falco the falco.yaml is for (>= 0.37; default: {falco_compat.NEWEST.minor})")
    parser.add_argument("--operation-timeout", type=float, default=900.0, metavar="S",
                        help="seconds to wait for each LDP operation, and for the cluster to be READY again "
                             "(default: 900)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="list every API call setup would make; send no write call, write no file")
    mode.add_argument("--check", action="store_true",
                      help="verify an existing setup step by step (cluster, subscription, WebSocket broadcasting "
                           "and indexing, the tail connects, history answers); creates nothing")
    parser.add_argument("--frames", type=int, default=20, help="--check: frames to wait for (default: 20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="--check: seconds to wait for them (default: 30)")
    parser.set_defaults(func=lambda args: cmd_setup(args, tail_check))


def _alias(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--alias ")) from None


def cmd_setup(args: argparse.Namespace, tail_check: check.TailCheck) -> int:
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
    if args.service_account_secret_env and not args.service_account:
        print("k8saudit-ovh setup: --service-account-secret-env goes with --service-account", file=sys.stderr)
        return EXIT_USAGE
    run = None
    try:
        run = Run(Api(make_client(), dry_run=args.dry_run), args.operation_timeout, assume_yes=args.yes)
        if args.check:
            return check.check(run, args, tail_check)
        flow.setup(run, args, falco)
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
