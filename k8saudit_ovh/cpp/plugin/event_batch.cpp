#include "event_batch.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace k8a {

void encode_plugin_event(uint8_t* dst, std::string_view payload, uint64_t ts_ns, uint32_t plugin_id) {
    ss_plugin_event hdr;
    hdr.ts = ts_ns;
    hdr.tid = UINT64_MAX;
    hdr.len = uint32_t(K8A_EVENT_PAYLOAD_OFFSET + payload.size());
    hdr.type = K8A_EVENT_TYPE_PLUGIN;
    hdr.nparams = 2;
    uint32_t lens[2] = {4, uint32_t(payload.size())};
    memcpy(dst, &hdr, K8A_EVENT_HEADER_LEN);
    memcpy(dst + K8A_EVENT_HEADER_LEN, lens, sizeof lens);
    memcpy(dst + K8A_EVENT_HEADER_LEN + sizeof lens, &plugin_id, 4);
    memcpy(dst + K8A_EVENT_PAYLOAD_OFFSET, payload.data(), payload.size());
}

void EventBatch::clear() {
    arena_used_ = 0;
    offsets_.clear();
    pointers_.clear();
    saved_.clear();
    saved_used_ = 0;
    next_lookup_ = 0;
}

void EventBatch::add(std::string_view payload, uint64_t ts_ns, const JsonTape* tape, Node node) {
    size_t words = (K8A_EVENT_PAYLOAD_OFFSET + payload.size() + 7) / 8;
    size_t at = arena_used_;
    if (at + words > arena_words_) {
        size_t grown = std::max({at + words, 2 * arena_words_, size_t(1) << 16});
        std::unique_ptr<uint64_t[]> bigger(new uint64_t[grown]);
        if (at) std::memcpy(bigger.get(), arena_.get(), at * sizeof(uint64_t));
        arena_ = std::move(bigger);
        arena_words_ = grown;
    }
    arena_used_ = at + words;
    encode_plugin_event(reinterpret_cast<uint8_t*>(arena_.get() + at), payload, ts_ns, plugin_id_);
    offsets_.push_back(at);
    Saved saved;
    if (tape && !saved_flags_) {  // uninitialized: untouched pages cost nothing
        saved_pos_.reset(new (std::nothrow) uint32_t[kMaxSavedStructurals]);
        saved_end_.reset(new (std::nothrow) uint32_t[kMaxSavedStructurals]);
        if (saved_pos_ && saved_end_) saved_flags_.reset(new (std::nothrow) uint8_t[kMaxSavedStructurals]);
    }
    if (tape && saved_flags_ && saved_used_ + tape->count(node) <= kMaxSavedStructurals) {
        saved = {saved_used_, tape->count(node)};
        saved_used_ += saved.count;
        tape->save(node, &saved_pos_[saved.at], &saved_end_[saved.at], &saved_flags_[saved.at]);
    }
    saved_.push_back(saved);
}

bool EventBatch::saved_tape(const ss_plugin_event* evt, SavedTape* out) const {
    size_t i = next_lookup_;
    if (i >= pointers_.size() || pointers_[i] != evt) {  // arena order: pointers ascend
        auto it = std::lower_bound(pointers_.begin(), pointers_.end(), evt,
                                   [](const ss_plugin_event* a, const ss_plugin_event* b) { return a < b; });
        if (it == pointers_.end() || *it != evt) return false;
        i = size_t(it - pointers_.begin());
    }
    next_lookup_ = i + 1;
    const Saved& s = saved_[i];
    if (!s.count) return false;
    *out = {&saved_pos_[s.at], &saved_end_[s.at], &saved_flags_[s.at], s.count};
    return true;
}

ss_plugin_event** EventBatch::events() {
    pointers_.resize(offsets_.size());
    for (size_t i = 0; i < offsets_.size(); i++)
        pointers_[i] = reinterpret_cast<ss_plugin_event*>(arena_.get() + offsets_[i]);
    return pointers_.data();
}

}  // namespace k8a
