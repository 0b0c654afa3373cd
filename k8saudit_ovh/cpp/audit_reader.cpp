#include "audit_reader.hpp"

#include <cstdarg>
#include <cstdio>

#include "rfc3339.hpp"

namespace k8a {

namespace dom = simdjson::dom;
namespace od = simdjson::ondemand;

// fastjson, upstream's parser, refuses a scalar nested in 300 containers (299 pass).
static constexpr size_t kMaxDepth = 300;

const char* skip_reason_name(int reason) {
    Skip r = Skip(reason);
    switch (r) {
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

AuditReader::AuditReader(size_t max_event_size, RateLimitedLog* log)
    : max_event_size_(max_event_size), log_(log) {
    // Later documents grow the capacity but keep this depth limit.
    if (dom_.allocate(64 * 1024, kMaxDepth)) log_line("cannot allocate the JSON parser");
}

void AuditReader::skip(Skip reason, const char* fmt, ...) {
    counters.count_skip(reason);
    last_skip_ = reason;
    if (!log_) return;
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

static bool kind_is(dom::element e, std::string_view want) {
    std::string_view kind;
    return e.is_object() && e.get_object()["kind"].get_string().get(kind) == simdjson::SUCCESS && kind == want;
}

// An element upstream accepts inside a JSON array: an Event, an EventList with a
// non-empty items array, or (recursively) an array of those.
bool AuditReader::is_event_container(dom::element e) const {
    if (e.is_array()) {
        dom::array arr = e.get_array().value_unsafe();
        for (dom::element child : arr)
            if (!is_event_container(child)) return false;
        return true;
    }
    if (kind_is(e, "Event")) return true;
    dom::array items;
    return kind_is(e, "EventList") && e.get_object()["items"].get_array().get(items) == simdjson::SUCCESS &&
           items.size() > 0;
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
        r.last_skip = last_skip_;
        return r;
    }
    padded_.assign(text.data(), text.size());
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    dom::element root;
    auto err = starts_with_bom(text) ? simdjson::UTF8_ERROR : dom_.parse(padded_.data(), text.size(), false).get(root);
    if (err) {
        skip(Skip::NotJson, "cannot parse JSON: %s", simdjson::error_message(err));
        r.last_skip = last_skip_;
        return r;
    }
    if (!is_event_container(root)) {
        skip(Skip::NotAudit, "data not recognized as a k8s audit event");
        r.last_skip = last_skip_;
        return r;
    }
    if (kind_is(root, "Event")) {  // the common case: the text is the event
        r.stopped = !emit_event(root, text, sink, &r);
        r.last_skip = last_skip_;
        return r;
    }
    // The DOM validated and classified the text; the on-demand pass over the same bytes
    // gives the raw span of each event inside it, which the DOM does not keep.
    od::document doc;
    od::value v;
    if (ondemand_.iterate(padded_.data(), text.size(), padded_.size()).get(doc) || doc.get_value().get(v)) {
        skip(Skip::NotJson, "cannot parse JSON");
        r.last_skip = last_skip_;
        return r;
    }
    r.stopped = !emit_value(root, v, sink, &r);
    r.last_skip = last_skip_;
    return r;
}

// The DOM pass validated the text, so the on-demand pass cannot fail; if it ever does,
// the rest of the text is skipped rather than trusted.
bool AuditReader::malformed() {
    skip(Skip::NotJson, "cannot parse JSON: inconsistent parse");
    return true;
}

bool AuditReader::emit_value(dom::element e, od::value v, EventSink& sink, ReadResult* r) {
    if (e.is_array()) {
        od::array arr;
        if (v.get_array().get(arr)) return malformed();
        auto it = arr.begin();
        dom::array children = e.get_array().value_unsafe();
        for (dom::element child : children) {
            od::value cv;
            if ((*it).get(cv)) return malformed();
            if (!emit_value(child, cv, sink, r)) return false;
            ++it;
        }
        return true;
    }
    if (kind_is(e, "Event")) {
        std::string_view raw;
        if (v.raw_json().get(raw)) return malformed();
        return emit_event(e, raw, sink, r);
    }
    od::object obj;
    od::array items;
    if (v.get_object().get(obj) || obj.find_field_unordered("items").get_array().get(items)) return malformed();
    dom::array dom_items = e.get_object()["items"].get_array().value_unsafe();
    return emit_list(dom_items, items, sink, r);
}

bool AuditReader::emit_list(dom::array items, od::array od_items, EventSink& sink, ReadResult* r) {
    auto it = od_items.begin();
    for (dom::element item : items) {
        od::value v;
        std::string_view raw;
        if ((*it).get(v) || v.raw_json().get(raw)) return malformed();
        if (!emit_event(item, raw, sink, r)) return false;
        ++it;
    }
    return true;
}

// One event: upstream checks stageTimestamp, then the payload size. Returns false only
// when the sink asks to stop.
bool AuditReader::emit_event(dom::element e, std::string_view raw, EventSink& sink, ReadResult* r) {
    dom::element st;
    if (!e.is_object() || e.get_object()["stageTimestamp"].get(st)) {
        skip(Skip::NoStageTimestamp, "can't read stageTimestamp");
        return true;
    }
    std::string_view text;  // a non-string value parses as "" upstream
    if (st.get_string().get(text)) text = {};
    uint64_t ts;
    if (!parse_rfc3339_ns(text.data(), text.size(), &ts)) {
        skip(Skip::BadStageTimestamp, "parsing time \"%.*s\": not RFC 3339", int(text.size() > 64 ? 64 : text.size()),
             text.data());
        return true;
    }
    // The payload is the event's own JSON without insignificant whitespace.
    minified_.resize(raw.size());
    size_t len = 0;
    if (simdjson::minify(raw.data(), raw.size(), minified_.data(), len)) {
        skip(Skip::NotJson, "cannot parse JSON: minify failed");
        return true;
    }
    if (len > max_event_size_) {
        skip(Skip::Oversized, "event larger than maxEventSize: size=%zu", len);
        return true;
    }
    // Counted first: once in the ring, the event may reach Falco before emit() returns.
    counters.count_event();
    r->events++;
    return sink.emit(std::string_view(minified_.data(), len), ts);
}

}  // namespace k8a
