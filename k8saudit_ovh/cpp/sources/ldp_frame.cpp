#include "ldp_frame.hpp"

namespace k8a {

namespace dom = simdjson::dom;

const char* frame_skip_name(int reason) {
    static const char* const names[] = {
        "binary_frame",           "empty_frame",     "frame_not_json",   "frame_not_object",
        "no_message",             "message_not_string", "message_not_json", "no_short_message",
        "short_message_not_string", "short_message_not_json", "not_audit_event", "audit_event_rejected",
        "frame_too_large"};
    return reason >= 0 && reason < int(FrameSkip::Count) ? names[reason] : "unknown";
}

uint64_t FrameCounters::skipped_total() const {
    uint64_t t = 0;
    for (int r = 0; r < int(FrameSkip::Count); r++) t += skipped(r);
    return t;
}

// Other logs sharing an LDP stream (plain text, other JSON) are routine there: counted, not
// logged. Audit events that are dropped are logged (rate-limited).
static constexpr unsigned kRoutineSkips =
    1u << int(Skip::NotJson) | 1u << int(Skip::NotAudit) | 1u << int(Skip::Blank);

FrameUnwrapper::FrameUnwrapper(size_t max_event_size, RateLimitedLog* log)
    : reader_(max_event_size, log, kRoutineSkips) {}

// Parses `json` as an object and returns its string member `key` (unescaped, valid until
// the parser's next use), counting the first way it fails.
bool FrameUnwrapper::parse_string_field(dom::parser& p, std::string& padded, std::string_view json, const char* key,
                                        std::string_view* out, FrameSkip not_json, FrameSkip not_object,
                                        FrameSkip missing, FrameSkip not_string) {
    padded.assign(json.data(), json.size());
    padded.append(simdjson::SIMDJSON_PADDING, '\0');
    dom::element root;
    FrameSkip why;
    // A bare null counts as "not JSON", as LDP consumers treat it (corpus expectations).
    if (starts_with_bom(json) || p.parse(padded.data(), json.size(), false).get(root) || root.is_null())
        why = not_json;
    else if (!root.is_object()) why = not_object;
    else {
        dom::element v;
        if (root.get_object()[key].get(v)) why = missing;
        else if (v.get_string().get(*out)) why = not_string;
        else return true;
    }
    counters.count_skip(why);
    return false;
}

long FrameUnwrapper::unwrap(std::string_view frame, bool binary, EventSink& sink) {
    counters.count_frame();
    if (binary) {
        counters.count_skip(FrameSkip::Binary);
        return 0;
    }
    if (frame.empty()) {
        counters.count_skip(FrameSkip::Empty);
        return 0;
    }
    std::string_view gelf, audit;
    if (!parse_string_field(envelope_parser_, envelope_buf_, frame, "message", &gelf, FrameSkip::NotJson,
                            FrameSkip::NotObject, FrameSkip::NoMessage, FrameSkip::MessageNotString))
        return 0;
    // A GELF message that is not an object is as useless as one that is not JSON.
    if (!parse_string_field(gelf_parser_, gelf_buf_, gelf, "short_message", &audit, FrameSkip::MessageNotJson,
                            FrameSkip::MessageNotJson, FrameSkip::NoShortMessage, FrameSkip::ShortMessageNotString))
        return 0;
    ReadResult r = reader_.read(audit, sink);
    if (r.stopped) return -1;
    if (r.events == 0) {
        FrameSkip why = r.last_skip == Skip::NotJson || r.last_skip == Skip::Blank ? FrameSkip::ShortMessageNotJson
                        : r.last_skip == Skip::NotAudit ? FrameSkip::NotAuditEvent
                                                         : FrameSkip::AuditEventRejected;
        counters.count_skip(why);
    }
    return long(r.events);
}

void FrameUnwrapper::release_if_larger(size_t keep) {
    for (auto* p : {&envelope_parser_, &gelf_parser_})
        if (p->capacity() > keep) *p = dom::parser();
    for (auto* b : {&envelope_buf_, &gelf_buf_})
        if (b->capacity() > keep) std::string().swap(*b);
    reader_.release_if_larger(keep);
}

bool looks_like_ldp_frame(std::string_view line) {
    if (line.rfind("#binary:", 0) == 0) return true;
    simdjson::dom::parser p;
    dom::element root;
    std::string padded(line);
    padded.append(simdjson::SIMDJSON_PADDING, '\0');
    if (p.parse(padded.data(), line.size(), false).get(root) || !root.is_object()) return false;
    dom::object obj = root.get_object().value_unsafe();
    dom::element unused;
    return obj["kind"].get(unused) != simdjson::SUCCESS && obj["message"].is_string();
}

}  // namespace k8a
