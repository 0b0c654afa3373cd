"""The plugin's init_config: one table of keys drives the JSON schema returned by
plugin_get_init_schema, the validation done in plugin_init and the README reference.

Stdlib only: the build imports this file by path to embed the schema in the shim.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    name: str
    type: type  # int, float, bool or str
    default: Any
    desc: str
    minimum: float | None = None
    maximum: float | None = None


KEYS: tuple[Key, ...] = (
    Key("maxEventSize", int, 262144,
        "Largest audit event accepted, in bytes of its JSON; larger events are dropped and counted "
        "(same default and meaning as k8saudit).", 64, 64 << 20),
    Key("batchMaxEvents", int, 128,
        "Most events handed to Falco in one plugin_next_batch call (a small batch is still "
        "in the CPU cache when Falco extracts its fields).", 1, 65536),
    Key("batchTimeoutMs", int, 30,
        "How long plugin_next_batch waits for a live stream before answering 'timeout' "
        "(keeps Falco responsive to signals and reloads).", 1, 100),
    Key("ringBytes", int, 16 << 20,
        "Capacity of each stream's buffer between the reader thread and Falco, in bytes; "
        "when full the reader waits (back-pressure) and counts a stall.", 64 << 10, 1 << 30),
    Key("pingIntervalS", float, 20.0,
        "Seconds between WebSocket keepalive pings on a quiet stream.", 1, 3600),
    Key("pingTimeoutS", float, 10.0,
        "Seconds to wait for a pong before the connection is considered dead.", 1, 3600),
    Key("connectTimeoutS", float, 10.0,
        "Seconds allowed for connect + TLS + WebSocket upgrade; plugin_open waits at most this "
        "long for the first connection.", 0.1, 300),
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
)

_BY_NAME = {k.name: k for k in KEYS}
_JSON_TYPE = {int: "integer", float: "number", bool: "boolean", str: "string"}


def schema_json() -> str:
    """The JSON Schema of init_config (spec section 9)."""
    props = {}
    for k in KEYS:
        p: dict[str, Any] = {"type": _JSON_TYPE[k.type], "default": k.default, "description": k.desc}
        if k.minimum is not None:
            p["minimum"] = k.minimum
        if k.maximum is not None:
            p["maximum"] = k.maximum
        props[k.name] = p
    return json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                       "properties": props, "additionalProperties": False}, separators=(",", ":"))


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
    if not isinstance(given, dict):
        raise ValueError("init_config must be a JSON object")
    for name, value in given.items():
        key = _BY_NAME.get(name)
        if key is None:
            raise ValueError(f"unknown init_config key '{name}' (known: {', '.join(_BY_NAME)})")
        values[name] = _check(key, value)
    if values["backoffMaxS"] < values["backoffInitialS"]:
        raise ValueError("init_config 'backoffMaxS' must not be below 'backoffInitialS'")
    if values["ringBytes"] < 2 * values["maxEventSize"] + 64:
        raise ValueError("init_config 'ringBytes' must hold at least two events of 'maxEventSize'")
    return values


def _check(key: Key, value: Any) -> Any:
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
        raise ValueError(f"init_config '{key.name}' must be {_JSON_TYPE[key.type]}, got {json.dumps(value)}")
    # "not within", so that NaN (json.loads takes it; it compares false) is refused too.
    if not ((key.minimum is None or key.minimum <= value) and (key.maximum is None or value <= key.maximum)):
        raise ValueError(f"init_config '{key.name}' must be between {key.type(key.minimum)} and {key.type(key.maximum)}, "
                         f"got {value}")
    return key.type(value)


def markdown_table() -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{k.name}` | {_JSON_TYPE[k.type]} | `{json.dumps(k.default)}` | {k.desc} |" for k in KEYS]
    return "\n".join(rows)
