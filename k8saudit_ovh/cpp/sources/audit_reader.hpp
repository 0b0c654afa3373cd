// Turns one JSON text (a line of a replay file, or the short_message of an LDP frame)
// into audit events, with upstream k8saudit's acceptance rules: an Event, an EventList,
// or a JSON array of those. Bad input is counted and logged (rate-limited), never fatal.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "json_tape.hpp"
#include "rate_log.hpp"
#include "simdjson.h"

namespace k8a {

// Why input was not turned into an event. Counted per reason; exposed as metrics.
enum class Skip : int {
    NotJson = 0,        // not parseable JSON (upstream: "cannot parse JSON ...")
    NotAudit,           // valid JSON but not an Event/EventList ("data not recognized ...")
    NoStageTimestamp,   // "can't read stageTimestamp"
    BadStageTimestamp,  // "parsing time ..."
    Oversized,          // payload over maxEventSize
    Blank,              // whitespace-only line ("cannot parse empty string")
    Count
};
const char* skip_reason_name(int reason);

// simdjson skips a leading UTF-8 byte-order mark; upstream's parser, and so we, refuse it.
inline bool starts_with_bom(std::string_view s) { return s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF"; }

// Atomic because plugin_get_metrics may read them from another thread.
class ReaderCounters {
public:
    void count_event() { events_.fetch_add(1, std::memory_order_relaxed); }
    void count_skip(Skip r) { skipped_[int(r)].fetch_add(1, std::memory_order_relaxed); }
    uint64_t events() const { return events_.load(std::memory_order_relaxed); }
    uint64_t skipped(int reason) const { return skipped_[reason].load(std::memory_order_relaxed); }
    uint64_t skipped_total() const;

private:
    std::atomic<uint64_t> events_{0};
    std::atomic<uint64_t> skipped_[int(Skip::Count)] = {};
};

// Receives each accepted event: its JSON and stageTimestamp and, when that JSON is the
// input's own bytes, the tape node it was parsed as (tape is null otherwise). All are
// valid only during the call.
class EventSink {
public:
    virtual ~EventSink() = default;
    // Returns false to stop delivery (the producer is shutting down).
    virtual bool emit(std::string_view json, uint64_t ts_ns, const JsonTape* tape, Node node) = 0;
};

struct ReadResult {
    size_t events = 0;
    Skip last_skip = Skip::Count;  // the last reason input was skipped, Count if none
    bool stopped = false;          // the sink asked to stop
};

class AuditReader {
public:
    // `quiet`: reasons counted but not logged (bits 1 << int(Skip)).
    AuditReader(size_t max_event_size, RateLimitedLog* log, unsigned quiet = 0);
    // Reads one JSON text.
    ReadResult read(std::string_view text, EventSink& sink);
    // Frees parse buffers that one input larger than `keep` bytes grew (see JsonTape).
    void release_if_larger(size_t keep);
    // With `on`, each event's identity (see identity()) is computed before it is emitted.
    void identify(bool on) { identify_ = on; }
    // The identity of the event being emitted: a hash of its auditID and stage (the
    // stages of one request share the auditID), of its JSON when it has no auditID.
    uint64_t identity() const { return identity_; }
    // Counts input that never reached read() (e.g. a line over the reader's line limit).
    void skip(Skip reason, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    ReaderCounters counters;

private:
    bool is_event_container(Node n);
    bool kind_is(Node n, std::string_view want);
    // Each returns false when the sink asked to stop.
    bool emit_value(Node n, EventSink& sink, ReadResult* r);
    bool emit_event(Node n, EventSink& sink, ReadResult* r);

    size_t max_event_size_;
    RateLimitedLog* log_;
    unsigned quiet_;
    // Upstream's parser (fastjson) decides what is an event: the same tape the extractor
    // uses accepts and rejects exactly what it does.
    JsonTape tape_;
    simdjson::dom::parser scalar_parser_;  // tells "not JSON" from a bare JSON scalar
    std::string padded_scalar_;
    std::string payload_;                  // an event upstream re-serializes differently from its input
    Skip last_skip_ = Skip::Count;
    bool identify_ = false;
    uint64_t identity_ = 0;
};

// FNV-1a, 64 bits, over parts: event identities (never 0, which marks "none").
constexpr uint64_t kIdentitySeed = 14695981039346656037ull;
uint64_t identity_step(uint64_t h, std::string_view part);
uint64_t identity_finish(uint64_t h, std::string_view last);
uint64_t identity_hash(std::string_view a, std::string_view b);

}  // namespace k8a
