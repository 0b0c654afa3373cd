#include "recent_ids.hpp"

namespace k8a {

static size_t pow2_at_least(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

RecentIds::RecentIds(size_t capacity, uint64_t window_ns)
    : table_(pow2_at_least(2 * capacity), 0), mask_(table_.size() - 1), fifo_(capacity), window_ns_(window_ns) {}

size_t RecentIds::find(uint64_t id) const {
    size_t i = (id * 0x9E3779B97F4A7C15ull >> 17) & mask_;
    while (table_[i] != 0 && table_[i] != id) i = (i + 1) & mask_;
    return i;
}

bool RecentIds::seen_or_add(uint64_t id, uint64_t ts_ns) {
    if (ts_ns > newest_ts_) newest_ts_ = ts_ns;
    while (count_ > 0 && fifo_[head_].ts + window_ns_ < newest_ts_) erase_oldest();
    size_t slot = find(id);
    if (table_[slot] == id) return true;
    if (count_ == fifo_.size()) {
        erase_oldest();
        slot = find(id);
    }
    table_[slot] = id;
    fifo_[(head_ + count_) % fifo_.size()] = Entry{id, ts_ns};
    count_++;
    return false;
}

void RecentIds::erase_oldest() {
    size_t i = find(fifo_[head_].id);
    head_ = (head_ + 1) % fifo_.size();
    count_--;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    for (size_t j = (i + 1) & mask_; table_[j] != 0; j = (j + 1) & mask_) {
        size_t home = (table_[j] * 0x9E3779B97F4A7C15ull >> 17) & mask_;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        table_[i] = table_[j];
        i = j;
    }
    table_[i] = 0;
}

}  // namespace k8a
