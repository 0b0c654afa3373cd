// Bounded single-producer / single-consumer byte ring of audit event records
// ([u32 length][u32 pad][u64 timestamp][u64 identity][payload], 8-byte aligned). The reader thread
// pushes, Falco's event thread pops; head and tail are the only shared state, published
// with release stores and read with acquire loads, so neither side ever takes a lock.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace k8a {

class SpscRing {
public:
    explicit SpscRing(size_t capacity_bytes) : buf_((capacity_bytes + 7) / 8 * 8) {}

    size_t capacity() const { return buf_.size(); }
    size_t used() const {
        return size_t(head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire));
    }
    // Largest payload that can ever fit (a record must not need the whole ring).
    size_t max_payload() const { return capacity() / 2 - kHeader; }

    // Producer: false when there is no room now (the caller waits and retries).
    bool try_push(std::string_view payload, uint64_t ts, uint64_t id = 0) {
        size_t need = record_size(payload.size());
        uint64_t head = head_.load(std::memory_order_relaxed);
        uint64_t tail = tail_.load(std::memory_order_acquire);
        size_t at = size_t(head % capacity());
        size_t to_end = capacity() - at;
        // A record never wraps: if it does not fit before the end, a skip marker fills
        // the rest and the record starts at offset 0.
        size_t total = need <= to_end ? need : to_end + need;
        if (capacity() - size_t(head - tail) < total) return false;
        if (need > to_end) {
            memcpy(&buf_[at], &kWrapMarker, 4);  // to_end >= 8: the marker always fits
            at = 0;
            head += to_end;
        }
        write_header(at, uint32_t(payload.size()), ts, id);
        if (!payload.empty()) memcpy(&buf_[at + kHeader], payload.data(), payload.size());  // a marker has no data
        head_.store(head + need, std::memory_order_release);
        return true;
    }

    // Consumer: the oldest record, valid until pop(). False when empty.
    bool peek(std::string_view* payload, uint64_t* ts, uint64_t* id = nullptr) {
        uint64_t tail = tail_.load(std::memory_order_relaxed);
        for (;;) {
            if (tail == head_.load(std::memory_order_acquire)) return false;
            size_t at = size_t(tail % capacity());
            uint32_t len;
            memcpy(&len, &buf_[at], 4);
            if (len == kWrapMarker) {
                tail += capacity() - at;
                tail_.store(tail, std::memory_order_release);
                continue;
            }
            memcpy(ts, &buf_[at + 8], 8);
            if (id != nullptr) memcpy(id, &buf_[at + 16], 8);
            *payload = std::string_view(&buf_[at + kHeader], len);
            return true;
        }
    }
    void pop(size_t payload_size) {
        uint64_t tail = tail_.load(std::memory_order_relaxed);
        tail_.store(tail + record_size(payload_size), std::memory_order_release);
    }

private:
    static constexpr size_t kHeader = 24;
    static constexpr uint32_t kWrapMarker = 0xFFFFFFFFu;
    static size_t record_size(size_t payload) { return (kHeader + payload + 7) / 8 * 8; }
    void write_header(size_t at, uint32_t len, uint64_t ts, uint64_t id) {
        memcpy(&buf_[at], &len, 4);
        memcpy(&buf_[at + 8], &ts, 8);
        memcpy(&buf_[at + 16], &id, 8);
    }

    std::vector<char> buf_;
    alignas(64) std::atomic<uint64_t> head_{0};  // bytes ever written (producer)
    alignas(64) std::atomic<uint64_t> tail_{0};  // bytes ever released (consumer)
};

}  // namespace k8a
