"""What `k8saudit-ovh setup` does: find or create what Falco needs on OVHcloud (the MKS
cluster's audit logs subscribed to an LDP stream with WebSocket broadcasting and indexing on,
the cluster READY again, an OpenSearch alias for the history) and write falco.yaml, Helm
values and the Secret. `args` are the command's options (k8saudit_ovh/cli/setup.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli.falco_compat import Falco
from . import alias as aliases, cluster, credentials, outputs, stream as streams
from .api_calls import HISTORY_READ_ACTION
from .errors import SetupError
from .run import Run
from .service import find_service


def setup(run: Run, args: argparse.Namespace, falco: Falco) -> None:
    dry_run = run.api.dry_run
    if dry_run:
        print("dry run: the API calls setup would make (reads are sent, writes are only listed):")
    kube = cluster.find_cluster(run, args.project, args.cluster)
    print(f"cluster: {kube[1]} ({kube[0]}) in project {args.project}")
    subscribed = cluster.audit_subscriptions(run, args.project, kube[0])
    service = find_service(run, args.ldp)
    print(f"LDP service: {service.name}" + (" (IAM enabled)" if service.iam else ""))
    credential = credentials.resolve(service, args.iam_token_env, args.service_account,
                                     args.service_account_secret_env, args.password_env, ask=not dry_run)
    stream_id, title = streams.ensure_stream(run, service.name, args.stream, subscribed, kube)
    print(f"stream: {title} ({stream_id}), WebSocket broadcasting and indexing on")
    sent = cluster.subscribe(run, args.project, kube, service.name, stream_id, subscribed)
    print(f"subscription: the audit logs of {kube[1]} feed {title}")
    if dry_run:
        if sent:
            print(f"  then: wait until cluster {kube[1]} is READY again")
    else:
        cluster.wait_ready(run, args.project, kube, subscribed_now=sent)
        print(f"cluster: {kube[1]} is READY")
    url = streams.tail_url(run, service.name, stream_id)
    alias = aliases.ensure_alias(run, service, args.alias, stream_id, kube)
    print(f"OpenSearch alias: {alias[1]} ({alias[0]}), stream attached")
    search = aliases.search_url(run, service.name, alias)
    out = Path(args.out)
    names = [outputs.FALCO_YAML, outputs.HELM_VALUES, outputs.SECRET]
    if dry_run:
        print(f"would write {', '.join(str(out / n) for n in names)}; nothing was changed")
        return
    print(f"history: {search}/_search {credential.who}")
    if service.iam:
        print(f"  (its IAM identity needs {HISTORY_READ_ACTION} on alias {alias[1]}: an IAM policy on the alias only)")
    secret = credential.secret
    if secret.value is None:
        print(f"note: no LDP password (${args.password_env} is unset and this is not a terminal): {outputs.SECRET} "
              f"has no '{secret.key}' key, which the history will need", file=sys.stderr)
    history = credential.history(search)
    about = f"Written by `k8saudit-ovh setup` for MKS cluster {kube[1]} ({kube[0]}), LDP stream {title} ({stream_id})."
    texts = [outputs.falco_yaml(falco, about, history, secret),
             outputs.helm_values(about, args.namespace, history, secret),
             outputs.secret_manifest(about, args.namespace, url, secret)]
    try:
        written = outputs.write(out, dict(zip(names, texts)))
    except OSError as exc:
        raise SetupError(f"writing into {out}: {exc}") from None
    print("created: " + ("; ".join(run.created) if run.created else "nothing (everything existed)"))
    if written:
        print(f"wrote: {', '.join(map(str, written))} (the tail token and the history's secret are only in "
              f"{outputs.SECRET}, mode 0600)")
    else:
        print(f"wrote: nothing ({', '.join(str(out / n) for n in names)} were up to date)")
    print(f"next: kubectl apply -f {out / outputs.SECRET}; helm install falco falcosecurity/falco -n "
          f"{args.namespace} -f {out / outputs.HELM_VALUES}")
