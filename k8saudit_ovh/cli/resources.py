"""Finding, or creating, each OVHcloud object of the setup: the MKS cluster, the LDP service,
the stream (WebSocket broadcasting on), the cluster's audit subscription, the OpenSearch alias
attached to the stream; and reading the tail and history addresses from them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from ..redaction import register_secret
from . import api_calls as calls
from .choose import Choice, choose, listing, matching
from .errors import SetupError
from .operations import Progress, wait
from .ovh_api import PLANNED, Api, ApiError

AUDIT = "audit"
SEARCH_URL_TYPES = ("OPENSEARCH_API", "ELASTICSEARCH_API")  # the second in older answers
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@dataclass
class Run:
    api: Api
    operation_timeout: float
    progress: Progress = field(default_factory=Progress)
    created: list[str] = field(default_factory=list)  # what this run created or changed, in order

    def operation(self, answer: dict | None, service: str, what: str) -> dict:
        """Waits for the operation a write answered; {} in a dry run (nothing was sent)."""
        if answer is None:
            return {}
        return wait(self.api, answer.get("serviceName") or service, answer["operationId"], what,
                    self.operation_timeout, self.progress)


def _not_found(exc: ApiError, text: str) -> SetupError:
    return SetupError(f"{text} ({exc})") if exc.status == 404 else exc


# ---- MKS cluster and its subscriptions ----------------------------------------------------

def find_cluster(run: Run, project: str, wanted: str) -> Choice:
    try:
        ids = run.api.get(calls.LIST_CLUSTERS, serviceName=project)
    except ApiError as exc:
        raise _not_found(exc, f"unknown Public Cloud project '{project}'") from None
    choices = [(kube_id, run.api.get(calls.GET_CLUSTER, serviceName=project, kubeId=kube_id).get("name") or kube_id)
               for kube_id in ids]
    return choose("MKS cluster", "--cluster", wanted, choices, f"project {project}")


def audit_subscriptions(run: Run, project: str, kube_id: str) -> list[dict]:
    ids = run.api.get(calls.LIST_SUBSCRIPTIONS, {"kind": AUDIT}, serviceName=project, kubeId=kube_id)
    found = [run.api.get(calls.GET_SUBSCRIPTION, serviceName=project, kubeId=kube_id, subscriptionId=sid)
             for sid in ids]
    return [s for s in found if s.get("kind") == AUDIT]


def subscribe(run: Run, project: str, kube: Choice, service: str, stream_id: str, existing: list[dict]) -> None:
    if any(s.get("streamId") == stream_id for s in existing):
        return
    body = {"kind": AUDIT, "streamId": stream_id}
    try:
        answer = run.api.write(calls.CREATE_SUBSCRIPTION, body, serviceName=project, kubeId=kube[0])
    except ApiError as exc:
        # 409: subscribed meanwhile (another run); anything else is an error
        if exc.status != 409 or not any(s.get("streamId") == stream_id
                                        for s in audit_subscriptions(run, project, kube[0])):
            raise
        return
    run.operation(answer, service, f"subscribing the audit logs of {kube[1]}")
    if answer is not None:
        run.created.append(f"audit log subscription of cluster {kube[1]} to stream {stream_id}")


# ---- LDP service ----------------------------------------------------------------------------

def find_service(run: Run, wanted: str | None) -> tuple[str, str]:
    """(serviceName, LDP username) of the service named by id or display name."""
    services = {}
    for name in run.api.get(calls.LIST_SERVICES):
        services[name] = run.api.get(calls.GET_SERVICE, serviceName=name)
    choices = [(name, s.get("displayName") or name) for name, s in services.items()]
    name, _ = choose("LDP service", "--ldp", wanted, choices, "this account")
    return name, services[name].get("username", "")


# ---- stream -------------------------------------------------------------------------------

def default_stream_title(cluster_name: str) -> str:
    return f"mks-audit-{cluster_name}"


def find_stream(run: Run, service: str, wanted: str | None, subscribed: list[dict],
                default_title: str) -> tuple[str, dict] | None:
    """The stream `wanted` names, else the one the cluster's audit logs already feed, else the
    one titled `default_title`; None when none exists."""
    streams = {sid: run.api.get(calls.GET_STREAM, serviceName=service, streamId=sid)
               for sid in run.api.get(calls.LIST_STREAMS, serviceName=service)}
    choices = [(sid, s.get("title") or sid) for sid, s in streams.items()]
    if wanted:
        found = matching(wanted, choices)
        if not found and _UUID.fullmatch(wanted):
            raise SetupError(f"unknown stream '{wanted}' in LDP service {service}; there: {listing(choices)}")
    else:
        feeds = {s.get("streamId") for s in subscribed}
        found = [c for c in choices if c[0] in feeds] or matching(default_title, choices)
    if not found:
        return None
    sid, _ = choose("stream", "--stream", wanted, found, f"LDP service {service}") if len(found) > 1 else found[0]
    return sid, streams[sid]


def ensure_stream(run: Run, service: str, wanted: str | None, subscribed: list[dict],
                  cluster: Choice) -> tuple[str, str]:
    """(streamId, title) of a stream with WebSocket broadcasting on, created when missing."""
    title = wanted or default_stream_title(cluster[1])
    description = f"Audit logs of MKS cluster {cluster[1]} ({cluster[0]}), read by Falco (k8saudit-ovh)"
    found = find_stream(run, service, wanted, subscribed, title)
    if found is None:
        body = {"title": title, "description": description, "webSocketEnabled": True}
        answer = run.api.write(calls.CREATE_STREAM, body, serviceName=service)
        done = run.operation(answer, service, f"creating stream {title}")
        if answer is None:
            return PLANNED, title
        sid = done.get("streamId")
        if not sid:
            raise SetupError(f"creating stream {title}: the LDP operation ended without a streamId")
        run.created.append(f"stream {title} ({sid}) in LDP service {service}")
        return sid, title
    sid, stream = found
    title = stream.get("title") or sid
    if not stream.get("webSocketEnabled"):
        body = {"title": title, "description": stream.get("description") or description, "webSocketEnabled": True}
        answer = run.api.write(calls.EDIT_STREAM, body, serviceName=service, streamId=sid)
        run.operation(answer, service, f"turning WebSocket broadcasting on for stream {title}")
        if answer is not None:
            run.created.append(f"WebSocket broadcasting turned on for stream {title} ({sid})")
    return sid, title


def tail_url(run: Run, service: str, stream_id: str) -> str | None:
    """The stream's WebSocket address (its token registered as a secret); None in a dry run."""
    urls = run.api.get(calls.STREAM_URLS, serviceName=service, streamId=stream_id)
    if urls is None:
        return None
    address = next((u.get("address") for u in urls if u.get("type") == "WEB_SOCKET"), None)
    if not address:
        raise SetupError(f"stream {stream_id} has no WEB_SOCKET address (types: "
                         f"{', '.join(str(u.get('type')) for u in urls) or 'none'}): is WebSocket broadcasting on?")
    register_secret(address)
    for token in parse_qs(urlsplit(address).query).get("tk", []):
        register_secret(token)
    return address


