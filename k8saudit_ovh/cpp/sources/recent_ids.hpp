// The identities of the events delivered lately, for dropping those a gap-fill brings a
// second time: the events of the last `window` (by event time), at most `capacity` of
// them, in tables allocated once (open addressing with backward-shift deletion, and a
// FIFO in delivery order), so Falco's event thread never allocates per event.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace k8a {

class RecentIds {
public:
    RecentIds(size_t capacity, uint64_t window_ns);
    // True when `id` was delivered within the window; otherwise remembers it.
    bool seen_or_add(uint64_t id, uint64_t ts_ns);
    size_t size() const { return count_; }

private:
    struct Entry {
        uint64_t id, ts;
    };
    size_t find(uint64_t id) const;  // its slot, or the empty slot where it would go
    void erase_oldest();

    std::vector<uint64_t> table_;  // 0: empty slot
    size_t mask_;
    std::vector<Entry> fifo_;
    size_t head_ = 0, count_ = 0;
    uint64_t window_ns_, newest_ts_ = 0;
};

}  // namespace k8a
