"""Which well-known rules of the official k8s_audit_rules.yaml an event would trigger.

Simple Python predicates over extracted `ka.*` values, modelled on the rules' conditions
(default lists and macros, no exceptions): a preview for `k8saudit-ovh demo`, not a rule
engine. Falco with the official rules file is what alerts.
"""
from __future__ import annotations

from typing import Callable

Values = dict  # spec → str | list[str] | None, as host.Plugin.extract returns

FIELDS = [
    "ka.stage", "ka.verb", "ka.user.name", "ka.target.resource", "ka.target.subresource",
    "ka.target.namespace", "ka.target.name", "ka.response.code", "ka.auth.decision", "ka.uri",
    "ka.req.pod.containers.privileged", "ka.req.pod.initContainers.privileged",
    "ka.req.pod.ephemeralContainers.privileged", "ka.req.pod.volumes.hostpath", "ka.req.pod.host_network",
    "ka.req.binding.role", "ka.req.role.rules.resources", "ka.req.role.rules.verbs",
    "ka.req.configmap.obj", "ka.req.service.type",
]

# The macro `sensitive_vol_mount`.
SENSITIVE_HOST_PATHS = {"/proc", "/var/run/docker.sock", "/", "/etc", "/root", "/var/run/crio/crio.sock",
                        "/run/containerd/containerd.sock", "/home/admin", "/var/lib/kubelet",
                        "/var/lib/kubelet/pki", "/etc/kubernetes", "/etc/kubernetes/manifests"}
# The macro `contains_private_credentials`.
CREDENTIAL_WORDS = ("aws_access_key_id", "aws-access-key-id", "aws_s3_access_key_id", "aws-s3-access-key-id",
                    "password", "passphrase")
HEALTH_URIS = ("/healthz", "/livez", "/readyz")


def _is(v: Values, field: str, *wanted: str) -> bool:
    return v.get(field) in wanted


def _has(v: Values, field: str, wanted) -> bool:
    """`intersects`: a list field holds any of `wanted`."""
    return any(x in wanted for x in v.get(field) or ())


def _completed(v: Values) -> bool:  # macro kevt
    return _is(v, "ka.stage", "ResponseComplete")


def _successful(v: Values) -> bool:  # macro response_successful
    return (v.get("ka.response.code") or "").startswith("2")


def _target(v: Values, resource: str, subresource: bool = False) -> bool:
    return _is(v, "ka.target.resource", resource) and (v.get("ka.target.subresource") is not None) == subresource


def _pod_create(v: Values) -> bool:  # kevt and pod and kcreate
    return _completed(v) and _target(v, "pods") and _is(v, "ka.verb", "create")


def _privileged(v: Values) -> bool:
    return any(_has(v, f"ka.req.pod.{lst}.privileged", ("true",))
               for lst in ("containers", "initContainers", "ephemeralContainers"))


def _health_check(v: Values) -> bool:
    uri = v.get("ka.uri") or ""
    return any(uri == h or uri.startswith(h + "?") for h in HEALTH_URIS)


RULES: list[tuple[str, Callable[[Values], bool]]] = [
    ("Attach/Exec Pod", lambda v: _is(v, "ka.stage", "ResponseStarted") and _target(v, "pods", True)
        and _is(v, "ka.verb", "create", "get") and _is(v, "ka.target.subresource", "exec", "attach")),
    ("Create Privileged Pod", lambda v: _pod_create(v) and _privileged(v)),
    ("Create Sensitive Mount Pod", lambda v: _pod_create(v)
        and _has(v, "ka.req.pod.volumes.hostpath", SENSITIVE_HOST_PATHS)),
    ("Create HostNetwork Pod", lambda v: _pod_create(v) and _is(v, "ka.req.pod.host_network", "true")),
    ("Attach to cluster-admin Role", lambda v: _completed(v) and _target(v, "clusterrolebindings")
        and _is(v, "ka.verb", "create") and _is(v, "ka.req.binding.role", "cluster-admin")),
    ("ClusterRole With Wildcard Created", lambda v: _completed(v)
        and (_target(v, "roles") or _target(v, "clusterroles")) and _is(v, "ka.verb", "create")
        and (_has(v, "ka.req.role.rules.resources", ("*",)) or _has(v, "ka.req.role.rules.verbs", ("*",)))),
    ("Create/Modify Configmap With Private Credentials", lambda v: _completed(v) and _target(v, "configmaps")
        and _is(v, "ka.verb", "create", "update", "patch")
        and any(word in (v.get("ka.req.configmap.obj") or "") for word in CREDENTIAL_WORDS)),
    ("Create NodePort Service", lambda v: _completed(v) and _target(v, "services") and _is(v, "ka.verb", "create")
        and _is(v, "ka.req.service.type", "NodePort")),
    ("Anonymous Request Allowed", lambda v: _completed(v) and _is(v, "ka.user.name", "system:anonymous")
        and _is(v, "ka.auth.decision", "allow") and not _health_check(v)),
    ("Service Account Created in Kube Namespace", lambda v: _completed(v) and _target(v, "serviceaccounts")
        and _is(v, "ka.verb", "create") and _is(v, "ka.target.namespace", "kube-system", "kube-public")
        and _successful(v)),
    ("K8s Secret Get Successfully", lambda v: _target(v, "secrets") and _is(v, "ka.verb", "get") and _successful(v)),
    ("K8s Secret Get Unsuccessfully Tried", lambda v: _target(v, "secrets") and _is(v, "ka.verb", "get")
        and not _successful(v)),
    ("K8s Secret Deleted", lambda v: _target(v, "secrets") and _is(v, "ka.verb", "delete")
        and not _is(v, "ka.target.namespace", "kube-system")
        and not (v.get("ka.user.name") or "").startswith("system:") and _successful(v)),
]


def matching_rules(values: Values) -> list[str]:
    """Names of the rules above that `values` (extracted with FIELDS) would trigger."""
    return [name for name, predicate in RULES if predicate(values)]
