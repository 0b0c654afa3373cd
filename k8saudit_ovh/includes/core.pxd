# The C++ event path (k8saudit_ovh/cpp): reading input, building batches. Declared once.
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libcpp cimport bool
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from k8saudit_ovh.includes.abi cimport ss_plugin_event

cdef extern from "audit_reader.hpp" namespace "k8a" nogil:
    const int SKIP_REASONS "int(k8a::Skip::Count)"
    const char* skip_reason_name(int reason)
    cppclass ReaderCounters:
        uint64_t events()
        uint64_t skipped(int reason)
        uint64_t skipped_total()

cdef extern from "ldp_frame.hpp" namespace "k8a" nogil:
    const int FRAME_SKIP_REASONS "int(k8a::FrameSkip::Count)"
    const char* frame_skip_name(int reason)
    cppclass FrameCounters:
        uint64_t frames()
        uint64_t skipped(int reason)
        uint64_t skipped_total()

cdef extern from "<string_view>" namespace "std" nogil:
    cppclass string_view:
        string_view(const char* data, size_t size)

cdef extern from "event_batch.hpp" namespace "k8a" nogil:
    void encode_plugin_event(uint8_t* dst, string_view payload, uint64_t ts_ns, uint32_t plugin_id)
    cppclass EventBatch:
        EventBatch(uint32_t plugin_id)
        void clear()
        uint32_t size()
        ss_plugin_event** events()

cdef extern from "file_replay.hpp" namespace "k8a" nogil:
    cppclass FileReplay:
        FileReplay(size_t max_event_size)
        bool open(const string& path, string& err)
        int fill(EventBatch& batch, uint32_t max_events, uint32_t max_ms)
        uint32_t progress()
        const ReaderCounters& counters()
        const FrameCounters& frame_counters()
        bool holds_frames()
        const string& error()
    enum:
        REPLAY_MORE "k8a::FileReplay::More"
        REPLAY_END "k8a::FileReplay::End"
        REPLAY_FAILED "k8a::FileReplay::Failed"

cdef extern from "wakeup.hpp" namespace "k8a" nogil:
    cppclass Wakeup:
        Wakeup()
        void arm()
        void wait(int timeout_ms)
        void disarm()

cdef extern from "<atomic>" namespace "std" nogil:
    cppclass atomic_u64 "std::atomic<uint64_t>":
        uint64_t load()
        uint64_t fetch_add(uint64_t)

cdef extern from "ldp_stream.hpp" namespace "k8a" nogil:
    const int DOCUMENT_SKIP_REASONS "k8a::GapCounters::kDocumentSkipReasons"
    cppclass GapCounters:
        atomic_u64 gaps_seen, gaps_filled, gaps_not_filled, events_recovered, duplicates_dropped
        atomic_u64 history_requests, history_errors, gap_fill_ms, gaps_late
        atomic_u64 documents_skipped[8]  # GapCounters::kDocumentSkipReasons (the plugin asserts the reasons fit)
    cppclass LdpStream:
        LdpStream(string cluster_name, size_t ring_bytes, size_t max_event_size, shared_ptr[Wakeup] wake) except +
        bool push_frame(const char* data, size_t len, bool binary)
        void drop_message(uint64_t size, uint64_t limit)
        void set_connected(bool up)
        void count_reconnect()
        void count_disconnect()
        void count_thread_error()
        uint64_t thread_errors()
        void set_fatal(const string& message)
        uint32_t drain(EventBatch& batch, uint32_t max)
        const char* fatal()
        void stop()
        const FrameCounters& frames()
        const ReaderCounters& events()
        bool connected()
        uint64_t reconnects()
        uint64_t disconnects()
        uint64_t stalls()
        size_t ring_used()
        size_t ring_capacity()
        void enable_history(size_t capacity, uint64_t window_ns, uint64_t hold_ns) except +
        void set_fill_floor(uint64_t ts_ns, uint64_t id)
        bool open_gap(uint64_t* last_ts)
        uint64_t first_live_ts(uint64_t gap)
        bool push_history(const char* data, size_t len)
        bool end_fill()
        void commit_delivered()
        uint64_t delivered_ts()
        uint64_t delivered_id()
        void set_history_healthy(bool healthy)
        bool has_history()
        void finish()
        bool done()
        GapCounters gap_counters
