# The C++ event path (k8saudit_ovh/cpp): reading input, building batches. Declared once.
from libc.stdint cimport uint32_t, uint64_t
from libcpp cimport bool
from libcpp.string cimport string
from k8saudit_ovh.includes.abi cimport ss_plugin_event

cdef extern from "audit_reader.hpp" namespace "k8a" nogil:
    const int SKIP_REASONS "int(k8a::Skip::Count)"
    const char* skip_reason_name(int reason)
    cppclass ReaderCounters:
        uint64_t events()
        uint64_t skipped(int reason)
        uint64_t skipped_total()

cdef extern from "event_batch.hpp" namespace "k8a" nogil:
    cppclass EventBatch:
        EventBatch(uint32_t plugin_id)
        void clear()
        uint32_t size()
        ss_plugin_event** events()

cdef extern from "file_replay.hpp" namespace "k8a" nogil:
    cppclass FileReplay:
        FileReplay(size_t max_event_size)
        bool open(const string& path, string& err)
        int fill(EventBatch& batch, uint32_t max_events)
        uint32_t progress()
        const ReaderCounters& counters()
        const string& error()
    enum:
        REPLAY_MORE "k8a::FileReplay::More"
        REPLAY_END "k8a::FileReplay::End"
        REPLAY_FAILED "k8a::FileReplay::Failed"
