# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: language = c++
"""Plugin and instance state behind c/plugin_shim.c: init config, open, batches, metrics.

The shim calls the `cdef api` functions below. Those that set up or tear down (init,
open, close, destroy) run with the GIL; next_batch, extract, progress, event_to_string,
last_error and metrics are `nogil` and touch no Python object, so Falco's event thread
never waits for the interpreter. The reader threads of LDP streams are Python threads
that hand each frame to a StreamSink, which unwraps it into a lock-free ring without
the GIL.
"""
import logging
import time

from cpython.ref cimport PyObject, Py_XDECREF, Py_INCREF
from libc.stdint cimport uint32_t, uint64_t, UINT64_MAX
from libc.stdlib cimport calloc, free
from libc.stdio cimport snprintf
from libc.string cimport memcpy
from libcpp.memory cimport shared_ptr, make_shared
from libcpp.string cimport string
from libcpp.vector cimport vector

from k8saudit_ovh.includes.abi cimport *
from k8saudit_ovh.includes.core cimport *
from k8saudit_ovh._extract cimport Extractor, free_extractor, new_extractor

from k8saudit_ovh import config as _config
from k8saudit_ovh.redaction import logger, redact
from k8saudit_ovh.sources.checkpoint import Checkpoint, Checkpointer, CheckpointStore, fingerprint
from k8saudit_ovh.sources.gap_fill import Gap, GapFiller, HistoryReplay, endpoint_from_config
# (named apart from SKIP_REASONS, the audit reader's count of skip reasons)
from k8saudit_ovh.sources.history import SKIP_REASONS as HISTORY_SKIP_REASONS
from k8saudit_ovh.sources.ldp_reader import ReaderOptions, StreamReader
from k8saudit_ovh.sources.open_params import parse_open_params

cdef enum:
    PLUGIN_ID = 22
    MAX_STREAMS = 16
    MAX_METRICS = 1024
    METRIC_NAME_LEN = 96
    EVENT_TEXT_LEN = 4096
    GAP_METRICS = 9

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t*, void*)
    int pthread_mutex_destroy(pthread_mutex_t*)
    int pthread_mutex_lock(pthread_mutex_t*)
    int pthread_mutex_unlock(pthread_mutex_t*)

cdef struct Metrics:
    # Names live here, beside the values, so they stay valid until the next call.
    uint32_t count
    ss_plugin_metric items[MAX_METRICS]
    char names[MAX_METRICS][METRIC_NAME_LEN]

cdef struct Instance:
    EventBatch* batch
    bint finished
    char progress[32]
    # file:// source
    FileReplay* replay
    # LDP streams: C++ state owned by the StreamSink objects in `sinks`, which the reader
    # threads also reference, so it outlives any thread that is slow to stop.
    vector[LdpStream*]* streams
    shared_ptr[Wakeup]* wake
    uint32_t next_stream      # round-robin start, so one busy stream cannot starve others
    PyObject* readers         # list[StreamReader]
    PyObject* sinks           # list[StreamSink]
    PyObject* fillers         # list[GapFiller]: streams with history, and their Checkpointer
    vector[string]* labels    # metric label of each stream: its name or number, never the URL

cdef struct PluginState:
    Extractor* extractor
    size_t max_event_size
    uint32_t batch_max_events
    uint32_t batch_timeout_ms
    PyObject* settings        # dict: the validated init_config
    Instance* instance        # the open instance (Falco opens one at a time)
    pthread_mutex_t metrics_lock  # get_metrics runs on Falco's web thread, concurrently
    Metrics metrics
    char last_error[K8A_PLUGIN_MAX_ERRLEN]
    char event_text[EVENT_TEXT_LEN]


cdef void set_error(PluginState* st, const char* msg) noexcept nogil:
    snprintf(st.last_error, K8A_PLUGIN_MAX_ERRLEN, "%s", msg)


cdef void set_py_error(PluginState* st, str msg):
    set_error(st, redact(msg).encode("utf-8", "replace"))


_log = logger("k8saudit_ovh")


