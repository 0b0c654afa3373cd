"""The ``ka.*`` field table: one entry per field, in field_id order.

Pure data plus two renderers. Stdlib only, so the build and the docs can load it by
file path without importing the package. The same table drives ``plugin_get_fields``
(:func:`fields_json`), the C++ extractor dispatch (``op``, ``path``, ``args``, read by
``_extract.pyx``) and the README (:func:`markdown_table`).

Extractor ops (implemented in ``cpp/plugin/extractor.cpp``; behaviour follows upstream k8saudit 0.18.0):

* ``keys``: value at ``path``; a list field needs a JSON array.
* ``values``: every value reached by ``path``, fanning out over arrays met on the way;
  missing ones are skipped. The index argument selects the element of each array met.
* ``all_values``: like ``values`` but one missing value makes the whole field empty.
* ``repositories`` / ``first_value`` / ``first_repository``: image based variants
  (``first_*`` always read element 0 and give a single value).
* ``joined_lists``: per container, a list of strings joined with single spaces.
* ``host_ports``: per port, ``hostPort`` or else ``containerPort``.
* ``effective_id``: per container the value at ``path`` or else the pod value at ``args``
  or else ``"0"``.
* ``rule_lists``: the elements of every array reached by ``path``.
* ``volume_types``: every key except ``name`` of every volume.
* ``hostpath_match``: ``"true"``/``"false"`` match of the key argument against host paths.
* ``any_true``: ``"true"`` when any value reached by ``path`` is JSON ``true``.
* ``subject_names``: names of binding subjects of kind ``args[0]`` (``args[1]``: prefix key).
* ``target_pod_name``, ``uri_param``, ``always_true``: single-purpose ops.
"""

import json
from collections import namedtuple

Field = namedtuple("Field", "name desc is_list arg op path args")

INDEX_ARG = {"isRequired": False, "isIndex": True, "isKey": False}
REQUIRED_KEY_ARG = {"isRequired": True, "isIndex": False, "isKey": True}

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _plain(name, desc, *path, is_list=False):
    return Field(name, desc, is_list, None, "keys", path, ())


def _container(lst, sub):
    """The per-container field ``sub`` of the pod container list ``lst``."""
    spec = ("requestObject", "spec", lst)
    who = {"containers": "containers", "initContainers": "init containers",
           "ephemeralContainers": "ephemeral containers"}[lst]
    security = {
        "privileged": ("privileged", "privileged flag"),
        "allow_privilege_escalation": ("allowPrivilegeEscalation", "allowPrivilegeEscalation flag"),
        "read_only_fs": ("readOnlyRootFilesystem", "readOnlyRootFilesystem flag"),
        "run_as_user": ("runAsUser", "securityContext.runAsUser"),
        "run_as_group": ("runAsGroup", "securityContext.runAsGroup"),
        "proc_mount": ("procMount", "procMount setting"),
    }
    if sub in security:
        key, what = security[sub]
        desc = f"Pod request: the {what} of each of the {who} that sets it."
        op, path, args = "values", spec + ("securityContext", key), ()
    elif sub in ("eff_run_as_user", "eff_run_as_group"):
        key = "runAsUser" if sub == "eff_run_as_user" else "runAsGroup"
        desc = (f"Pod request: per entry of {who}, its top-level {key}, else spec.{key}, else 0 "
                "(securityContext is not consulted).")
        op, path, args = "effective_id", spec + (key,), ("requestObject", "spec", key)
    elif sub == "add_capabilities":
        desc = f"Pod request: the capabilities.add array (as JSON text) of each of the {who} that sets it."
        op, path, args = "values", spec + ("securityContext", "capabilities", "add"), ()
    elif sub in ("command", "args"):
        desc = f"Pod request: the {sub} of each of the {who}, its strings joined with spaces."
        op, path, args = "joined_lists", spec + (sub,), ()
    elif sub == "name":
        desc = f"Pod request: the names of the {who} (no value if one has no name)."
        op, path, args = "all_values", spec + ("name",), ()
    elif sub == "image":
        desc = f"Pod request: the images of the {who}."
        op, path, args = "all_values", spec + ("image",), ()
    elif sub == "image.repository":
        desc = f"Pod request: the images of the {who}, cut at the first ':' and then at '@'."
        op, path, args = "repositories", spec + ("image",), ()
    elif sub == "host_port":
        desc = f"Pod request: per port of the {who}, its hostPort, or its containerPort when hostPort is unset."
        op, path, args = "host_ports", spec + ("ports",), ()
    else:
        raise KeyError(sub)
    return Field(f"ka.req.pod.{lst}.{sub}", desc, True, INDEX_ARG, op, path, args)


def _rules(name, desc, key):
    return Field(name, desc, True, INDEX_ARG, "rule_lists", ("requestObject", "rules", key), ())


