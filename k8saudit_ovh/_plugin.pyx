# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: language = c++
"""Plugin and instance state behind c/plugin_shim.c: init config, open, batches, metrics.

The shim calls the `cdef api` functions below. Those that set up or tear down (init,
open, close, destroy) run with the GIL; next_batch, extract, progress, event_to_string,
last_error and metrics are `nogil` and touch no Python object, so Falco's event thread
never waits for the interpreter.
"""
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.stdio cimport snprintf
from libc.string cimport memcpy, strlen
from libcpp.string cimport string

from k8saudit_ovh.includes.abi cimport *
from k8saudit_ovh.includes.core cimport *
from k8saudit_ovh._extract cimport Extractor, new_extractor

from k8saudit_ovh import config as _config
from k8saudit_ovh.open_params import parse_open_params, redact

cdef enum:
    PLUGIN_ID = 22
    MAX_METRICS = 64
    METRIC_NAME_LEN = 96
    EVENT_TEXT_LEN = 4096

cdef struct Metrics:
    # Names live here, beside the values, so they stay valid until the next call.
    uint32_t count
    ss_plugin_metric items[MAX_METRICS]
    char names[MAX_METRICS][METRIC_NAME_LEN]

cdef struct Instance:
    FileReplay* replay
    EventBatch* batch
    bint finished
    char progress[32]

cdef struct PluginState:
    Extractor* extractor
    size_t max_event_size
    uint32_t batch_max_events
    uint32_t batch_timeout_ms
    Instance* instance        # the open instance, for metrics (Falco opens one at a time)
    Metrics metrics
    char last_error[K8A_PLUGIN_MAX_ERRLEN]
    char event_text[EVENT_TEXT_LEN]


cdef void set_error(PluginState* st, const char* msg) noexcept nogil:
    snprintf(st.last_error, K8A_PLUGIN_MAX_ERRLEN, "%s", msg)


cdef void set_py_error(PluginState* st, str msg):
    set_error(st, redact(msg).encode("utf-8", "replace"))


# ---- init / destroy -------------------------------------------------------------------

cdef api void* k8a_init(const char* config_text, ss_plugin_rc* rc):
    cdef PluginState* st = <PluginState*>calloc(1, sizeof(PluginState))
    if st == NULL:
        rc[0] = SS_PLUGIN_FAILURE
        return NULL
    try:
        settings = _config.parse(config_text.decode("utf-8", "replace"))
        st.max_event_size = settings["maxEventSize"]
        st.batch_max_events = settings["batchMaxEvents"]
        st.batch_timeout_ms = settings["batchTimeoutMs"]
        st.extractor = new_extractor()
        rc[0] = SS_PLUGIN_SUCCESS
    except Exception as e:
        set_py_error(st, str(e))
        rc[0] = SS_PLUGIN_FAILURE
    return st


cdef api void k8a_destroy(void* s):
    cdef PluginState* st = <PluginState*>s
    if st == NULL:
        return
    if st.instance != NULL:
        k8a_close(s, st.instance)
    del st.extractor
    free(st)


cdef api const char* k8a_last_error(void* s) noexcept nogil:
    return (<PluginState*>s).last_error


# ---- open / close ---------------------------------------------------------------------

cdef api void* k8a_open(void* s, const char* params, ss_plugin_rc* rc):
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = NULL
    cdef string err
    rc[0] = SS_PLUGIN_FAILURE
    try:
        sources = parse_open_params(params.decode("utf-8", "replace").strip())
    except ValueError as e:
        set_py_error(st, str(e))
        return NULL
    if len(sources) != 1 or sources[0].kind != "file":
        set_py_error(st, "only one file:// source is supported by this build")
        return NULL
    inst = <Instance*>calloc(1, sizeof(Instance))
    if inst == NULL:
        set_error(st, "out of memory")
        return NULL
    inst.batch = new EventBatch(PLUGIN_ID)
    inst.replay = new FileReplay(st.max_event_size)
    if not inst.replay.open(sources[0].path.encode("utf-8"), err):
        set_error(st, err.c_str())
        free_instance(inst)
        return NULL
    st.instance = inst
    rc[0] = SS_PLUGIN_SUCCESS
    return inst