def _log_to_stderr():
    """State changes of the readers go to stderr, where Falco's own logs go. A Python
    program that loaded the plugin and set up logging itself keeps its own setup."""
    logger = logging.getLogger("k8saudit_ovh")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("k8saudit-ovh: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


# ---- init / destroy -------------------------------------------------------------------

cdef api void* k8a_init(const char* config_text, ss_plugin_rc* rc):
    cdef PluginState* st = <PluginState*>calloc(1, sizeof(PluginState))
    if st == NULL:
        rc[0] = SS_PLUGIN_FAILURE
        return NULL
    pthread_mutex_init(&st.metrics_lock, NULL)
    try:
        settings = _config.parse(config_text.decode("utf-8", "replace"))
        for values in (settings["history"] or {}).values():
            endpoint_from_config(values, settings)  # a bad URL fails here; its secrets are secrets from now on
        st.max_event_size = settings["maxEventSize"]
        st.batch_max_events = settings["batchMaxEvents"]
        st.batch_timeout_ms = settings["batchTimeoutMs"]
        st.extractor = new_extractor()
        Py_INCREF(settings)
        st.settings = <PyObject*>settings
        _log_to_stderr()
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
    free_extractor(st.extractor)
    Py_XDECREF(st.settings)
    pthread_mutex_destroy(&st.metrics_lock)
    free(st)


cdef api const char* k8a_last_error(void* s) noexcept nogil:
    return (<PluginState*>s).last_error


# ---- LDP streams ----------------------------------------------------------------------

cdef class StreamSink:
    """What a StreamReader thread calls (see sources/ldp_reader.py), and a GapFiller's thread
    (see sources/gap_fill.py) when the stream has history; owns the stream's C++ state."""
    cdef LdpStream* stream
    cdef uint64_t max_message
    cdef object filler      # GapFiller, or None without history
    cdef bint was_connected
    cdef uint64_t gaps      # gaps opened so far (numbered from 1, as the C++ stream does)
    cdef uint64_t lost_ms   # wall-clock time the last connection was lost

    def __dealloc__(self):
        del self.stream

    def push_frame(self, bytes data, bint binary):
        cdef const char* p = data
        cdef size_t n = len(data)
        cdef bint more
        with nogil:  # unwrapping and a back-pressure wait must not hold up other threads
            more = self.stream.push_frame(p, n, binary)
        return more

    def on_connected(self):
        self.stream.set_connected(True)
        if self.filler is not None and self.was_connected:
            self.open_gap(self.lost_ms)
        self.was_connected = True

    def on_disconnected(self, str reason):
        self.stream.set_connected(False)
        self.stream.count_disconnect()
        self.lost_ms = int(time.time() * 1000)

    def open_gap(self, uint64_t lost_ms, uint64_t since_ns=0):
        """Called by the live producer (or before it starts): history fills from here,
        from `since_ns` if given, else from the last event the stream received."""
        cdef uint64_t last_ts = 0
        cdef bint ok
        with nogil:  # the marker may wait for room in the ring
            ok = self.stream.open_gap(&last_ts)
        if ok:
            self.gaps += 1
            self.filler.add(Gap(self.gaps, (since_ns or last_ts) // 1000000, lost_ms, int(time.time() * 1000)))

    def delivered(self):
        """The last event Falco has received, as a Checkpoint; None before any."""
        cdef uint64_t ts = self.stream.delivered_ts()
        return Checkpoint(ts, self.stream.delivered_id()) if ts else None

    def resume_from(self, checkpoint):
        """Before the reader starts: fill from the checkpoint, then follow live."""
        self.stream.set_fill_floor(checkpoint.time_ns, checkpoint.identity)
        self.open_gap(checkpoint.time_ns // 1000000, checkpoint.time_ns)

    def push_history(self, bytes data):
        cdef const char* p = data
        cdef size_t n = len(data)
        cdef bint more
        with nogil:
            more = self.stream.push_history(p, n)
        return more

    def end_fill(self):
        cdef bint ok
        with nogil:
            ok = self.stream.end_fill()
        return ok

    def finish(self):
        self.stream.finish()

    def set_history_healthy(self, bint healthy):
        self.stream.set_history_healthy(healthy)

    def first_live_ts(self, uint64_t gap):
        return self.stream.first_live_ts(gap)

    def gaps_opened(self):
        return self.gaps

    def count_gap(self, bint filled, uint64_t ms):
        if filled:
            self.stream.gap_counters.gaps_filled.fetch_add(1)
        else:
            self.stream.gap_counters.gaps_not_filled.fetch_add(1)
        self.stream.gap_counters.gap_fill_ms.fetch_add(ms)

    def count_history(self, uint64_t requests, uint64_t errors):
        self.stream.gap_counters.history_requests.fetch_add(requests)
        self.stream.gap_counters.history_errors.fetch_add(errors)

    def count_skipped(self, skipped):
        """Stored documents a read skipped: a mapping from SKIP_REASONS to counts."""
        for i, reason in enumerate(HISTORY_SKIP_REASONS):
            self.stream.gap_counters.documents_skipped[i].fetch_add(skipped.get(reason, 0))

    def count_thread_error(self):
        """A thread of this stream caught an unexpected exception (it logged it) and goes on."""
        self.stream.count_thread_error()

    def on_reconnect_attempt(self):
        self.stream.count_reconnect()

    def on_message_dropped(self, uint64_t size):
        self.stream.drop_message(size, self.max_message)

    def on_fatal(self, str message):
        self.stream.set_connected(False)
        self.stream.set_fatal(redact(message).encode("utf-8", "replace"))


cdef StreamSink new_sink(bytes cluster_name, size_t ring_bytes, size_t max_event_size, shared_ptr[Wakeup] wake):
    cdef StreamSink sink = StreamSink.__new__(StreamSink)
    sink.stream = new LdpStream(cluster_name, ring_bytes, max_event_size, wake)
    sink.max_message = _config.max_frame_bytes(max_event_size)
    return sink


def _reader_options(dict settings):
    return ReaderOptions(
        ping_interval=settings["pingIntervalS"], ping_timeout=settings["pingTimeoutS"],
        connect_timeout=settings["connectTimeoutS"], backoff_initial=settings["backoffInitialS"],
        backoff_max=settings["backoffMaxS"], max_retries=settings["maxRetries"],
        ca_file=settings["caFile"] or None, proxy=settings["proxy"] or None,
        verify_tls=settings["verifyTLS"], max_message=_config.max_frame_bytes(settings["maxEventSize"]))


def _stop_readers(list sinks, list readers, list fillers, float budget_s=1.0):
    """Unblocks every reader and filler (a full ring included), then joins them within one
    budget."""
    for sink in sinks:
        (<StreamSink>sink).stream.stop()
    for thread in readers + fillers:
        thread.stop(timeout=0)
    deadline = time.monotonic() + budget_s
    for thread in readers + fillers:
        thread.stop(timeout=max(0.0, deadline - time.monotonic()))


# Identities kept to drop what a gap-fill delivers twice: enough for the overlap of a
# busy stream (2 × overlapS at 5 000 events/s is 100 000).
RECENT_IDS = 1 << 18


def _history_endpoints(dict settings, list sources):
    """The history endpoint of each source (None: no history)."""
    history = settings["history"]
    if not history:
        return [None] * len(sources)
    if None in history:
        if len(sources) > 1:
            raise ValueError("init_config 'history' is one endpoint but open params name several streams: "
                             "give a map from stream name to endpoint")
        chosen = [history[None]]
    else:
        names = {source.name for source in sources}
        unknown = sorted(set(history) - names)
        if unknown:
            raise ValueError(f"init_config 'history' names streams the open params do not: {', '.join(unknown)}")
        chosen = [history.get(source.name) for source in sources]
    return [endpoint_from_config(values, settings) if values else None for values in chosen]


cdef int open_streams(PluginState* st, Instance* inst, list sources) except -1:
    cdef uint64_t unused_ts
    settings = <dict>st.settings
    options = _reader_options(settings)
    inst.streams = new vector[LdpStream*]()
    inst.wake = new shared_ptr[Wakeup](make_shared[Wakeup]())
    inst.labels = new vector[string]()
    sinks, readers, fillers = [], [], []
    # Kept in the instance as they are made, so close() cleans up after a failure too.
    Py_INCREF(sinks)
    inst.sinks = <PyObject*>sinks
    Py_INCREF(readers)
    inst.readers = <PyObject*>readers
    Py_INCREF(fillers)
    inst.fillers = <PyObject*>fillers
    endpoints = _history_endpoints(settings, sources)
    store = CheckpointStore(settings["stateDir"]) if settings["stateDir"] else None
    checkpointed = []
    for number, (source, endpoint) in enumerate(zip(sources, endpoints), start=1):
        sink = new_sink((source.name or "").encode(), settings["ringBytes"], st.max_event_size, inst.wake[0])
        sinks.append(sink)
        inst.streams.push_back((<StreamSink>sink).stream)
        label = source.name or str(number)
        inst.labels.push_back(label.encode())
        if source.kind == "history":
            if endpoint is None:
                raise ValueError(f"open params {source.display} need init_config 'history' for this stream")
            # Falco reads the window from the history ring, all of it: nothing to hold back.
            (<StreamSink>sink).stream.enable_history(RECENT_IDS, <uint64_t>((2 * endpoint.overlap_s + 60) * 1e9),
                                                     UINT64_MAX)
            (<StreamSink>sink).stream.open_gap(&unused_ts)
            readers.append(HistoryReplay(label, endpoint, sink, *source.window_ms))
            continue
        if endpoint is not None:
            # The window spans the overlap on both sides of a gap, and the stream's own
            # disorder in event time.
            (<StreamSink>sink).stream.enable_history(RECENT_IDS, <uint64_t>((2 * endpoint.overlap_s + 60) * 1e9),
                                                     <uint64_t>(endpoint.hold_back_s * 1e9))
            (<StreamSink>sink).filler = GapFiller(label, endpoint, sink)
            fillers.append((<StreamSink>sink).filler)
            if store is not None:
                stream_id = fingerprint(source.display)
                checkpoint = store.load(label, stream_id)
                if checkpoint is not None:
                    (<StreamSink>sink).resume_from(checkpoint)
                checkpointed.append((label, stream_id, (<StreamSink>sink).delivered,
                                     (<StreamSink>sink).count_thread_error))
        readers.append(StreamReader(source, sink, options))
    if checkpointed:
        fillers.append(Checkpointer(store, checkpointed))
    elif store is not None:
        _log.warning("stateDir is set but no stream has history: there is nothing to resume from")
    for thread in fillers + readers:
        thread.start()
    # plugin_open fails only for what retrying cannot heal (bad token, bad URL).
    deadline = time.monotonic() + settings["connectTimeoutS"]
    for reader in readers:
        if isinstance(reader, HistoryReplay):
            continue
        outcome, message = reader.wait_first_outcome(max(0.0, deadline - time.monotonic()))
        if outcome == "fatal":
            raise ValueError(message)
    return 0


# ---- open / close ---------------------------------------------------------------------

cdef api void* k8a_open(void* s, const char* params, ss_plugin_rc* rc):
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = NULL
    cdef string err
    rc[0] = SS_PLUGIN_FAILURE
    try:
        sources = parse_open_params(params.decode("utf-8", "replace").strip())
        files = [src for src in sources if src.kind == "file"]
        if files and len(sources) > 1:
            raise ValueError("a file:// source cannot be combined with other sources")
        windows = [src for src in sources if src.kind == "history"]
        if windows and len(windows) < len(sources):
            raise ValueError("a history: source ends, a live stream does not: they cannot be combined")
        if len(sources) > MAX_STREAMS:
            raise ValueError(f"at most {MAX_STREAMS} streams per plugin instance, got {len(sources)}")
    except Exception as e:  # a bug included: Falco gets a message, never an empty one
        set_py_error(st, str(e) or type(e).__name__)
        return NULL
    inst = <Instance*>calloc(1, sizeof(Instance))
    if inst == NULL:
        set_error(st, "out of memory")
        return NULL
    inst.batch = new EventBatch(PLUGIN_ID)
    if files:
        inst.replay = new FileReplay(st.max_event_size)
        if not inst.replay.open(files[0].path.encode("utf-8"), err):
            set_py_error(st, err.decode("utf-8", "replace"))  # it names the path: redacted
            free_instance(inst)
            return NULL
    else:
        try:
            open_streams(st, inst, sources)
        except Exception as e:
            set_py_error(st, str(e))
            free_instance(inst)
            return NULL
    with nogil:
        pthread_mutex_lock(&st.metrics_lock)
    st.instance = inst
    pthread_mutex_unlock(&st.metrics_lock)
    st.extractor.use_batch(inst.batch)
    rc[0] = SS_PLUGIN_SUCCESS
    return inst


cdef void free_instance(Instance* inst):
    if inst.sinks != NULL:
        _stop_readers(<list>inst.sinks, <list>inst.readers, <list>inst.fillers)
    Py_XDECREF(inst.fillers)
    Py_XDECREF(inst.readers)
    Py_XDECREF(inst.sinks)  # frees each stream's C++ state once its thread is gone
    del inst.labels
    del inst.streams
    del inst.wake
    del inst.replay
    del inst.batch
    free(inst)


cdef api void k8a_close(void* s, void* h):
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = <Instance*>h
    if inst == NULL:
        return
    with nogil:
        pthread_mutex_lock(&st.metrics_lock)
    if st.instance == inst:
        st.instance = NULL
    pthread_mutex_unlock(&st.metrics_lock)
    st.extractor.use_batch(NULL)
    free_instance(inst)


# ---- the event thread -----------------------------------------------------------------

cdef uint32_t drain_streams(Instance* inst, uint32_t room) noexcept nogil:
    cdef uint32_t n = 0, i, k = inst.streams.size()
    for i in range(k):
        n += inst.streams[0][(inst.next_stream + i) % k].drain(inst.batch[0], room - n)
        if n >= room:
            break
    inst.next_stream = (inst.next_stream + 1) % k
    return n


cdef const char* stream_failure(Instance* inst) noexcept nogil:
    cdef size_t i
    for i in range(inst.streams.size()):
        if inst.streams[0][i].fatal() != NULL:
            return inst.streams[0][i].fatal()
    return NULL


cdef ss_plugin_rc next_from_streams(PluginState* st, Instance* inst) noexcept nogil:
    cdef uint32_t n = drain_streams(inst, st.batch_max_events)
    cdef const char* failure
    if n == 0:
        # Sleep until a reader pushes, bounded so Falco sees signals and reloads.
        inst.wake[0].get().arm()
        n = drain_streams(inst, st.batch_max_events)
        if n == 0:
            inst.wake[0].get().wait(st.batch_timeout_ms)
            n = drain_streams(inst, st.batch_max_events)
        inst.wake[0].get().disarm()
    if n > 0:
        return SS_PLUGIN_SUCCESS
    failure = stream_failure(inst)
    if failure != NULL:
        set_error(st, failure)
        return SS_PLUGIN_FAILURE
    if streams_done(inst):
        inst.finished = True
        return SS_PLUGIN_EOF
    return SS_PLUGIN_TIMEOUT


cdef bint streams_done(Instance* inst) noexcept nogil:
    """Every stream is a history: window that was read whole and delivered."""
    cdef size_t i
    for i in range(inst.streams.size()):
        if not inst.streams[0][i].done():
            return False
    return True


cdef ss_plugin_rc next_from_file(PluginState* st, Instance* inst) noexcept nogil:
    # Bounded by the batch wait: a call that read only junk so far answers "timeout" and
    # Falco calls again at once.
    cdef int status = inst.replay.fill(inst.batch[0], st.batch_max_events, st.batch_timeout_ms)
    if status == REPLAY_FAILED:
        set_error(st, inst.replay.error().c_str())
        return SS_PLUGIN_FAILURE
    if status == REPLAY_END:
        inst.finished = True
    if inst.batch.size() > 0:
        return SS_PLUGIN_SUCCESS
    return SS_PLUGIN_EOF if status == REPLAY_END else SS_PLUGIN_TIMEOUT


cdef api ss_plugin_rc k8a_next_batch(void* s, void* h, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil:
    cdef PluginState* st = <PluginState*>s
    cdef Instance* inst = <Instance*>h
    cdef ss_plugin_rc rc
    cdef size_t i
    nevts[0] = 0
    if inst.finished:
        return SS_PLUGIN_EOF
    # Falco asks for more: it has every event of the previous batch.
    if inst.streams != NULL:
        for i in range(inst.streams.size()):
            inst.streams[0][i].commit_delivered()
    inst.batch.clear()
    rc = next_from_file(st, inst) if inst.replay != NULL else next_from_streams(st, inst)
    if rc == SS_PLUGIN_SUCCESS:
        nevts[0] = inst.batch.size()
        evts[0] = inst.batch.events()
    return rc


cdef api const char* k8a_progress(void* s, void* h, uint32_t* pct) noexcept nogil:
    cdef Instance* inst = <Instance*>h
    pct[0] = inst.replay.progress() if inst.replay != NULL else 0
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


# ---- metrics (concurrent with next_batch: every counter is atomic) --------------------

cdef void add_metric(Metrics* m, const char* prefix, const char* name, uint64_t value, bint monotonic) noexcept nogil:
    if m.count >= MAX_METRICS:
        return
    snprintf(m.names[m.count], METRIC_NAME_LEN, "%s%s", prefix, name)
    m.items[m.count].name = m.names[m.count]
    m.items[m.count].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC if monotonic else SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC
    m.items[m.count].value.u64 = value
    m.items[m.count].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64
    m.count += 1


cdef void add_event_metrics(Metrics* m, const char* prefix, const ReaderCounters* c) noexcept nogil:
    cdef char name[METRIC_NAME_LEN]
    add_metric(m, prefix, "events_emitted", c.events(), True)
    add_metric(m, prefix, "events_skipped", c.skipped_total(), True)
    for reason in range(SKIP_REASONS):
        snprintf(name, METRIC_NAME_LEN, "events_skipped.%s", skip_reason_name(reason))
        add_metric(m, prefix, name, c.skipped(reason), True)


cdef void add_frame_metrics(Metrics* m, const char* prefix, const FrameCounters* c) noexcept nogil:
    cdef char name[METRIC_NAME_LEN]
    add_metric(m, prefix, "frames_received", c.frames(), True)
    add_metric(m, prefix, "frames_skipped", c.skipped_total(), True)
    for reason in range(FRAME_SKIP_REASONS):
        snprintf(name, METRIC_NAME_LEN, "frames_skipped.%s", frame_skip_name(reason))
        add_metric(m, prefix, name, c.skipped(reason), True)


cdef void add_stream_metrics(Metrics* m, Instance* inst) noexcept nogil:
    cdef char prefix[METRIC_NAME_LEN]
    cdef LdpStream* s
    cdef uint64_t connected = 0, frames = 0, events = 0, skipped = 0, reconnects = 0, stalls = 0, errors = 0
    cdef size_t i
    for i in range(inst.streams.size()):
        s = inst.streams[0][i]
        connected += s.connected()
        frames += s.frames().frames()
        events += s.events().events()
        skipped += s.frames().skipped_total()
        reconnects += s.reconnects()
        stalls += s.stalls()
        errors += s.thread_errors()
    add_metric(m, "", "streams", inst.streams.size(), False)
    add_metric(m, "", "streams_connected", connected, False)
    add_metric(m, "", "frames_received", frames, True)
    add_metric(m, "", "frames_skipped", skipped, True)
    add_metric(m, "", "events_emitted", events, True)
    add_metric(m, "", "reconnects", reconnects, True)
    add_metric(m, "", "backpressure_stalls", stalls, True)
    add_metric(m, "", "thread_errors", errors, True)
    add_gap_metrics(m, "", inst, -1)
    for i in range(inst.streams.size()):
        s = inst.streams[0][i]
        snprintf(prefix, METRIC_NAME_LEN, "stream.%s.", inst.labels[0][i].c_str())
        add_metric(m, prefix, "connected", s.connected(), False)
        add_metric(m, prefix, "reconnects", s.reconnects(), True)
        add_metric(m, prefix, "disconnects", s.disconnects(), True)
        add_metric(m, prefix, "backpressure_stalls", s.stalls(), True)
        add_metric(m, prefix, "thread_errors", s.thread_errors(), True)
        add_metric(m, prefix, "ring_bytes_used", s.ring_used(), False)
        add_metric(m, prefix, "ring_bytes_capacity", s.ring_capacity(), False)
        add_frame_metrics(m, prefix, &s.frames())
        add_event_metrics(m, prefix, &s.events())
        add_gap_metrics(m, prefix, inst, i)


# Metric names of the skipped stored documents, one per reason, made once.
cdef char document_skip_names[DOCUMENT_SKIP_REASONS][METRIC_NAME_LEN]
assert len(HISTORY_SKIP_REASONS) <= DOCUMENT_SKIP_REASONS, "GapCounters::kDocumentSkipReasons is too small"
for _i, _reason in enumerate(HISTORY_SKIP_REASONS):
    _name = f"history_documents_skipped.{_reason}".encode()
    memcpy(document_skip_names[_i], <const char*>_name, len(_name) + 1)
cdef int document_skip_reasons = len(HISTORY_SKIP_REASONS)


cdef void add_gap_metrics(Metrics* m, const char* prefix, Instance* inst, long only) noexcept nogil:
    """Gap-filling counters of stream `only`, or summed over the streams (-1); none when
    no stream has history."""
    cdef uint64_t v[GAP_METRICS]
    cdef uint64_t skipped[DOCUMENT_SKIP_REASONS]
    cdef uint64_t skipped_total = 0
    cdef GapCounters* g
    cdef size_t i, k
    cdef int r
    cdef bint any_history = False
    cdef const char* names[GAP_METRICS]
    names[:] = [b"gaps_seen", b"gaps_filled", b"gaps_not_filled", b"events_recovered",
                b"duplicates_dropped", b"history_requests", b"history_errors", b"gap_fill_ms", b"gaps_late"]
    for k in range(GAP_METRICS):
        v[k] = 0
    for r in range(document_skip_reasons):
        skipped[r] = 0
    for i in range(inst.streams.size()):
        if only >= 0 and <long>i != only:
            continue
        if not inst.streams[0][i].has_history():
            continue
        g = &inst.streams[0][i].gap_counters
        any_history = True
        v[0] += g.gaps_seen.load()
        v[1] += g.gaps_filled.load()
        v[2] += g.gaps_not_filled.load()
        v[3] += g.events_recovered.load()
        v[4] += g.duplicates_dropped.load()
        v[5] += g.history_requests.load()
        v[6] += g.history_errors.load()
        v[7] += g.gap_fill_ms.load()
        v[8] += g.gaps_late.load()
        for r in range(document_skip_reasons):
            skipped[r] += g.documents_skipped[r].load()
    if not any_history:
        return
    for k in range(GAP_METRICS):
        add_metric(m, prefix, names[k], v[k], True)
    for r in range(document_skip_reasons):
        skipped_total += skipped[r]
    add_metric(m, prefix, "history_documents_skipped", skipped_total, True)
    for r in range(document_skip_reasons):
        add_metric(m, prefix, document_skip_names[r], skipped[r], True)


cdef api ss_plugin_metric* k8a_metrics(void* s, uint32_t* n) noexcept nogil:
    cdef PluginState* st = <PluginState*>s
    pthread_mutex_lock(&st.metrics_lock)
    st.metrics.count = 0
    cdef Instance* inst = st.instance
    if inst != NULL and inst.replay != NULL:
        if inst.replay.holds_frames():
            add_frame_metrics(&st.metrics, "", &inst.replay.frame_counters())
        add_event_metrics(&st.metrics, "", &inst.replay.counters())
    elif inst != NULL:
        add_stream_metrics(&st.metrics, inst)
    pthread_mutex_unlock(&st.metrics_lock)
    n[0] = st.metrics.count
    return st.metrics.items


# ---- benchmark hook (benchmarks/bench_streams.py; not used by the plugin) --------------

def _bench_unwrap(list frames, int repeat, size_t ring_bytes=64 << 20, uint32_t drain_every=64):
    """Seconds to unwrap `frames` (bytes, text frames) `repeat` times into a stream's ring,
    draining it into a batch every `drain_every` frames as next_batch would: the reader's
    work after recv(), without the GIL and without websocket-client."""
    cdef vector[const char*] data
    cdef vector[size_t] sizes
    cdef LdpStream* stream = new LdpStream(b"", ring_bytes, 1 << 20, make_shared[Wakeup]())
    cdef EventBatch* batch = new EventBatch(PLUGIN_ID)
    cdef size_t i, k
    cdef int r
    cdef bint ok = True
    for f in frames:
        data.push_back(<const char*>(<bytes>f))
        sizes.push_back(len(<bytes>f))
    started = time.perf_counter()
    with nogil:
        for r in range(repeat):
            for i in range(data.size()):
                ok = stream.push_frame(data[i], sizes[i], False) and ok
                if (i + 1) % drain_every == 0:
                    batch.clear()
                    stream.drain(batch[0], 1 << 20)
            batch.clear()
            stream.drain(batch[0], 1 << 20)
    seconds = time.perf_counter() - started
    events = stream.events().events()
    del batch
    del stream
    if not ok:
        raise RuntimeError("the stream refused a frame")
    return seconds, events
