"""A small Falco-like plugin host in ctypes, for the `k8saudit-ovh` command.

It drives libk8saudit-ovh.so through the same ABI as Falco (API 3.0.0 struct sizes, see
shared/docs/falco-plugin-api.md): init, open, next_batch, one extract call per field, metrics.
`ctypes.CDLL` releases the GIL during every call, which the plugin needs: its reader threads
run Python. Loaded into this process, the plugin uses the running interpreter (no second one).
"""
from __future__ import annotations

import ctypes
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ..paths import plugin_path

__all__ = ["FieldInfo", "Event", "Plugin", "PluginError", "Stream"]

SUCCESS, FAILURE, TIMEOUT, EOF = 0, 1, -1, 2
PAYLOAD_OFFSET = 38  # plugin event: 26-byte header, two 4-byte lengths, the plugin ID
_LEN_OFFSET = 16

# Type codes of ss_plugin_extract_field.ftype (spec section 10), by fields JSON type.
_FTYPE = {"uint64": 8, "string": 9, "reltime": 20, "abstime": 21, "bool": 25}


class PluginError(RuntimeError):
    """A plugin call failed; the message is the plugin's own last error."""


class _InitInput(ctypes.Structure):
    _fields_ = [("config", ctypes.c_char_p), ("owner", ctypes.c_void_p),
                ("get_owner_last_error", ctypes.c_void_p), ("tables", ctypes.c_void_p)]


class _EventInput(ctypes.Structure):
    _fields_ = [("evt", ctypes.c_void_p), ("evtnum", ctypes.c_uint64), ("evtsrc", ctypes.c_char_p)]


class _ExtractField(ctypes.Structure):
    _fields_ = [("res", ctypes.c_void_p), ("res_len", ctypes.c_uint64), ("field_id", ctypes.c_uint32),
                ("field", ctypes.c_char_p), ("arg_key", ctypes.c_char_p), ("arg_index", ctypes.c_uint64),
                ("arg_present", ctypes.c_uint32), ("ftype", ctypes.c_uint32), ("flist", ctypes.c_uint32)]


class _ExtractInput(ctypes.Structure):
    _fields_ = [("owner", ctypes.c_void_p), ("get_owner_last_error", ctypes.c_void_p),
                ("num_fields", ctypes.c_uint32), ("fields", ctypes.POINTER(_ExtractField)),
                ("table_reader", ctypes.c_void_p * 4)]


class _MetricValue(ctypes.Union):
    _fields_ = [("u32", ctypes.c_uint32), ("s32", ctypes.c_int32), ("u64", ctypes.c_uint64),
                ("s64", ctypes.c_int64), ("d", ctypes.c_double)]


class _Metric(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_uint32), ("value", _MetricValue),
                ("value_type", ctypes.c_uint32)]


# The 3.0.0 layouts of the spec's section 14; a wrong one would corrupt the plugin's memory.
for _struct, _size in ((_InitInput, 32), (_EventInput, 24), (_ExtractField, 64), (_ExtractInput, 64),
                       (_Metric, 32)):
    assert ctypes.sizeof(_struct) == _size, (_struct.__name__, ctypes.sizeof(_struct))

_METRIC_VALUE = ("u32", "s32", "u64", "s64", "d")


@dataclass(frozen=True)
class FieldInfo:
    id: int
    name: str
    type: str
    is_list: bool
    is_index: bool
    is_key: bool
    desc: str


@dataclass(frozen=True)
class Event:
    """One event of a batch, copied out of the plugin's arena so it outlives the batch."""
    num: int  # host-assigned event number, from 1
    ts: int  # ns since the epoch
    buffer: ctypes.Array  # the whole plugin event, 8-byte aligned

    @property
    def data(self) -> bytes:
        """The payload: one audit event's JSON."""
        return bytes(self.buffer)[PAYLOAD_OFFSET:_event_len(self.buffer)]


def _event_len(buffer) -> int:
    return int.from_bytes(bytes(buffer)[_LEN_OFFSET:_LEN_OFFSET + 4], "little")


