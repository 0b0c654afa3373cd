// One LDP stream inside an open instance: the frames its reader thread receives are
// unwrapped (without the GIL) into audit events that wait in a bounded SPSC ring until
// plugin_next_batch drains them. A full ring makes the reader wait (back-pressure).
//
// With history (gap-fill), a second ring holds the events a filler thread reads from LDP
// history, each fill closed by an end marker. A reconnect puts a gap marker in the live
// ring; when next_batch reaches it, it holds live delivery and takes the fill's events
// from the history ring until its end marker, so the gap comes in time order. The hold is
// bounded (holdBackS), and skipped while history is known to lag or fail or an earlier
// fill is still owed: live then goes on, and the history ring's events are delivered as
// they come (late, before the live events of the same call). Events delivered twice (the
// overlap) are dropped by their identity (auditID + stage).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cluster_name.hpp"
#include "event_batch.hpp"
#include "ldp_frame.hpp"
#include "rate_log.hpp"
#include "recent_ids.hpp"
#include "spsc_ring.hpp"
#include "wakeup.hpp"

namespace k8a {

// Counters of gap-filling; those the filler thread (Python) reports are added there.
struct GapCounters {
    // Stored documents skipped, by the history reader's reasons (sources/history/documents.py
    // names them; the plugin checks they fit).
    static constexpr int kDocumentSkipReasons = 8;
    std::atomic<uint64_t> gaps_seen{0}, gaps_filled{0}, gaps_not_filled{0}, events_recovered{0},
        duplicates_dropped{0}, history_requests{0}, history_errors{0}, gap_fill_ms{0}, gaps_late{0};
    std::atomic<uint64_t> documents_skipped[kDocumentSkipReasons] = {};
};

class LdpStream : public EventSink {
public:
    // `cluster_name`: the stream's name given in open params, "" for none.
    LdpStream(std::string cluster_name, size_t ring_bytes, size_t max_event_size, std::shared_ptr<Wakeup> wake);

    // ---- reader thread ----
    // Unwraps one frame into the ring; false once the stream is stopping.
    bool push_frame(const char* data, size_t len, bool binary);
    // Counts and logs a message the reader dropped unread: `size` bytes declared so far,
    // over the `limit` that any frame holding an event of maxEventSize stays within.
    void drop_message(uint64_t size, uint64_t limit);
    bool emit(std::string_view json, uint64_t ts_ns, const JsonTape* tape, Node node) override;
    void set_connected(bool up) { connected_.store(up, std::memory_order_relaxed); }
    void count_reconnect() { reconnects_.fetch_add(1, std::memory_order_relaxed); }
    void count_disconnect() { disconnects_.fetch_add(1, std::memory_order_relaxed); }
    // Any of the stream's threads (reader, gap-filler, replay, checkpointer) caught an
    // unexpected exception at its top, reported it and went on.
    void count_thread_error() { thread_errors_.fetch_add(1, std::memory_order_relaxed); }
    void set_fatal(const std::string& message);
    // A gap begins (a reconnect): its marker goes into the live ring, after every event
    // received before it. Returns false once the stream is stopping. `*last_ts` is the
    // time of the last event before the gap (0 if none).
    bool open_gap(uint64_t* last_ts);
    // Time of the first live event after gap number `gap` (counting from 1), 0 while none
    // has come (or when 64 later gaps have begun).
    uint64_t first_live_ts(uint64_t gap) const;

    // ---- before the threads start ----
    // Keeps the identities of the last `window_ns` of delivered events (at most
    // `capacity`) and a history ring: gaps can be filled. Live delivery waits at most
    // `hold_ns` at a gap for its fill (UINT64_MAX: until the fill ends).
    void enable_history(size_t capacity, uint64_t window_ns, uint64_t hold_ns);
    // The first fill (from a checkpoint) starts after the event `id` of time `ts_ns`: what
    // history holds before it was delivered before the restart.
    void set_fill_floor(uint64_t ts_ns, uint64_t id) {
        floor_ts_ = ts_ns;
        floor_id_ = id;
    }

    // ---- the filler thread ----
    // Unwraps one stored audit event text (a GELF short_message) into the history ring
    // with the reader of live frames' short_message. False once the stream is stopping.
    bool push_history(const char* data, size_t len);
    // The fill of the oldest open gap is over (filled or not): live delivery resumes.
    bool end_fill();
    // A history-only stream (history: source) has nothing more after what it pushed.
    void finish() { finished_.store(true, std::memory_order_release); }
    // Whether the last fill was whole: while not, live delivery does not wait at gaps.
    void set_history_healthy(bool healthy) { history_healthy_.store(healthy, std::memory_order_relaxed); }
    GapCounters gap_counters;

