"""The MKS cluster: finding it, its audit log subscriptions, subscribing it to a stream, and
waiting until it is READY again (a subscription redeploys the cluster's log forwarding, as
terraform-provider-ovh's kube log subscription resource waits for too)."""
from __future__ import annotations

from . import api_calls as calls
from .api import ApiError
from .choose import Choice, choose
from .operations import poll
from .run import Run, not_found

AUDIT = "audit"
READY = "READY"
# What a cluster goes through after a subscription (terraform-provider-ovh waits on these).
REDEPLOYING_STATES = {"REDEPLOYING", "UPDATING"}
# A subscription's operation ends before the cluster leaves READY: the first read waits
# this long (terraform-provider-ovh's delay before its first read, too).
SETTLE_S = 5.0


def find_cluster(run: Run, project: str, wanted: str) -> Choice:
    try:
        ids = run.api.get(calls.LIST_CLUSTERS, serviceName=project)
    except ApiError as exc:
        raise not_found(exc, f"unknown Public Cloud project '{project}'") from None
    choices = [(kube_id, run.api.get(calls.GET_CLUSTER, serviceName=project, kubeId=kube_id).get("name") or kube_id)
               for kube_id in ids]
    return choose("MKS cluster", "--cluster", wanted, choices, f"project {project}")


def status(run: Run, project: str, kube: Choice) -> str:
    return str(run.api.get(calls.GET_CLUSTER, serviceName=project, kubeId=kube[0]).get("status"))


def audit_subscriptions(run: Run, project: str, kube_id: str) -> list[dict]:
    ids = run.api.get(calls.LIST_SUBSCRIPTIONS, {"kind": AUDIT}, serviceName=project, kubeId=kube_id)
    found = [run.api.get(calls.GET_SUBSCRIPTION, serviceName=project, kubeId=kube_id, subscriptionId=sid)
             for sid in ids]
    return [s for s in found if s.get("kind") == AUDIT]


def subscribe(run: Run, project: str, kube: Choice, service: str, stream_id: str, existing: list[dict]) -> bool:
    """Whether the subscription is new (sent, or listed in a dry run)."""
    if any(s.get("streamId") == stream_id for s in existing):
        return False
    body = {"kind": AUDIT, "streamId": stream_id}
    try:
        answer = run.api.write(calls.CREATE_SUBSCRIPTION, body, serviceName=project, kubeId=kube[0])
    except ApiError as exc:
        # 409: subscribed meanwhile (another run); anything else is an error
        if exc.status != 409 or not any(s.get("streamId") == stream_id
                                        for s in audit_subscriptions(run, project, kube[0])):
            raise
        return True
    run.operation(answer, service, f"subscribing the audit logs of {kube[1]}")
    if answer is None:
        return True
    run.created.append(f"audit log subscription of cluster {kube[1]} to stream {stream_id}")
    return True


def wait_ready(run: Run, project: str, kube: Choice, subscribed_now: bool) -> None:
    """Until the cluster is READY (its audit logs flow again); at once when it is."""
    poll(lambda: status(run, project, kube), f"cluster {kube[1]}", f"cluster {kube[1]} ({kube[0]})", done=READY,
         pending=REDEPLOYING_STATES, timeout=run.operation_timeout, progress=run.progress,
         first_delay=SETTLE_S if subscribed_now else 0.0)
