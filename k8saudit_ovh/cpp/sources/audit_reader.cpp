#include "audit_reader.hpp"

#include <cstdarg>
#include <cstdio>

#include "rfc3339.hpp"

namespace k8a {

const char* skip_reason_name(int reason) {
    switch (Skip(reason)) {
        case Skip::NotJson: return "not_json";
        case Skip::NotAudit: return "not_audit_event";
        case Skip::NoStageTimestamp: return "no_stage_timestamp";
        case Skip::BadStageTimestamp: return "bad_stage_timestamp";
        case Skip::Oversized: return "oversized";
        case Skip::Blank: return "blank_line";
        default: return "unknown";
    }
}

uint64_t ReaderCounters::skipped_total() const {
    uint64_t t = 0;
    for (int r = 0; r < int(Skip::Count); r++) t += skipped(r);
    return t;
}

AuditReader::AuditReader(size_t max_event_size, RateLimitedLog* log, unsigned quiet)
    : max_event_size_(max_event_size), log_(log), quiet_(quiet) {}

void AuditReader::skip(Skip reason, const char* fmt, ...) {
    counters.count_skip(reason);
    last_skip_ = reason;
    if (!log_ || (quiet_ & (1u << int(reason)))) return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_->log(int(reason), "", "%s", msg);
}

static bool is_blank(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
    return true;
}

// Upstream reads `kind` with Get("kind").GetStringBytes(): the first "kind" member, if a string.
bool AuditReader::kind_is(Node n, std::string_view want) {
    Node kind = tape_.get(n, "kind");
    return kind != kNil && tape_.peek_type(kind) == JType::String && tape_.string(kind) == want;
}

// What upstream accepts as a line: an Event, an EventList with a non-empty items array,
// or an array of those (recursively). Anything else drops the whole line.
bool AuditReader::is_event_container(Node n) {
    if (tape_.peek_type(n) == JType::Array) {
        for (Node c = tape_.first_child(n); c != kNil; c = tape_.next_sibling(c, n))
            if (!is_event_container(c)) return false;
        return true;
    }
    if (tape_.peek_type(n) != JType::Object) return false;
    if (kind_is(n, "Event")) return true;
    Node items = kind_is(n, "EventList") ? tape_.get(n, "items") : kNil;
    return items != kNil && tape_.peek_type(items) == JType::Array && tape_.size(items) > 0;
}

ReadResult AuditReader::read(std::string_view text, EventSink& sink) {
    ReadResult r;
    last_skip_ = Skip::Count;
    if (text.empty()) {  // an empty line is skipped silently, as upstream does
        r.last_skip = Skip::Blank;
        return r;
    }
    if (is_blank(text)) {
        skip(Skip::Blank, "cannot parse JSON: cannot parse empty string");
    } else if (!tape_.parse(text.data(), text.size())) {
        // The tape only takes containers; a bare scalar is JSON, just not an event.
        padded_scalar_.assign(text.data(), text.size());
        padded_scalar_.append(simdjson::SIMDJSON_PADDING, '\0');
        simdjson::dom::element root;
        if (!starts_with_bom(text) && !scalar_parser_.parse(padded_scalar_.data(), text.size(), false).get(root) &&
            !root.is_array() && !root.is_object())
            skip(Skip::NotAudit, "data not recognized as a k8s audit event");
        else
            skip(Skip::NotJson, "cannot parse JSON");
    } else if (!is_event_container(0)) {
        skip(Skip::NotAudit, "data not recognized as a k8s audit event");
    } else {
        r.stopped = !emit_value(0, sink, &r);
    }
    r.last_skip = last_skip_;
    return r;
}

bool AuditReader::emit_value(Node n, EventSink& sink, ReadResult* r) {
    if (tape_.peek_type(n) == JType::Array) {
        for (Node c = tape_.first_child(n); c != kNil; c = tape_.next_sibling(c, n))
            if (!emit_value(c, sink, r)) return false;
        return true;
    }
    if (kind_is(n, "Event")) return emit_event(n, sink, r);
    // An EventList: its items are events whatever their kind (upstream does not check).
    Node items = tape_.get(n, "items");
    for (Node item = tape_.first_child(items); item != kNil; item = tape_.next_sibling(item, items))
        if (!emit_event(item, sink, r)) return false;
    return true;
}

// One event: upstream checks stageTimestamp, then the size of its re-serialized JSON.
// Returns false only when the sink asks to stop.
bool AuditReader::emit_event(Node n, EventSink& sink, ReadResult* r) {
    Node st = tape_.peek_type(n) == JType::Object ? tape_.get(n, "stageTimestamp") : kNil;
    if (st == kNil) {
        skip(Skip::NoStageTimestamp, "can't read stageTimestamp");
        return true;
    }
    // GetStringBytes of a non-string is nil, which parses as "".
    std::string_view text = tape_.peek_type(st) == JType::String ? tape_.string(st) : std::string_view();
    uint64_t ts;
    if (!parse_rfc3339_ns(text.data(), text.size(), &ts)) {
        skip(Skip::BadStageTimestamp, "parsing time \"%.*s\": not RFC 3339", int(text.size() > 64 ? 64 : text.size()),
             text.data());
        return true;
    }
    // Upstream re-serializes the event, which gives the input's bytes when it is compact.
    bool as_written = tape_.marshals_as_written(n);
    std::string_view json;
    if (as_written) {
        json = tape_.written(n);
    } else {
        payload_.clear();
        tape_.marshal(n, payload_);
        json = payload_;
    }
    if (json.size() > max_event_size_) {
        skip(Skip::Oversized, "event larger than maxEventSize: size=%zu", json.size());
        return true;
    }
    // Counted first: once in the ring, the event may reach Falco before emit() returns.
    counters.count_event();
    r->events++;
    if (identify_) {
        // After the JSON is made: querying a string changes how the tape marshals it.
        Node id = tape_.get(n, "auditID");
        if (id != kNil && tape_.peek_type(id) == JType::String) {
            // Each string() is valid until the next one: hashed in two steps.
            uint64_t h = identity_step(kIdentitySeed, tape_.string(id));
            Node stage = tape_.get(n, "stage");
            identity_ = identity_finish(h, stage != kNil && tape_.peek_type(stage) == JType::String
                                               ? tape_.string(stage) : std::string_view());
        } else {
            identity_ = identity_hash(json, {});
        }
    }
    return sink.emit(json, ts, as_written ? &tape_ : nullptr, n);
}

uint64_t identity_step(uint64_t h, std::string_view part) {
    for (unsigned char c : part) h = (h ^ c) * 1099511628211ull;
    return (h ^ 0xffu) * 1099511628211ull;  // a byte no UTF-8 text holds: "ab"+"c" != "a"+"bc"
}

uint64_t identity_finish(uint64_t h, std::string_view last) {
    h = identity_step(h, last);
    return h ? h : 1;
}

uint64_t identity_hash(std::string_view a, std::string_view b) { return identity_finish(identity_step(kIdentitySeed, a), b); }

void AuditReader::release_if_larger(size_t keep) {
    tape_.release_if_larger(keep);
    if (scalar_parser_.capacity() > keep) scalar_parser_ = simdjson::dom::parser();
    if (padded_scalar_.capacity() > keep) std::string().swap(padded_scalar_);
    if (payload_.capacity() > keep) std::string().swap(payload_);
}

}  // namespace k8a