def _subjects(suffix, desc, *args):
    return Field(f"ka.req.binding.subjects.{suffix}", desc, True, None, "subject_names",
                 ("requestObject", "subjects"), args)


_ANN = "annotations"
_VOL = ("requestObject", "spec", "volumes")

FIELDS = [
    _plain("ka.auditid", "Audit event ID (auditID).", "auditID"),
    _plain("ka.stage", "Audit stage, e.g. ResponseComplete.", "stage"),
    _plain("ka.auth.decision", "Authorization decision annotation.", _ANN, "authorization.k8s.io/decision"),
    _plain("ka.auth.reason", "Authorization reason annotation.", _ANN, "authorization.k8s.io/reason"),
    _plain("ka.auth.openshift.decision", "OpenShift authentication decision annotation.",
           _ANN, "authentication.openshift.io/decision"),
    _plain("ka.validations.admission.policy.failure", "ValidatingAdmissionPolicy failure annotation.",
           _ANN, "validation.policy.admission.k8s.io/validation_failure"),
    _plain("ka.security.pod.violations", "Pod Security audit violations annotation.",
           _ANN, "pod-security.kubernetes.io/audit-violations"),
    _plain("ka.auth.openshift.username", "OpenShift authentication user name annotation.",
           _ANN, "authentication.openshift.io/username"),
    _plain("ka.user.name", "Name of the requesting user.", "user", "username"),
    _plain("ka.user.groups", "Groups of the requesting user.", "user", "groups", is_list=True),
    _plain("ka.impuser.name", "Name of the impersonated user.", "impersonatedUser", "username"),
    _plain("ka.verb", "Request verb, e.g. get or create.", "verb"),
    _plain("ka.uri", "Request URI as sent by the client.", "requestURI"),
    Field("ka.uri.param", "First value of the given query parameter of the request URI.",
          False, REQUIRED_KEY_ARG, "uri_param", ("requestURI",), ()),
    _plain("ka.target.name", "Name in objectRef.", "objectRef", "name"),
    _plain("ka.target.namespace", "Namespace in objectRef.", "objectRef", "namespace"),
    _plain("ka.target.resource", "Resource in objectRef.", "objectRef", "resource"),
    _plain("ka.target.subresource", "Subresource in objectRef.", "objectRef", "subresource"),
    Field("ka.target.pod.name", "Response object name, for pod requests without subresource.",
          False, None, "target_pod_name", ("responseObject", "metadata", "name"), ()),
    _plain("ka.req.binding.subjects", "Request object subjects, each as JSON text.",
           "requestObject", "subjects", is_list=True),
    _subjects("user_names", "Names of the request object's User subjects.", "User"),
    _subjects("serviceaccount_names", "Names of the request object's ServiceAccount subjects.",
              "ServiceAccount"),
    _subjects("serviceaccount_ns_names",
              "namespace:name of the request object's ServiceAccount subjects that have a namespace.",
              "ServiceAccount", "namespace"),
    _subjects("group_names", "Names of the request object's Group subjects.", "Group"),
    _plain("ka.req.binding.role", "Request object roleRef name.", "requestObject", "roleRef", "name"),
    Field("ka.req.binding.subject.has_name", "Deprecated; always true for audit events.",
          False, REQUIRED_KEY_ARG, "always_true", (), ()),
    _plain("ka.req.configmap.name", "Name in objectRef, for any resource.", "objectRef", "name"),
    _plain("ka.req.configmap.obj", "Request object data, as JSON text.", "requestObject", "data"),
    _container("containers", "args"),
    _container("containers", "command"),
    _container("containers", "name"),
    _container("containers", "image"),
    Field("ka.req.container.image", "Deprecated; image of the first container.",
          False, None, "first_value", ("requestObject", "spec", "containers", "image"), ()),
    _container("containers", "image.repository"),
    Field("ka.req.container.image.repository", "Deprecated; image repository of the first container.",
          False, None, "first_repository", ("requestObject", "spec", "containers", "image"), ()),
    _plain("ka.req.pod.host_ipc", "Pod request: spec.hostIPC.", "requestObject", "spec", "hostIPC"),
    _plain("ka.req.pod.host_network", "Pod request: spec.hostNetwork.", "requestObject", "spec", "hostNetwork"),
    _plain("ka.req.container.host_network", "Deprecated alias of ka.req.pod.host_network.",
           "requestObject", "spec", "hostNetwork"),
    _plain("ka.req.pod.host_pid", "Pod request: spec.hostPID.", "requestObject", "spec", "hostPID"),
    _container("containers", "host_port"),
    _container("containers", "privileged"),
    Field("ka.req.container.privileged", "Deprecated; true if any container is privileged, else false.",
          False, None, "any_true",
          ("requestObject", "spec", "containers", "securityContext", "privileged"), ()),
    _container("containers", "allow_privilege_escalation"),
    _container("containers", "read_only_fs"),
    _plain("ka.req.pod.run_as_user", "Pod request: spec.securityContext.runAsUser.",
           "requestObject", "spec", "securityContext", "runAsUser"),
    _container("containers", "run_as_user"),
    _container("containers", "eff_run_as_user"),
    _plain("ka.req.pod.run_as_group", "Pod request: spec.securityContext.runAsGroup.",
           "requestObject", "spec", "securityContext", "runAsGroup"),
    _container("containers", "run_as_group"),
    _container("containers", "eff_run_as_group"),
    _container("containers", "proc_mount"),
    _plain("ka.req.role.rules", "Request object rules, each as JSON text.",
           "requestObject", "rules", is_list=True),
    _rules("ka.req.role.rules.apiGroups", "apiGroups of the request object rules.", "apiGroups"),
    _rules("ka.req.role.rules.nonResourceURLs", "nonResourceURLs of the request object rules.",
           "nonResourceURLs"),
    _rules("ka.req.role.rules.verbs", "verbs of the request object rules.", "verbs"),
    _rules("ka.req.role.rules.resources", "resources of the request object rules.", "resources"),
    _plain("ka.req.pod.fs_group", "Pod request: spec.securityContext.fsGroup.",
           "requestObject", "spec", "securityContext", "fsGroup"),
    _plain("ka.req.pod.supplemental_groups", "Pod request: spec.securityContext.supplementalGroups.",
           "requestObject", "spec", "securityContext", "supplementalGroups", is_list=True),
    _container("containers", "add_capabilities"),
    _plain("ka.req.service.type", "Service request: spec.type.", "requestObject", "spec", "type"),
    Field("ka.req.service.ports", "Service request: spec.ports as one JSON text (index ignored).",
          True, INDEX_ARG, "values", ("requestObject", "spec", "ports"), ()),
    Field("ka.req.pod.volumes.hostpath", "Pod request: hostPath.path of the volumes.",
          True, INDEX_ARG, "values", _VOL + ("hostPath", "path"), ()),
    Field("ka.req.volume.hostpath",
          "Deprecated; true if a volume hostPath equals the argument (prefix match if it ends with *).",
          False, REQUIRED_KEY_ARG, "hostpath_match", _VOL + ("hostPath", "path"), ()),
    Field("ka.req.pod.volumes.flexvolume_driver", "Pod request: flexVolume.driver of the volumes.",
          True, INDEX_ARG, "values", _VOL + ("flexVolume", "driver"), ()),
    # The empty last key means "the volume itself" (each volume object's keys are listed).
    Field("ka.req.pod.volumes.volume_type", "Pod request: the keys other than name of each volume.",
          True, INDEX_ARG, "volume_types", _VOL + ("",), ()),
    _plain("ka.resp.name", "Response object metadata.name.", "responseObject", "metadata", "name"),
    _plain("ka.response.code", "Response status code.", "responseStatus", "code"),
    _plain("ka.response.reason", "Response status reason.", "responseStatus", "reason"),
    _plain("ka.useragent", "Client user agent.", "userAgent"),
    _rules("ka.sourceips", "sourceIPs of the request object rules (not the event's sourceIPs).",
           "sourceIPs"),
    _plain("ka.cluster.name", "cluster_name annotation.", _ANN, "cluster_name"),
]
FIELDS += [_container(lst, sub) for lst in CONTAINER_LISTS[1:] for sub in (
    "name", "image", "image.repository", "command", "args", "privileged",
    "allow_privilege_escalation", "read_only_fs", "run_as_user", "eff_run_as_user",
    "run_as_group", "eff_run_as_group", "proc_mount", "add_capabilities",
) + (("host_port",) if lst == "initContainers" else ())]


def fields_json() -> str:
    """The plugin_get_fields document (plugin API spec section 11)."""
    out = []
    for f in FIELDS:
        entry = {"name": f.name, "type": "string"}
        if f.is_list:
            entry["isList"] = True
        if f.arg:
            entry["arg"] = dict(f.arg)
        entry["desc"] = f.desc
        out.append(entry)
    return json.dumps(out, separators=(",", ":"))


def markdown_table() -> str:
    """A README table of the fields."""
    rows = ["| field | list | argument | description |", "|---|---|---|---|"]
    for f in FIELDS:
        arg = ""
        if f.arg:
            arg = ("index" if f.arg["isIndex"] else "key") + (", required" if f.arg["isRequired"] else "")
        rows.append(f"| `{f.name}` | {'yes' if f.is_list else ''} | {arg} | {f.desc.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
