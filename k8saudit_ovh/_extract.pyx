# cython: language_level=3
# distutils: language = c++
"""Python access to the C++ field extractor (the same code path the plugin uses)."""
import codecs
import time

from libc.stdint cimport UINT64_MAX, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from libcpp.string cimport string
from libcpp.vector cimport vector

from k8saudit_ovh.includes.core cimport encode_plugin_event, string_view

from .fields import FIELDS

cdef dict _FIELD_IDS = {f.name: i for i, f in enumerate(FIELDS)}
cdef uint64_t _evtnum = 0
cdef Extractor* _extractor = NULL
cdef dict _REQUESTS = {}  # parsed field lists by spec tuple: callers repeat the same list


def _byte_value_code_points(err):
    """Invalid UTF-8 bytes become the code point of their value (as the golden files show them)."""
    return "".join(map(chr, err.object[err.start:err.end])), err.end


codecs.register_error("k8saudit_ovh.bytevalue", _byte_value_code_points)


cdef Extractor* new_extractor() except NULL:
    cdef vector[FieldOp] table
    cdef FieldOp op
    for f in FIELDS:
        op.path.clear()
        op.args.clear()
        if not op_from_name(f.op.encode(), &op.op):
            raise ValueError(f"{f.name}: unknown extractor op {f.op!r}")
        op.is_list = f.is_list
        op.requires_key = bool(f.arg and f.arg["isRequired"] and f.arg["isKey"])
        for key in f.path:
            op.path.push_back(key.encode())
        for arg in f.args:
            op.args.push_back(arg.encode())
        table.push_back(op)
    return new Extractor(table)


cdef void free_extractor(Extractor* extractor) noexcept:
    del extractor


cdef class _Request:
    """Parsed field specs as ss_plugin_extract_field structs (arg strings kept alive here)."""
    cdef ss_plugin_extract_field* fields
    cdef Py_ssize_t n
    cdef list keepalive

    def __cinit__(self, specs):
        self.n = len(specs)
        self.keepalive = []
        self.fields = <ss_plugin_extract_field*>malloc(max(1, self.n) * sizeof(ss_plugin_extract_field))
        if self.fields == NULL:
            raise MemoryError()
        memset(self.fields, 0, max(1, self.n) * sizeof(ss_plugin_extract_field))
        for i, spec in enumerate(specs):
            self._fill(&self.fields[i], spec)

    def __dealloc__(self):
        free(self.fields)

    cdef _fill(self, ss_plugin_extract_field* f, str spec):
        name, bracket, rest = spec.partition("[")
        field_id = _FIELD_IDS.get(name)
        if field_id is None:
            raise ValueError(f"unknown field {name!r}")
        desc = FIELDS[field_id]
        bname = name.encode()
        self.keepalive.append(bname)
        f.field_id = field_id
        f.field = bname
        f.ftype = K8A_FIELD_TYPE_STRING
        f.flist = desc.is_list
        f.arg_index = UINT64_MAX  # what libs >= 0.23 pass when there is no index
        if not bracket:
            if desc.arg and desc.arg["isRequired"]:
                raise ValueError(f"{name} requires an argument")
            return
        arg, closing, _ = rest.partition("]")
        if not closing:
            raise ValueError(f"{spec!r}: missing ']'")
        if not desc.arg:
            raise ValueError(f"{name} takes no argument")
        if desc.arg["isIndex"]:
            if not arg.isdigit() or not arg.isascii() or (arg != "0" and arg[0] == "0") or int(arg) >= 2**64:
                raise ValueError(f"{spec!r}: the index must be a decimal number")
            f.arg_index = int(arg)
        else:
            barg = arg.encode()
            self.keepalive.append(barg)
            f.arg_key = barg
        f.arg_present = 1


cdef class _Event:
    """A plugin event (type 322) holding a payload, laid out as the host sees it."""
    cdef ss_plugin_event_input input
    cdef uint8_t* buf

    def __cinit__(self, bytes payload):
        cdef Py_ssize_t n = len(payload)
        global _evtnum
        self.buf = <uint8_t*>malloc(K8A_EVENT_PAYLOAD_OFFSET + n)  # malloc is 16-byte aligned
        if self.buf == NULL:
            raise MemoryError()
        encode_plugin_event(self.buf, string_view(<const char*>payload, n), UINT64_MAX, 22)
        _evtnum += 1
        self.input.evt = <ss_plugin_event*>self.buf
        self.input.evtnum = _evtnum
        self.input.evtsrc = b"k8s_audit"

    def __dealloc__(self):
        free(self.buf)


