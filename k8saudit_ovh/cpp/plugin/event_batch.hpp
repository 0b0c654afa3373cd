// The batch returned by plugin_next_batch: plugin events (type 322) laid out back to back
// in one reused, 8-byte aligned arena, plus the pointer array the host reads. Both stay
// valid until the next fill, as the ABI requires; capacity is kept, so steady state
// allocates nothing.
// Beside each event it can keep the reader's parsed index of its JSON, so that the
// extractor adopts it instead of parsing the same bytes again (file replay, where the
// reader runs on Falco's event thread just before extraction).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "audit_reader.hpp"
#include "plugin_abi.h"

namespace k8a {

class EventBatch {
public:
    explicit EventBatch(uint32_t plugin_id) : plugin_id_(plugin_id) {}
    void clear();
    // `tape`, if given, parsed `payload` as node `node` (keeps its index, within a bound).
    void add(std::string_view payload, uint64_t ts_ns, const JsonTape* tape = nullptr, Node node = kNil);
    uint32_t size() const { return uint32_t(offsets_.size()); }
    // Pointers into the arena; valid until the next clear()/add().
    ss_plugin_event** events();
    // The index kept for `evt`, when it is an event of this batch as events() gave it.
    bool saved_tape(const ss_plugin_event* evt, SavedTape* out) const;

private:
    // Bounds the kept indexes (9 bytes per structural, 4.5 MiB of address space taken at
    // the first one, resident as used): events past it are parsed again.
    static constexpr size_t kMaxSavedStructurals = size_t(1) << 19;
    struct Saved {
        size_t at = 0;       // in saved_pos_/saved_end_/saved_flags_
        uint32_t count = 0;  // 0: nothing kept
    };

    uint32_t plugin_id_;
    // uint64_t words keep every event 8-byte aligned; grown by copy, never zeroed
    std::unique_ptr<uint64_t[]> arena_;
    size_t arena_words_ = 0, arena_used_ = 0;
    std::vector<size_t> offsets_;  // in uint64_t units
    std::vector<ss_plugin_event*> pointers_;
    std::vector<Saved> saved_;     // per event
    // kMaxSavedStructurals each, used up to saved_used_: never grown, never zeroed.
    std::unique_ptr<uint32_t[]> saved_pos_, saved_end_;
    std::unique_ptr<uint8_t[]> saved_flags_;
    size_t saved_used_ = 0;
    mutable size_t next_lookup_ = 0;  // the host extracts events in order: try the next one first
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
    bool emit(std::string_view json, uint64_t ts_ns, const JsonTape* tape, Node node) override {
        batch_->add(json, ts_ns, tape, node);
        return true;
    }

private:
    EventBatch* batch_;
};
}  // namespace k8a