    // ---- Falco's event thread ----
    // Moves up to max events from the ring into batch.
    uint32_t drain(EventBatch& batch, uint32_t max);
    // next_batch was called again: the events drained before count as delivered.
    void commit_delivered() {
        delivered_ts_.store(drained_ts_, std::memory_order_relaxed);
        delivered_id_.store(drained_id_, std::memory_order_relaxed);
    }
    // The reader gave up (retries exhausted): its message, else nullptr.
    const char* fatal() const { return fatal_set_.load(std::memory_order_acquire) ? fatal_.c_str() : nullptr; }

    // ---- any thread ----
    void stop() { stopping_.store(true, std::memory_order_release); }
    const FrameCounters& frames() const { return unwrapper_.counters; }
    const ReaderCounters& events() const { return unwrapper_.reader().counters; }
    bool connected() const { return connected_.load(std::memory_order_relaxed); }
    uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }
    uint64_t disconnects() const { return disconnects_.load(std::memory_order_relaxed); }
    uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }
    uint64_t thread_errors() const { return thread_errors_.load(std::memory_order_relaxed); }
    size_t ring_used() const { return ring_.used(); }
    size_t ring_capacity() const { return ring_.capacity(); }
    // The last event Falco has received (time 0: none yet): what a checkpoint records.
    uint64_t delivered_ts() const { return delivered_ts_.load(std::memory_order_relaxed); }
    uint64_t delivered_id() const { return delivered_id_.load(std::memory_order_relaxed); }
    bool has_history() const { return history_ != nullptr; }
    // Falco's thread: finished, and every event delivered.
    bool done() const { return finished_.load(std::memory_order_acquire) && owed_ == 0 && ring_.used() == 0; }

private:
    // Writes one event into `ring`, waiting while it is full (back-pressure).
    bool push(SpscRing& ring, std::string_view json, uint64_t ts_ns, uint64_t id, ClusterNameTagger& tagger,
              std::string& tagged, AuditReader& reader);
    bool push_marker(SpscRing& ring);
    bool deliver(EventBatch& batch, std::string_view payload, uint64_t ts, uint64_t id, bool in_order);
    // Falco's thread: one event or marker of the history ring; false when it is empty.
    bool take_history(EventBatch& batch, uint32_t& n);
    void hold_live();
    bool hold_expired();

    // The history intake: its own reader (the filler thread parses beside the live one).
    struct HistorySink : EventSink {
        LdpStream* stream = nullptr;
        bool emit(std::string_view json, uint64_t ts_ns, const JsonTape*, Node) override;
    };
    struct History {
        History(size_t ring_bytes, size_t max_event_size, RateLimitedLog* log, size_t capacity, uint64_t window_ns)
            : ring(ring_bytes), reader(max_event_size, log), recent(capacity, window_ns) {}
        SpscRing ring;
        AuditReader reader;
        RecentIds recent;  // Falco's thread only
        HistorySink sink;
        ClusterNameTagger tagger;
        std::string tagged;
    };

    std::string cluster_name_;
    size_t ring_bytes_, max_event_size_;
    SpscRing ring_;
    std::unique_ptr<History> history_;
    // live producer only
    uint64_t last_live_ts_ = 0;
    bool awaiting_first_live_ = false;
    uint64_t gaps_opened_ = 0;
    // The first live event's time of the latest gaps, by gap number modulo their count: a
    // filler that falls behind still finds the gap it fills.
    struct FirstLive {
        std::atomic<uint64_t> gap{0}, ts{0};
    };
    static constexpr size_t kFirstLiveSlots = 64;
    FirstLive first_live_[kFirstLiveSlots];
    // Falco's thread only
    bool holding_ = false;     // live waits at a gap for its fill
    uint64_t owed_ = 0;        // fills whose end marker has not been drained yet
    uint64_t hold_ns_ = 0, hold_until_ns_ = 0;
    uint64_t floor_ts_ = 0, floor_id_ = 0;
    uint64_t drained_ts_ = 0, drained_id_ = 0;
    RateLimitedLog drain_log_;
    std::atomic<bool> finished_{false}, history_healthy_{true};
    std::atomic<uint64_t> delivered_ts_{0}, delivered_id_{0};
    std::shared_ptr<Wakeup> wake_;
    RateLimitedLog log_;
    FrameUnwrapper unwrapper_;
    ClusterNameTagger tagger_;  // stateless apart from its output buffer (each producer has one)
    std::string tagged_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<uint64_t> reconnects_{0}, disconnects_{0}, stalls_{0}, thread_errors_{0};
    std::string fatal_;
    std::atomic<bool> fatal_set_{false};
};

}  // namespace k8a