# ---- OpenSearch alias (history) ----------------------------------------------------------

def alias_suffix(cluster_name: str) -> str:
    return "k8saudit-" + re.sub(r"[^a-z0-9]+", "-", cluster_name.lower()).strip("-")


def ensure_alias(run: Run, service: str, wanted: str | None, stream_id: str, cluster: Choice,
                 create: bool = True) -> tuple[str, str] | None:
    """(aliasId, name) of an alias with the stream attached, created or attached when missing
    (with create=False: None when missing or not attached)."""
    suffix = wanted or alias_suffix(cluster[1])
    description = f"History of MKS cluster {cluster[1]} ({cluster[0]}) for Falco (k8saudit-ovh)"
    aliases = {aid: run.api.get(calls.GET_ALIAS, serviceName=service, aliasId=aid)
               for aid in run.api.get(calls.LIST_ALIASES, serviceName=service)}
    # LDP names an alias <username>-a-<suffix>: match the name, the suffix or our description.
    found = [(aid, a.get("name") or aid) for aid, a in aliases.items()
             if a.get("name") == suffix or str(a.get("name", "")).endswith(f"-a-{suffix}")
             or (not wanted and a.get("description") == description) or aid == suffix]
    if len(found) > 1:
        found = [choose("OpenSearch alias", "--alias", None, found, f"LDP service {service}")]
    if found:
        alias_id, name = found[0]
    elif not create:
        return None
    else:
        answer = run.api.write(calls.CREATE_ALIAS, {"description": description, "suffix": suffix},
                               serviceName=service)
        done = run.operation(answer, service, f"creating OpenSearch alias {suffix}")
        if answer is None:
            alias_id, name = PLANNED, suffix
        else:
            alias_id = done.get("aliasId")
            if not alias_id:
                raise SetupError(f"creating alias {suffix}: the LDP operation ended without an aliasId")
            name = run.api.get(calls.GET_ALIAS, serviceName=service, aliasId=alias_id).get("name") or suffix
            run.created.append(f"OpenSearch alias {name} ({alias_id}) in LDP service {service}")
    attached = run.api.get(calls.LIST_ALIAS_STREAMS, serviceName=service, aliasId=alias_id)
    if attached is not None and stream_id in attached:
        return alias_id, name
    if not create:
        return None
    answer = run.api.write(calls.ATTACH_ALIAS_STREAM, {"streamId": stream_id}, serviceName=service, aliasId=alias_id)
    run.operation(answer, service, f"attaching the stream to alias {name}")
    if answer is not None:
        run.created.append(f"stream {stream_id} attached to alias {name}")
    return alias_id, name


def search_url(run: Run, service: str, alias: tuple[str, str]) -> str | None:
    """The alias's history base URL (`<base>/_search` answers queries); None in a dry run."""
    urls = run.api.get(calls.ALIAS_URLS, serviceName=service, aliasId=alias[0])
    if urls is None:
        return None
    by_type = {u.get("type"): u.get("address") for u in urls}
    address = next((by_type[t] for t in SEARCH_URL_TYPES if by_type.get(t)), None)
    if not address:
        raise SetupError(f"alias {alias[1]} has no {' or '.join(SEARCH_URL_TYPES)} address "
                         f"(types: {', '.join(map(str, by_type)) or 'none'})")
    if "://" not in address:
        address = "https://" + address
    # The API address may be the cluster's host alone: queries then name the alias.
    return address.rstrip("/") if urlsplit(address).path.strip("/") else f"{address.rstrip('/')}/{alias[1]}"