def _copy_event(ptr: int) -> ctypes.Array:
    length = int.from_bytes(ctypes.string_at(ptr + _LEN_OFFSET, 4), "little")
    buffer = (ctypes.c_uint64 * ((length + 7) // 8))()
    ctypes.memmove(buffer, ptr, length)
    return buffer


def _declare(lib: ctypes.CDLL) -> None:
    c = ctypes
    sigs = {
        "plugin_get_name": (c.c_char_p, []),
        "plugin_get_version": (c.c_char_p, []),
        "plugin_get_required_api_version": (c.c_char_p, []),
        "plugin_get_fields": (c.c_char_p, []),
        "plugin_get_event_source": (c.c_char_p, []),
        "plugin_get_id": (c.c_uint32, []),
        "plugin_init": (c.c_void_p, [c.POINTER(_InitInput), c.POINTER(c.c_int)]),
        "plugin_destroy": (None, [c.c_void_p]),
        "plugin_get_last_error": (c.c_char_p, [c.c_void_p]),
        "plugin_open": (c.c_void_p, [c.c_void_p, c.c_char_p, c.POINTER(c.c_int)]),
        "plugin_close": (None, [c.c_void_p, c.c_void_p]),
        "plugin_next_batch": (c.c_int, [c.c_void_p, c.c_void_p, c.POINTER(c.c_uint32),
                                        c.POINTER(c.POINTER(c.c_void_p))]),
        "plugin_extract_fields": (c.c_int, [c.c_void_p, c.POINTER(_EventInput), c.POINTER(_ExtractInput)]),
        "plugin_get_metrics": (c.POINTER(_Metric), [c.c_void_p, c.POINTER(c.c_uint32)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


def _check_shared_libpython() -> None:
    # A statically linked python3 has no libpython for the plugin to share: loading the
    # plugin would bring a second interpreter into the process.
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise PluginError("this Python is not built with a shared libpython (--enable-shared), so it "
                          "cannot host the plugin in-process; use Falco or the C test host instead")


class Plugin:
    """One plugin state: `Plugin(path, config)` loads and inits; use it as a context manager."""

    def __init__(self, path: str | os.PathLike | None = None, config: str = "{}"):
        _check_shared_libpython()
        self.path = Path(path) if path is not None else plugin_path()
        # As Falco: a local symbol scope; the shim promotes libpython itself.
        self._lib = ctypes.CDLL(str(self.path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        _declare(self._lib)
        self.name = self._lib.plugin_get_name().decode()
        self.version = self._lib.plugin_get_version().decode()
        self.fields = {f.name: f for f in _parse_fields(self._lib.plugin_get_fields())}
        self._init_input = _InitInput(config=config.encode())
        rc = ctypes.c_int(FAILURE)
        self._state = self._lib.plugin_init(ctypes.byref(self._init_input), ctypes.byref(rc))
        if rc.value != SUCCESS:
            message = self.last_error() if self._state else "plugin_init failed without a state"
            self.destroy()
            raise PluginError(f"plugin_init: {message}")
        self._field = _ExtractField()
        self._extract_input = _ExtractInput(num_fields=1, fields=ctypes.pointer(self._field))

    @property
    def _live_state(self) -> int:
        # A call on a destroyed state would crash the process, not raise.
        if not self._state:
            raise PluginError("the plugin state was destroyed")
        return self._state

    def last_error(self) -> str:
        text = self._lib.plugin_get_last_error(self._live_state)
        return text.decode("utf-8", "replace") if text else ""

    def open(self, params: str) -> "Stream":
        rc = ctypes.c_int(FAILURE)
        handle = self._lib.plugin_open(self._live_state, params.encode(), ctypes.byref(rc))
        if rc.value != SUCCESS:
            message = self.last_error()
            self._lib.plugin_close(self._state, handle)  # Falco closes a failed open too
            raise PluginError(f"plugin_open: {message}")
        return Stream(self, handle)

    def field(self, spec: str) -> tuple[FieldInfo, int | None, str | None]:
        """`name` or `name[arg]` → (field, index, key), as Falco reads arguments at rule load;
        ValueError for an unknown field or an argument the field does not take."""
        name, bracket, rest = spec.partition("[")
        info = self.fields.get(name)
        if info is None:
            raise ValueError(f"unknown field {name!r}")
        if not bracket:
            return info, None, None
        if not rest.endswith("]") or len(rest) < 2:
            raise ValueError(f"malformed field spec {spec!r}")
        arg = rest[:-1]
        if info.is_index and arg.isdigit() and (arg == "0" or arg[0] != "0"):
            return info, int(arg), None
        if info.is_key:
            return info, None, arg
        raise ValueError(f"{name} takes {'a decimal index' if info.is_index else 'no argument'}, got [{arg}]")

    def extract(self, event: Event, specs: list[str]) -> dict[str, str | list[str] | None]:
        """Values of `specs` for `event`, one extract call per field as libsinsp makes them.
        A list field gives a list; no value gives None."""
        event_input = _EventInput(evt=ctypes.addressof(event.buffer), evtnum=event.num, evtsrc=b"k8s_audit")
        return {spec: self._extract_one(event_input, spec) for spec in specs}

    def _extract_one(self, event_input: _EventInput, spec: str):
        info, index, key = self.field(spec)
        f = self._field
        ctypes.memset(ctypes.byref(f), 0, ctypes.sizeof(f))
        f.field_id, f.field, f.ftype, f.flist = info.id, info.name.encode(), _FTYPE[info.type], info.is_list
        f.arg_present = index is not None or key is not None
        f.arg_key = key.encode() if key is not None else None
        f.arg_index = index if index is not None else 2**64 - 1  # what newer hosts pass without one
        rc = self._lib.plugin_extract_fields(self._live_state, ctypes.byref(event_input),
                                             ctypes.byref(self._extract_input))
        if rc != SUCCESS or f.res_len == 0:
            return None  # Falco treats a failure as "no value" too
        values = [_decode_value(f.res, i, info.type) for i in range(f.res_len)]
        return values if info.is_list else values[0]

    def metrics(self) -> dict[str, int | float]:
        n = ctypes.c_uint32(0)
        items = self._lib.plugin_get_metrics(self._live_state, ctypes.byref(n))
        return {items[i].name.decode(): getattr(items[i].value, _METRIC_VALUE[items[i].value_type])
                for i in range(n.value)}

    def destroy(self) -> None:
        if self._state:
            self._lib.plugin_destroy(self._state)
            self._state = None

    def __enter__(self) -> "Plugin":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


def _decode_value(res: int, i: int, ftype: str):
    if ftype == "string":
        return ctypes.cast(res, ctypes.POINTER(ctypes.c_char_p))[i].decode("utf-8", "replace")
    if ftype == "bool":
        return bool(ctypes.cast(res, ctypes.POINTER(ctypes.c_uint32))[i])
    return ctypes.cast(res, ctypes.POINTER(ctypes.c_uint64))[i]


def _parse_fields(text: bytes) -> list[FieldInfo]:
    out = []
    for i, f in enumerate(json.loads(text)):
        arg = f.get("arg") or {}
        out.append(FieldInfo(i, f["name"], f["type"], bool(f.get("isList")), bool(arg.get("isIndex")),
                             bool(arg.get("isKey")), f.get("desc", "")))
    return out


class Stream:
    """An open instance: `next_batch()` until `eof`; close it (or use `with`)."""

    def __init__(self, plugin: Plugin, handle: int):
        self.plugin = plugin
        self._handle = handle
        self._count = 0
        self._pending_error: str | None = None
        self.eof = False

    def next_batch(self) -> list[Event]:
        """The next events; [] on a timeout. Sets `eof` at the end; raises PluginError on a
        failure (after the events delivered with it, as Falco does)."""
        if self._pending_error is not None:
            raise PluginError(self._pending_error)
        if self.eof:
            return []
        lib, state = self.plugin._lib, self.plugin._live_state
        n = ctypes.c_uint32(0)
        evts = ctypes.POINTER(ctypes.c_void_p)()
        rc = lib.plugin_next_batch(state, self._handle, ctypes.byref(n), ctypes.byref(evts))
        events = []
        for i in range(n.value):
            buffer = _copy_event(evts[i])
            self._count += 1
            events.append(Event(self._count, int.from_bytes(bytes(buffer)[:8], "little"), buffer))
        if rc == EOF:
            self.eof = True
        elif rc not in (SUCCESS, TIMEOUT):
            self._pending_error = f"plugin_next_batch: {self.plugin.last_error()}"
            if not events:
                raise PluginError(self._pending_error)
        return events

    def close(self) -> None:
        if self._handle is not None and self.plugin._state:
            self.plugin._lib.plugin_close(self.plugin._state, self._handle)
            self._handle = None

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
