#include "event_batch.hpp"

#include <cstring>

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
    arena_.clear();
    offsets_.clear();
}

void EventBatch::add(std::string_view payload, uint64_t ts_ns) {
    size_t words = (K8A_EVENT_PAYLOAD_OFFSET + payload.size() + 7) / 8;
    size_t at = arena_.size();
    arena_.resize(at + words);
    encode_plugin_event(reinterpret_cast<uint8_t*>(arena_.data() + at), payload, ts_ns, plugin_id_);
    offsets_.push_back(at);
}

ss_plugin_event** EventBatch::events() {
    pointers_.resize(offsets_.size());
    for (size_t i = 0; i < offsets_.size(); i++)
        pointers_[i] = reinterpret_cast<ss_plugin_event*>(arena_.data() + offsets_[i]);
    return pointers_.data();
}

}  // namespace k8a
