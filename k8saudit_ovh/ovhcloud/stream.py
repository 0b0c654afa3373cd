"""The LDP stream the cluster's audit logs feed: WebSocket broadcasting on (the live tail)
and indexing on (the alias, and so the history, serves only what the stream indexes)."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ..redaction import register_secret
from . import api_calls as calls
from .api import PLANNED
from .choose import Choice, choose, confirm, listing, matching
from .errors import SetupError
from .run import Run

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# What setup needs on, in the words of its messages.
NEEDED = {"webSocketEnabled": "WebSocket broadcasting", "indexingEnabled": "indexing"}
# The body of PUT .../stream/{streamId} (dbaas.logs.OutputGraylogStreamUpdate, as
# terraform-provider-ovh sends it): every field is sent back as read, since one left out may
# be reset (retentionId and parentStreamId are fixed at creation).
WRITABLE = ("title", "description", "webSocketEnabled", "indexingEnabled", "indexingMaxSize", "indexingNotifyEnabled",
            "pauseIndexingOnMaxSize", "coldStorageEnabled", "coldStorageCompression", "coldStorageContent",
            "coldStorageNotifyEnabled", "coldStorageRetention", "coldStorageTarget", "encryptionKeysIds")


def default_title(cluster_name: str) -> str:
    return f"mks-audit-{cluster_name}"


def find_stream(run: Run, service: str, wanted: str | None, subscribed: list[dict],
                default: str) -> tuple[str, dict] | None:
    """The stream `wanted` names, else the one the cluster's audit logs already feed, else the
    one titled `default`; None when none exists."""
    streams = {sid: run.api.get(calls.GET_STREAM, serviceName=service, streamId=sid)
               for sid in run.api.get(calls.LIST_STREAMS, serviceName=service)}
    choices = [(sid, s.get("title") or sid) for sid, s in streams.items()]
    if wanted:
        found = matching(wanted, choices)
        if not found and _UUID.fullmatch(wanted):
            raise SetupError(f"unknown stream '{wanted}' in LDP service {service}; there: {listing(choices)}")
    else:
        feeds = {s.get("streamId") for s in subscribed}
        found = [c for c in choices if c[0] in feeds] or matching(default, choices)
    if not found:
        return None
    sid, _ = choose("stream", "--stream", wanted, found, f"LDP service {service}") if len(found) > 1 else found[0]
    return sid, streams[sid]


def ensure_stream(run: Run, service: str, wanted: str | None, subscribed: list[dict],
                  cluster: Choice) -> tuple[str, str]:
    """(streamId, title) of a stream with WebSocket broadcasting and indexing on: created when
    missing; an existing one changed in these two settings only (asked first for indexing)."""
    title = wanted or default_title(cluster[1])
    found = find_stream(run, service, wanted, subscribed, title)
    if found is None:
        return _create(run, service, title, cluster)
    sid, stream = found
    title = stream.get("title") or sid
    off = [key for key in NEEDED if stream.get(key) is not True]
    if not off:
        return sid, title
    change = (f"stream {title} ({sid}) would change: "
              + ", ".join(f"{NEEDED[key]} off -> on" for key in off))
    if "indexingEnabled" in off:
        change += " (the history reads what the stream indexes; LDP bills indexed data)"
        if run.api.dry_run:
            run.api.say(f"  {change}: setup asks first (--yes: without asking)")
        else:
            confirm(change, run.assume_yes)
    stream = run.api.get(calls.GET_STREAM, serviceName=service, streamId=sid)  # as it is now, after asking
    body = {key: stream[key] for key in WRITABLE if stream.get(key) is not None}
    body.update({key: True for key in NEEDED})
    answer = run.api.write(calls.EDIT_STREAM, body, serviceName=service, streamId=sid)
    run.operation(answer, service, f"turning {' and '.join(NEEDED[key] for key in off)} on for stream {title}")
    if answer is not None:
        run.created.append(f"{' and '.join(NEEDED[key] for key in off)} turned on for stream {title} ({sid})")
    return sid, title


def _create(run: Run, service: str, title: str, cluster: Choice) -> tuple[str, str]:
    description = f"Audit logs of MKS cluster {cluster[1]} ({cluster[0]}), read by Falco (k8saudit-ovh)"
    body = {"title": title, "description": description, "webSocketEnabled": True, "indexingEnabled": True}
    answer = run.api.write(calls.CREATE_STREAM, body, serviceName=service)
    done = run.operation(answer, service, f"creating stream {title}")
    if answer is None:
        return PLANNED, title
    sid = done.get("streamId")
    if not sid:
        raise SetupError(f"creating stream {title}: the LDP operation ended without a streamId")
    run.created.append(f"stream {title} ({sid}) in LDP service {service}")
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
