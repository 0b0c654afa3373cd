"""The OpenSearch alias the history reads: attached to the stream, named
`<prefix>-a-<suffix>` by LDP (prefix: the service name on IAM-enabled services, else the LDP
username), and its OpenSearch API address."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from . import api_calls as calls
from .api import PLANNED
from .choose import Choice, choose
from .errors import SetupError
from .run import Run
from .service import Service

SEARCH_URL_TYPES = ("OPENSEARCH_API", "ELASTICSEARCH_API")  # the second in older answers
OPENSEARCH_PORT = 9200  # LDP's OpenSearch API port, when the address names none
SUFFIX = re.compile(r"[a-z0-9_-]+")  # LDP's rule for alias suffixes (as the Control Panel checks it)


def check_name(name: str) -> str:
    """`--alias` as given, when LDP could take it; ValueError otherwise."""
    if not SUFFIX.fullmatch(name):
        raise ValueError(f"--alias {name!r}: an LDP alias suffix has lowercase letters, digits, '-' and '_' only")
    return name


def default_suffix(cluster_name: str) -> str:
    return "k8saudit-" + re.sub(r"[^a-z0-9]+", "-", cluster_name.lower()).strip("-")


def ensure_alias(run: Run, service: Service, wanted: str | None, stream_id: str, cluster: Choice,
                 create: bool = True) -> tuple[str, str] | None:
    """(aliasId, name) of an alias with the stream attached, created or attached when missing
    (with create=False: None when missing or not attached). `wanted`: a name, suffix or id."""
    head = f"{service.alias_prefix}-a-"
    suffix = wanted.removeprefix(head) if wanted else default_suffix(cluster[1])
    description = f"History of MKS cluster {cluster[1]} ({cluster[0]}) for Falco (k8saudit-ovh)"
    aliases = {aid: run.api.get(calls.GET_ALIAS, serviceName=service.name, aliasId=aid)
               for aid in run.api.get(calls.LIST_ALIASES, serviceName=service.name)}
    found = [(aid, a.get("name") or aid) for aid, a in aliases.items()
             if a.get("name") in (head + suffix, wanted) or aid == wanted
             or (not wanted and a.get("description") == description)]
    if len(found) > 1:
        found = [choose("OpenSearch alias", "--alias", None, found, f"LDP service {service.name}")]
    if found:
        alias_id, name = found[0]
    elif not create:
        return None
    else:
        alias_id, name = _create(run, service, suffix, description)
    attached = run.api.get(calls.LIST_ALIAS_STREAMS, serviceName=service.name, aliasId=alias_id)
    if attached is not None and stream_id in attached:
        return alias_id, name
    if not create:
        return None
    answer = run.api.write(calls.ATTACH_ALIAS_STREAM, {"streamId": stream_id}, serviceName=service.name,
                           aliasId=alias_id)
    run.operation(answer, service.name, f"attaching the stream to alias {name}")
    if answer is not None:
        run.created.append(f"stream {stream_id} attached to alias {name}")
    return alias_id, name


def _create(run: Run, service: Service, suffix: str, description: str) -> tuple[str, str]:
    answer = run.api.write(calls.CREATE_ALIAS, {"description": description, "suffix": suffix}, serviceName=service.name)
    done = run.operation(answer, service.name, f"creating OpenSearch alias {suffix}")
    if answer is None:
        return PLANNED, f"{service.alias_prefix}-a-{suffix}"
    alias_id = done.get("aliasId")
    if not alias_id:
        raise SetupError(f"creating alias {suffix}: the LDP operation ended without an aliasId")
    name = run.api.get(calls.GET_ALIAS, serviceName=service.name, aliasId=alias_id).get("name") or suffix
    run.created.append(f"OpenSearch alias {name} ({alias_id}) in LDP service {service.name}")
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
    parts = urlsplit(address if "://" in address else "https://" + address)
    if parts.port is None:
        parts = parts._replace(netloc=f"{parts.netloc}:{OPENSEARCH_PORT}")
    base = urlunsplit(parts).rstrip("/")
    # The API address may be the cluster's host alone: queries then name the alias.
    return base if parts.path.strip("/") else f"{base}/{alias[1]}"
