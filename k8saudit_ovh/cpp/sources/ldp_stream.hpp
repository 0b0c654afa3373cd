// One LDP stream inside an open instance: the frames its reader thread receives are
// unwrapped (without the GIL) into audit events that wait in a bounded SPSC ring until
// plugin_next_batch drains them. A full ring makes the reader wait (back-pressure).
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
#include "spsc_ring.hpp"
#include "wakeup.hpp"

namespace k8a {

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
    void set_fatal(const std::string& message);

    // ---- Falco's event thread ----
    // Moves up to max events from the ring into batch.
    uint32_t drain(EventBatch& batch, uint32_t max);
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
    size_t ring_used() const { return ring_.used(); }
    size_t ring_capacity() const { return ring_.capacity(); }

private:
    std::string cluster_name_;
    SpscRing ring_;
    std::shared_ptr<Wakeup> wake_;
    RateLimitedLog log_;
    FrameUnwrapper unwrapper_;
    ClusterNameTagger tagger_;
    std::string tagged_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<uint64_t> reconnects_{0}, disconnects_{0}, stalls_{0};
    std::string fatal_;
    std::atomic<bool> fatal_set_{false};
};

}  // namespace k8a
