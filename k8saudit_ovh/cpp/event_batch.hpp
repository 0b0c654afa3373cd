// The batch returned by plugin_next_batch: plugin events (type 322) laid out back to back
// in one reused, 8-byte aligned arena, plus the pointer array the host reads. Both stay
// valid until the next fill, as the ABI requires; capacity is kept, so steady state
// allocates nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "audit_reader.hpp"
#include "plugin_abi.h"

namespace k8a {

class EventBatch {
public:
    explicit EventBatch(uint32_t plugin_id) : plugin_id_(plugin_id) {}
    void clear();
    void add(std::string_view payload, uint64_t ts_ns);
    uint32_t size() const { return uint32_t(offsets_.size()); }
    // Pointers into the arena; valid until the next clear()/add().
    ss_plugin_event** events();

private:
    uint32_t plugin_id_;
    std::vector<uint64_t> arena_;  // uint64_t elements keep every event 8-byte aligned
    std::vector<size_t> offsets_;  // in uint64_t units
    std::vector<ss_plugin_event*> pointers_;
};

// Writes one plugin event (header, two 4-byte param lengths, plugin id, payload) at dst,
// which must hold K8A_EVENT_PAYLOAD_OFFSET + payload.size() bytes. The one encoder of the
// event layout: batches and the Python API (_extract.pyx) use it.
void encode_plugin_event(uint8_t* dst, std::string_view payload, uint64_t ts_ns, uint32_t plugin_id);

}  // namespace k8a

namespace k8a {
// Hands reader output straight to a batch (file replay, where no ring is needed).
class BatchSink : public EventSink {
public:
    explicit BatchSink(EventBatch* batch) : batch_(batch) {}
    bool emit(std::string_view json, uint64_t ts_ns) override {
        batch_->add(json, ts_ns);
        return true;
    }

private:
    EventBatch* batch_;
};
}  // namespace k8a