cdef Extractor* _get_extractor() except NULL:
    global _extractor
    if _extractor == NULL:
        _extractor = new_extractor()
    return _extractor


cdef object _run(_Event event, ss_plugin_extract_field* f):
    """One extract call for one field, like libsinsp does; returns the value(s) or None."""
    cdef ss_plugin_field_extract_input inp
    memset(&inp, 0, sizeof(inp))
    inp.num_fields = 1
    inp.fields = f
    cdef Extractor* ex = _get_extractor()
    if ex.extract(&event.input, &inp) != SS_PLUGIN_SUCCESS:
        raise RuntimeError(ex.last_error().decode("utf-8", "replace"))
    if f.res_len == 0:
        return None
    values = [(<bytes>f.res.str[i]).decode("utf-8", "k8saudit_ovh.bytevalue") for i in range(f.res_len)]
    return values if f.flist else values[0]


def extract(event_json: bytes, fields: list) -> dict:
    """Extract field specs ("name" or "name[arg]") from one audit event (JSON bytes).

    Returns spec -> str, list of str (list fields) or None (no value). Raises ValueError for
    an unknown field or a missing or malformed argument.
    """
    cdef tuple specs = tuple(fields)
    cdef _Request req = _REQUESTS.get(specs)
    if req is None:
        if len(_REQUESTS) >= 64:
            _REQUESTS.clear()
        req = _REQUESTS[specs] = _Request(specs)
    cdef _Event event = _Event(bytes(event_json))
    return {spec: _run(event, &req.fields[i]) for i, spec in enumerate(specs)}


def _extract_raw(event_json: bytes, int field_id, arg_key=None, arg_index=None):
    """One extract call with a hand-made request (for tests of the argument handling).

    Raises RuntimeError with the extractor's last error when it returns SS_PLUGIN_FAILURE.
    """
    cdef ss_plugin_extract_field f
    memset(&f, 0, sizeof(f))
    f.field_id = field_id
    f.ftype = K8A_FIELD_TYPE_STRING
    f.flist = field_id < len(FIELDS) and FIELDS[field_id].is_list
    f.arg_index = UINT64_MAX
    bkey = arg_key.encode() if arg_key is not None else None
    if bkey is not None:
        f.arg_key = bkey
        f.arg_present = 1
    if arg_index is not None:
        f.arg_index = arg_index
        f.arg_present = 1
    return _run(_Event(bytes(event_json)), &f)


def _bench_extract(events: list, specs: list, Py_ssize_t repeat, bint fresh=True) -> float:
    """CPU seconds of this thread in C++ extracting every spec (one call each) of every event,
    `repeat` times. fresh=True gives every pass a new event number (parse + extract);
    otherwise each event is parsed once and the timing covers extraction only."""
    cdef _Request req = _Request(specs)
    cdef list evs = [_Event(bytes(e)) for e in events]
    cdef Py_ssize_t n = len(evs), r, i, j
    cdef vector[ss_plugin_event_input] inputs
    for e in evs:
        inputs.push_back((<_Event>e).input)
    cdef Extractor* ex = _get_extractor()
    cdef ss_plugin_field_extract_input inp
    memset(&inp, 0, sizeof(inp))
    inp.num_fields = 1
    cdef uint64_t base = 1 << 62  # event numbers no other caller uses
    t0 = time.thread_time()
    with nogil:
        if fresh:
            for r in range(repeat):
                for i in range(n):
                    inputs[i].evtnum = base + <uint64_t>(r * n + i)
                    for j in range(req.n):
                        inp.fields = &req.fields[j]
                        ex.extract(&inputs[i], &inp)
        else:  # stay on one event so that only its first call parses
            for i in range(n):
                for r in range(repeat):
                    for j in range(req.n):
                        inp.fields = &req.fields[j]
                        ex.extract(&inputs[i], &inp)
    return time.thread_time() - t0
