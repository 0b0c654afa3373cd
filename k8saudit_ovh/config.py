"""The plugin's init_config: one table of keys drives the JSON schema returned by
plugin_get_init_schema, the validation done in plugin_init and the README reference.

Stdlib only: the build imports this file by path to embed the schema in the shim.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    name: str
    type: type  # int, float, bool, str, or dict: an object of the keys in `fields`
    default: Any
    desc: str
    minimum: float | None = None
    maximum: float | None = None
    fields: tuple["Key", ...] = ()
    required: tuple[str, ...] = ()
    rule: Callable[[str, dict], None] | None = None  # checks an object's keys together; raises ValueError


# OAuth2 token endpoints of the OVHcloud regions (by python-ovh's endpoint name), for IAM
# service accounts: the tokenUrl default, and what `setup` writes.
TOKEN_URLS = {"ovh-eu": "https://www.ovh.com/auth/oauth2/token", "ovh-ca": "https://ca.ovh.com/auth/oauth2/token",
              "ovh-us": "https://us.ovhcloud.com/auth/oauth2/token"}
# The ways a history endpoint authenticates: at most one is given.
HISTORY_AUTH = (("user", "password"), ("token",), ("clientId", "clientSecret"))


# One history endpoint (k8saudit_ovh/sources/history/): the OpenSearch API of the LDP
# alias attached to a stream.
HISTORY_KEYS: tuple[Key, ...] = (
    Key("url", str, "", "OpenSearch URL of the stream's alias: https://<cluster>.logs.ovh.com:9200/<alias> "
        "(http:// only on loopback)."),
    Key("user", str, "", "LDP user name, for HTTP basic auth (LDP credentials). An IAM-enabled LDP service takes "
        "`pat_jwt_<anything>` here with an IAM token as password. Authenticate one way only: `user`/`password`, "
        "`token`, or `clientId`/`clientSecret`."),
    Key("password", str, "", "Its password (or the IAM token); write ${VAR} to keep it in a Secret. Never logged."),
    Key("token", str, "", "IAM token (a personal access token, or any token of an identity allowed to read the "
        "LDP service), sent as a Bearer token to an IAM-enabled LDP service; write ${VAR} to keep it in a Secret. "
        "Never logged nor renewed: once it expires history answers 401 (a service account renews its own)."),
    Key("clientId", str, "", "IAM service account (OAuth2 client credentials) for an IAM-enabled LDP service: its "
        "client ID. Its token is fetched from `tokenUrl`, renewed before it expires and once when history answers "
        "401."),
    Key("clientSecret", str, "", "The service account's client secret; write ${VAR} to keep it in a Secret. "
        "Never logged."),
    Key("tokenUrl", str, TOKEN_URLS["ovh-eu"], "OAuth2 token endpoint of the service account's region "
        f"(Europe; Canada: {TOKEN_URLS['ovh-ca']}, US: {TOKEN_URLS['ovh-us']})."),
    Key("overlapS", float, 10.0, "Seconds read again before the last delivered event and after the first live "
        "event of a gap; covers the lag between an event's time and its stored time.", 0, 3600),
    Key("maxGapS", float, 86400.0, "Oldest gap filled, in seconds; an older start is cut to this and the "
        "rest reported as not filled.", 1, 30 * 86400),
    Key("fillWaitS", float, 30.0, "Longest a gap-fill waits for history to reach the first live event (history "
        "lags the tail); what it has not reached by then is reported as not filled.", 0, 3600),
    Key("holdBackS", float, 10.0, "Longest live delivery waits at a gap for its fill, so that the gap comes in "
        "time order; after that (at once while history lags or fails) live goes on and the rest of the fill is "
        "delivered as it comes, late.", 0, 3600),
    Key("timeField", str, "timestamp", "Time field of the stored documents (epoch seconds or milliseconds, "
        "or a date string)."),
    Key("shortMessageField", str, "short_message", "Field holding the audit event (GELF short_message)."),
    Key("messageField", str, "message", "Field holding it in the Graylog layout, read when the first is absent."),
    Key("pageSize", int, 1000, "Documents per _search request.", 1, 10000),
    Key("timeoutS", float, 10.0, "Seconds allowed for one _search (or token) request as a whole: connect, TLS, "
        "headers and body; a server still sending after that is abandoned and the request retried.", 0.1, 300),
    Key("maxRetries", int, 5, "Retries of a request answered 429 or 5xx, or not answered, with backoff.", 0, 100),
)


def _one_way_to_authenticate(where: str, values: dict[str, Any]) -> None:
    """A history endpoint's credentials: none or one way of HISTORY_AUTH, and a service
    account with both its keys. Names the keys, never their values."""
    given = [names for names in HISTORY_AUTH if any(values[n] for n in names)]
    if len(given) > 1:
        named = " and ".join("/".join(f"'{n}'" for n in names if values[n]) for names in given)
        raise ValueError(f"init_config '{where}' gives {named}: authenticate one way only, with 'user'/'password', "
                         "'token', or 'clientId'/'clientSecret'")
    if bool(values["clientId"]) != bool(values["clientSecret"]):
        missing = "clientSecret" if values["clientId"] else "clientId"
        raise ValueError(f"init_config '{where}' needs '{missing}' too: a service account is 'clientId' and "
                         "'clientSecret' together")


KEYS: tuple[Key, ...] = (
    Key("maxEventSize", int, 262144,
        "Largest audit event accepted, in bytes of its JSON; larger events are dropped and counted "
        "(same default and meaning as k8saudit).", 64, 64 << 20),
    Key("batchMaxEvents", int, 128,
        "Most events handed to Falco in one plugin_next_batch call (a small batch is still "
        "in the CPU cache when Falco extracts its fields).", 1, 65536),
    Key("batchTimeoutMs", int, 30,
        "How long plugin_next_batch waits for a live stream, or at most works through a file:// "
        "replay, before answering 'timeout' (keeps Falco responsive to signals and reloads).", 1, 100),
    Key("ringBytes", int, 16 << 20,
        "Capacity of each stream's buffer between the reader thread and Falco, in bytes; "
        "when full the reader waits (back-pressure) and counts a stall.", 64 << 10, 1 << 30),
    Key("pingIntervalS", float, 20.0,
        "Seconds between WebSocket keepalive pings on a quiet stream.", 1, 3600),
    Key("pingTimeoutS", float, 10.0,
        "Seconds after a keepalive ping within which a complete frame (its pong or any other) must "
        "arrive; otherwise the connection is dead and is reopened, even if bytes still trickle in.", 1, 3600),
    Key("connectTimeoutS", float, 10.0,
        "Seconds allowed for connect + TLS + WebSocket upgrade, as a whole; plugin_open waits at most "
        "this long for the first connection.", 0.1, 300),
    Key("backoffInitialS", float, 0.5,
        "First reconnect delay in seconds; doubles after each failure, with jitter.", 0.01, 600),
    Key("backoffMaxS", float, 30.0,
        "Largest reconnect delay in seconds.", 0.01, 3600),
    Key("maxRetries", int, 0,
        "Consecutive failed reconnects before the source fails; 0 keeps retrying forever.", 0, 1 << 30),
    Key("verifyTLS", bool, True,
        "Verify the LDP server's TLS certificate and host name.",),
    Key("caFile", str, "",
        "PEM file of CA certificates to trust instead of the system store.",),
    Key("proxy", str, "",
        "HTTP(S) proxy for the WebSocket connection, as http://host:port.",),
    Key("stateDir", str, "",
        "Directory where each stream with history checkpoints the last event Falco received, so that a "
        "restart fills from there (at most the last batch comes again); on a volume that outlives the pod.",),
    Key("history", dict, None,
        "LDP history (OpenSearch API of the stream's alias) used to fill every gap: an object of the "
        "`history.*` keys below, or a map from stream name to such an object.",
        fields=HISTORY_KEYS, required=("url",), rule=_one_way_to_authenticate),
)

_BY_NAME = {k.name: k for k in KEYS}
DEFAULTS = {k.name: k.default for k in KEYS + HISTORY_KEYS}  # top-level and history keys
_JSON_TYPE = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "object"}


def schema_json() -> str:
    """The JSON Schema of init_config (spec section 9). `null` is accepted and means all
    defaults: Falco passes an empty YAML mapping (`init_config: {}`) as JSON `null`."""
    return json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": ["object", "null"],
                       "properties": _properties(KEYS), "additionalProperties": False}, separators=(",", ":"))


def _properties(keys: tuple[Key, ...]) -> dict[str, Any]:
    props = {}
    for k in keys:
        p: dict[str, Any] = {"description": k.desc, "default": k.default}
        if k.type is dict:
            one = {"type": "object", "properties": _properties(k.fields), "required": list(k.required),
                   "additionalProperties": False}
            # One object, or a map from stream name to one (a name is never one of its keys).
            p["anyOf"] = [one, {"type": "object", "additionalProperties": one}]
        else:
            p["type"] = _JSON_TYPE[k.type]
        if k.minimum is not None:
            p["minimum"] = k.minimum
        if k.maximum is not None:
            p["maximum"] = k.maximum
        props[k.name] = p
    return props


def parse(text: str) -> dict[str, Any]:
    """Validates init_config and returns every key with its value or default.

    Raises ValueError with a message naming the offending key."""
    values = {k.name: k.default for k in KEYS}
    if text.strip() == "":
        return values
    try:
        given = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"init_config is not valid JSON: {e}") from None
    if given is None:  # what Falco passes for `init_config: {}`
        return values
    if not isinstance(given, dict):
        raise ValueError("init_config must be a JSON object")
    for name, value in given.items():
        key = _BY_NAME.get(name)
        if key is None:
            raise ValueError(f"unknown init_config key '{name}' (known: {', '.join(_BY_NAME)})")
        values[name] = _check_object(key, value) if key.type is dict else _check(key, value)
    if values["backoffMaxS"] < values["backoffInitialS"]:
        raise ValueError("init_config 'backoffMaxS' must not be below 'backoffInitialS'")
    if values["ringBytes"] < 2 * values["maxEventSize"] + 64:
        raise ValueError("init_config 'ringBytes' must hold at least two events of 'maxEventSize'")
    return values


def _check_object(key: Key, value: Any) -> dict[str | None, dict[str, Any]]:
    """One object (stored under the name None: every stream) or a map from stream name to
    one; each returned with all its keys."""
    if not isinstance(value, dict):
        raise ValueError(f"init_config '{key.name}' must be an object")
    names = {f.name for f in key.fields}
    if set(value) & names or not value:
        return {None: _check_fields(key, key.name, value)}
    return {name: _check_fields(key, f"{key.name}.{name}", one) for name, one in value.items()}


def _check_fields(key: Key, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"init_config '{where}' must be an object")
    by_name = {f.name: f for f in key.fields}
    values = {f.name: f.default for f in key.fields}
    for name, item in value.items():
        field = by_name.get(name)
        if field is None:
            raise ValueError(f"unknown init_config key '{where}.{name}' (known: {', '.join(by_name)})")
        values[name] = _check(field, item, f"{where}.{name}")
    for name in key.required:
        if not values[name]:
            raise ValueError(f"init_config '{where}' needs '{name}'")
    if key.rule is not None:
        key.rule(where, values)
    return values


def _check(key: Key, value: Any, where: str | None = None) -> Any:
    where = where or key.name
    # bool is an int in Python; JSON true must not pass as a number, nor 1 as a bool.
    if key.type is bool:
        ok = isinstance(value, bool)
    elif key.type is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif key.type is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"init_config '{where}' must be {_JSON_TYPE[key.type]}, got {json.dumps(value)}")
    # Python's json reads NaN and Infinity; a NaN timeout or backoff would pass every range.
    if key.type is float and not math.isfinite(value):
        raise ValueError(f"init_config '{where}' must be a finite number, got {value}")
    if key.minimum is not None and value < key.minimum or key.maximum is not None and value > key.maximum:
        raise ValueError(f"init_config '{where}' must be between {key.type(key.minimum)} and {key.type(key.maximum)}, "
                         f"got {value}")
    return key.type(value)


def max_frame_bytes(max_event_size: int) -> int:
    """Largest LDP frame that can hold an event of max_event_size: the event is a JSON
    string (short_message) inside a JSON string (message), so each of its bytes takes at
    most 7 in the frame (a control character: \\u0001), plus the envelope and GELF fields."""
    return 7 * max_event_size + (64 << 10)


def markdown_table() -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for k in KEYS:
        rows.append(f"| `{k.name}` | {_JSON_TYPE[k.type]} | `{json.dumps(k.default)}` | {k.desc} |")
        rows += [f"| `{k.name}.{f.name}` | {_JSON_TYPE[f.type]} | `{json.dumps(f.default)}` | {f.desc} |"
                 for f in k.fields]
    return "\n".join(rows)
