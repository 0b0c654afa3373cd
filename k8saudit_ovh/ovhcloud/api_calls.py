"""Every OVHcloud API call `k8saudit-ovh setup` makes, with the IAM actions it needs.

Paths, methods and IAM actions: the OVHcloud API reference (sections /cloud and /dbaas/logs);
bodies and answers as ovh/terraform-provider-ovh sends and reads them
(resource_dbaas_logs_output_graylog_stream.go, resource_dbaas_logs_output_opensearch_alias.go,
resource_cloud_project_kube_log_subscription.go, dbaas_logs_operation.go); the OpenSearch action
of IAM-enabled LDP services as OVHcloud's LDP guide ("Exposing your logs … via the OpenSearch
API") lists it.

Stdlib only: tools/readme_tables.py imports this file by path for the README's table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Call:
    method: str
    template: str                # path with {placeholders}, as in the API reference
    actions: tuple[str, ...]     # IAM actions the call needs
    purpose: str

    def path(self, **ids: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: quote(str(ids[m.group(1)]), safe=""), self.template)


_KUBE = "/cloud/project/{serviceName}/kube"
_SUBSCRIPTION = _KUBE + "/{kubeId}/log/subscription"
_LDP = "/dbaas/logs/{serviceName}"
_STREAM = _LDP + "/output/graylog/stream"
_ALIAS = _LDP + "/output/opensearch/alias"
_KUBE_GET = ("publicCloudProject:apiovh:kube/get",)
_SUBSCRIPTION_GET = ("publicCloudProject:apiovh:kube/log/subscription/get",)
_STREAM_GET = ("ldp:apiovh:output/graylog/stream/get",)
_ALIAS_GET = ("ldp:apiovh:output/opensearch/alias/get",)

LIST_CLUSTERS = Call("GET", _KUBE, _KUBE_GET, "list the project's MKS clusters")
GET_CLUSTER = Call("GET", _KUBE + "/{kubeId}", _KUBE_GET,
                   "read a cluster's name and `status` (after subscribing: until it is `READY` again)")
LIST_SUBSCRIPTIONS = Call("GET", _SUBSCRIPTION, _SUBSCRIPTION_GET,
                          "list the cluster's log subscriptions (`?kind=audit`)")
GET_SUBSCRIPTION = Call("GET", _SUBSCRIPTION + "/{subscriptionId}", _SUBSCRIPTION_GET,
                        "read which stream a subscription feeds")
CREATE_SUBSCRIPTION = Call(
    "POST", _SUBSCRIPTION,
    ("publicCloudProject:apiovh:kube/log/subscription/create", "ldp:apiovh:output/graylog/stream/forwardTo"),
    "subscribe the cluster's audit logs to the stream (`{\"kind\": \"audit\", \"streamId\"}`)")
LIST_SERVICES = Call("GET", "/dbaas/logs", ("ldp:apiovh:get",), "list the LDP services")
GET_SERVICE = Call("GET", _LDP, ("ldp:apiovh:get",),
                   "read a service's display name, LDP username, `state` and `isIamEnabled`")
GET_OPERATION = Call("GET", _LDP + "/operation/{operationId}", ("ldp:apiovh:operation/get",),
                     "follow LDP's asynchronous operations until they end")
LIST_STREAMS = Call("GET", _STREAM, _STREAM_GET, "list the service's streams")
GET_STREAM = Call("GET", _STREAM + "/{streamId}", _STREAM_GET,
                  "read a stream (`webSocketEnabled`, `indexingEnabled` and its other settings)")
CREATE_STREAM = Call("POST", _STREAM, ("ldp:apiovh:output/graylog/stream/create",),
                     "create the stream (`{\"title\", \"description\", \"webSocketEnabled\": true, "
                     "\"indexingEnabled\": true}`)")
EDIT_STREAM = Call("PUT", _STREAM + "/{streamId}", ("ldp:apiovh:output/graylog/stream/edit",),
                   "turn WebSocket broadcasting and indexing on for an existing stream (every writable "
                   "field sent back as read, the others unchanged)")
STREAM_URLS = Call("GET", _STREAM + "/{streamId}/url", ("ldp:apiovh:output/graylog/stream/url/get",),
                   "read the stream's WebSocket tail address (type `WEB_SOCKET`)")
LIST_ALIASES = Call("GET", _ALIAS, _ALIAS_GET, "list the service's OpenSearch aliases")
GET_ALIAS = Call("GET", _ALIAS + "/{aliasId}", _ALIAS_GET, "read an alias's name and description")
CREATE_ALIAS = Call("POST", _ALIAS, ("ldp:apiovh:output/opensearch/alias/create",),
                    "create the alias (`{\"description\", \"suffix\"}`)")
LIST_ALIAS_STREAMS = Call("GET", _ALIAS + "/{aliasId}/stream", ("ldp:apiovh:output/opensearch/alias/stream/get",),
                          "list the streams attached to the alias")
ATTACH_ALIAS_STREAM = Call("POST", _ALIAS + "/{aliasId}/stream",
                           ("ldp:apiovh:output/opensearch/alias/stream/attach",),
                           "attach the stream to the alias (`{\"streamId\"}`)")
ALIAS_URLS = Call("GET", _ALIAS + "/{aliasId}/url", ("ldp:apiovh:output/opensearch/alias/url/get",),
                  "read the alias's OpenSearch API address (type `OPENSEARCH_API`, or `ELASTICSEARCH_API`)")

# Not an OVHcloud API call: what the IAM identity of the history credential needs, on the
# alias only, to read it through LDP's OpenSearch API (IAM-enabled services).
HISTORY_READ_ACTION = "ldp:opensearch:alias/read"

CALLS: tuple[Call, ...] = (
    LIST_CLUSTERS, GET_CLUSTER, LIST_SUBSCRIPTIONS, GET_SUBSCRIPTION, CREATE_SUBSCRIPTION,
    LIST_SERVICES, GET_SERVICE, GET_OPERATION, LIST_STREAMS, GET_STREAM, CREATE_STREAM, EDIT_STREAM,
    STREAM_URLS, LIST_ALIASES, GET_ALIAS, CREATE_ALIAS, LIST_ALIAS_STREAMS, ATTACH_ALIAS_STREAM, ALIAS_URLS,
)


def markdown_table() -> str:
    rows = ["| call | IAM actions | what for |", "|---|---|---|"]
    for call in CALLS:
        actions = ", ".join(f"`{a}`" for a in call.actions)
        rows.append(f"| `{call.method} {call.template}` | {actions} | {call.purpose} |")
    rows.append(f"| `POST https://<ldp-cluster>.logs.ovh.com:9200/<alias>/_search` (OpenSearch API) | "
                f"`{HISTORY_READ_ACTION}` | the history's IAM identity (IAM-enabled LDP services), on the alias; "
                "also `setup --check` |")
    return "\n".join(rows)
