// The JSON tape (fastjson's acceptance rules and lazy state on simdjson's stage 1): parse,
// walk every value the way the reader and the extractor do (lookups by every key, by a
// missing and an escaped key, by index), marshal, and adopt the saved index in a second
// tape, which must marshal the same text.
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "json_tape.hpp"

namespace {

void walk(k8a::JsonTape& t, k8a::Node n, std::string& sink) {
    switch (t.type(n)) {
        case k8a::JType::Object:
            for (k8a::Node m = t.first_child(n); m != k8a::kNil; m = t.next_sibling(m, n)) {
                std::string key(t.key(m, n));
                if (t.get(n, key) == k8a::kNil) abort();  // a key of the object finds a member
                walk(t, m, sink);
            }
            t.get(n, "no such key");
            t.get(n, "a\\\"b");
            t.get(n, "0");
            break;
        case k8a::JType::Array: {
            size_t count = 0;
            for (k8a::Node c = t.first_child(n); c != k8a::kNil; c = t.next_sibling(c, n)) {
                walk(t, c, sink);
                count++;
            }
            if (count != t.size(n)) abort();
            if (count && t.get(n, "0") == k8a::kNil) abort();
            t.get(n, std::to_string(count));
            break;
        }
        case k8a::JType::String:
            sink.assign(t.string(n));
            t.append_string(n, sink);
            break;
        default:
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static k8a::JsonTape tape, adopter;
    static std::string text, again, sink;
    static std::vector<uint32_t> pos, end;
    static std::vector<uint8_t> flags;
    auto copy = k8a_fuzz::exact_copy(data, size);
    if (!tape.parse(copy.get(), size)) return 0;
    // The saved index first: save() gives the fresh state, as the reader hands it over.
    uint32_t count = tape.count(0);
    pos.resize(count), end.resize(count), flags.resize(count);
    tape.save(0, pos.data(), end.data(), flags.data());
    std::string_view written = tape.written(0);
    if (written.size() > size) abort();
    text.clear();
    tape.marshal(0, text);  // nothing touched yet: as written when it says so
    if (tape.marshals_as_written(0) && text != written) abort();
    tape.list_root_members();
    walk(tape, 0, sink);
    text.clear();
    tape.marshal(0, text);

    k8a::SavedTape saved{pos.data(), end.data(), flags.data(), count};
    // The reader hands over the index of an event with its written bytes (no whitespace around).
    if (!adopter.adopt(written.data(), written.size(), saved)) abort();
    walk(adopter, 0, sink);
    again.clear();
    adopter.marshal(0, again);
    if (again != text) abort();  // the same walk from the same state marshals the same
    return 0;
}