cdef void free_instance(Instance* inst) noexcept nogil:
    del inst.replay
    del inst.batch
    free(inst)


cdef api void k8a_close(void* s, void* h):
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = <Instance*>h
    if inst == NULL:
        return
    if st.instance == inst:
        st.instance = NULL
    free_instance(inst)


# ---- the event thread -----------------------------------------------------------------

cdef api ss_plugin_rc k8a_next_batch(void* s, void* h, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil:
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = <Instance*>h
    nevts[0] = 0
    if inst.finished:
        return SS_PLUGIN_EOF
    inst.batch.clear()
    cdef int status = inst.replay.fill(inst.batch[0], st.batch_max_events)
    if status == REPLAY_FAILED:
        set_error(st, inst.replay.error().c_str())
        return SS_PLUGIN_FAILURE
    if status == REPLAY_END:
        inst.finished = True
    if inst.batch.size() == 0:
        return SS_PLUGIN_EOF if inst.finished else SS_PLUGIN_TIMEOUT
    nevts[0] = inst.batch.size()
    evts[0] = inst.batch.events()
    return SS_PLUGIN_SUCCESS


cdef api const char* k8a_progress(void* s, void* h, uint32_t* pct) noexcept nogil:
    cdef Instance* inst = <Instance*>h
    pct[0] = inst.replay.progress()
    snprintf(inst.progress, sizeof(inst.progress), "%.2f%%", pct[0] / 100.0)
    return inst.progress


cdef api ss_plugin_rc k8a_extract(void* s, const ss_plugin_event_input* evt,
                                  const ss_plugin_field_extract_input* req) noexcept nogil:
    cdef PluginState* st = <PluginState*>s
    cdef ss_plugin_rc rc = st.extractor.extract(evt, req)
    if rc != SS_PLUGIN_SUCCESS:
        set_error(st, st.extractor.last_error())
    return rc


cdef api const char* k8a_event_to_string(void* s, const ss_plugin_event_input* evt) noexcept nogil:
    # %evt.plugininfo: the audit event's JSON, cut to a readable length.
    cdef PluginState* st = <PluginState*>s
    cdef uint32_t total = evt.evt.len
    cdef size_t n = total - K8A_EVENT_PAYLOAD_OFFSET if total > K8A_EVENT_PAYLOAD_OFFSET else 0
    if n >= EVENT_TEXT_LEN:
        n = EVENT_TEXT_LEN - 1
    memcpy(st.event_text, (<const char*>evt.evt) + K8A_EVENT_PAYLOAD_OFFSET, n)
    st.event_text[n] = 0
    return st.event_text


# ---- metrics (may be called concurrently with next_batch: counters are atomics) -------

cdef void add_metric(Metrics* m, const char* name, uint64_t value, bint monotonic) noexcept nogil:
    if m.count >= MAX_METRICS:
        return
    snprintf(m.names[m.count], METRIC_NAME_LEN, "%s", name)
    m.items[m.count].name = m.names[m.count]
    m.items[m.count].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC if monotonic else SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC
    m.items[m.count].value.u64 = value
    m.items[m.count].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64
    m.count += 1


cdef void add_reader_metrics(Metrics* m, const ReaderCounters* c) noexcept nogil:
    cdef char name[METRIC_NAME_LEN]
    add_metric(m, "events_emitted", c.events(), True)
    add_metric(m, "input_skipped", c.skipped_total(), True)
    for reason in range(SKIP_REASONS):
        snprintf(name, METRIC_NAME_LEN, "input_skipped.%s", skip_reason_name(reason))
        add_metric(m, name, c.skipped(reason), True)


cdef api ss_plugin_metric* k8a_metrics(void* s, uint32_t* n) noexcept nogil:
    cdef PluginState* st = <PluginState*>s
    st.metrics.count = 0
    if st.instance != NULL and st.instance.replay != NULL:
        add_reader_metrics(&st.metrics, &st.instance.replay.counters())
    n[0] = st.metrics.count
    return st.metrics.items
