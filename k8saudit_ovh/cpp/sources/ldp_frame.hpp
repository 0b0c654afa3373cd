// Unwraps one LDP WebSocket frame: JSON envelope -> "message" (a GELF document as a JSON
// string) -> "short_message" (the audit Event, EventList or array as a JSON string) ->
// AuditReader. Each frame ends as events or as one counted skip reason; frames of other
// logs sharing the stream are normal and only counted.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "audit_reader.hpp"
#include "simdjson.h"

namespace k8a {

// Outcomes as named in the corpus' *.frames.expected.jsonl.
enum class FrameSkip : int {
    Binary = 0,
    Empty,
    NotJson,
    NotObject,
    NoMessage,
    MessageNotString,
    MessageNotJson,
    NoShortMessage,
    ShortMessageNotString,
    ShortMessageNotJson,
    NotAuditEvent,
    AuditEventRejected,
    TooLarge,  // dropped unread by the reader (see ws_frames.py)
    Count
};
const char* frame_skip_name(int reason);

class FrameCounters {
public:
    void count_frame() { frames_.fetch_add(1, std::memory_order_relaxed); }
    void count_skip(FrameSkip r) { skipped_[int(r)].fetch_add(1, std::memory_order_relaxed); }
    uint64_t frames() const { return frames_.load(std::memory_order_relaxed); }
    uint64_t skipped(int reason) const { return skipped_[reason].load(std::memory_order_relaxed); }
    uint64_t skipped_total() const;

private:
    std::atomic<uint64_t> frames_{0};
    std::atomic<uint64_t> skipped_[int(FrameSkip::Count)] = {};
};

class FrameUnwrapper {
public:
    FrameUnwrapper(size_t max_event_size, RateLimitedLog* log);
    // Returns the number of events handed to sink; -1 when the sink asked to stop.
    long unwrap(std::string_view frame, bool binary, EventSink& sink);
    // Frees parse buffers that one frame larger than `keep` bytes grew.
    void release_if_larger(size_t keep);
    AuditReader& reader() { return reader_; }
    const AuditReader& reader() const { return reader_; }
    FrameCounters counters;

private:
    bool parse_string_field(simdjson::dom::parser& p, std::string& padded, std::string_view json,
                            const char* key, std::string_view* out, FrameSkip not_json, FrameSkip not_object,
                            FrameSkip missing, FrameSkip not_string);

    AuditReader reader_;
    simdjson::dom::parser envelope_parser_, gelf_parser_;
    std::string envelope_buf_, gelf_buf_;
};

// Whether a replay file holds LDP frames rather than audit events, from its first line.
bool looks_like_ldp_frame(std::string_view line);

}  // namespace k8a
