#include "ldp_stream.hpp"

#include <malloc.h>

#include <ctime>

namespace k8a {

// A live stream repeats its problems: each kind of dropped audit event is logged once a
// minute at most (frames of other logs are only counted, see ldp_frame.cpp).
static constexpr uint64_t kFrameLogIntervalNs = 60'000'000'000ull;

LdpStream::LdpStream(std::string cluster_name, size_t ring_bytes, size_t max_event_size, std::shared_ptr<Wakeup> wake)
    : cluster_name_(std::move(cluster_name)),
      ring_(ring_bytes),
      wake_(std::move(wake)),
      log_(kFrameLogIntervalNs),
      unwrapper_(max_event_size, &log_) {}

// Parse buffers keep the size of the largest frame they saw; after a frame above this they
// are freed, and the heap trimmed, so one large frame does not hold memory for the life of
// the stream.
static constexpr size_t kKeepParseBytes = 1 << 20;

bool LdpStream::push_frame(const char* data, size_t len, bool binary) {
    if (stopping_.load(std::memory_order_acquire)) return false;
    bool more = unwrapper_.unwrap(std::string_view(data, len), binary, *this) >= 0;
    if (len > kKeepParseBytes) {
        unwrapper_.release_if_larger(kKeepParseBytes);
        if (tagged_.capacity() > kKeepParseBytes) std::string().swap(tagged_);
        malloc_trim(0);
    }
    return more;
}

void LdpStream::drop_message(uint64_t size, uint64_t limit) {
    unwrapper_.counters.count_frame();
    unwrapper_.counters.count_skip(FrameSkip::TooLarge);
    log_.log(int(FrameSkip::TooLarge), "", "frame dropped unread: its size (%llu bytes so far) is over %llu, "
             "more than any event of maxEventSize needs", (unsigned long long)size, (unsigned long long)limit);
}

bool LdpStream::emit(std::string_view json, uint64_t ts_ns, const JsonTape*, Node) {
    if (!cluster_name_.empty()) json = tagger_.tag(json, cluster_name_, tagged_);
    if (json.size() > ring_.max_payload()) {  // only reachable with the name added
        unwrapper_.reader().skip(Skip::Oversized, "event larger than the ring: size=%zu", json.size());
        return true;
    }
    bool stalled = false;
    while (!ring_.try_push(json, ts_ns)) {
        if (stopping_.load(std::memory_order_acquire)) return false;
        if (!stalled) {
            stalls_.fetch_add(1, std::memory_order_relaxed);
            stalled = true;
        }
        timespec ts{0, 500'000};  // the consumer frees room within one next_batch call
        nanosleep(&ts, nullptr);
    }
    wake_->notify();
    return true;
}

void LdpStream::set_fatal(const std::string& message) {
    if (fatal_set_.load(std::memory_order_acquire)) return;
    fatal_ = message;
    fatal_set_.store(true, std::memory_order_release);
    wake_->notify();
}

uint32_t LdpStream::drain(EventBatch& batch, uint32_t max) {
    uint32_t n = 0;
    std::string_view payload;
    uint64_t ts;
    while (n < max && ring_.peek(&payload, &ts)) {
        batch.add(payload, ts);
        ring_.pop(payload.size());
        n++;
    }
    return n;
}

}  // namespace k8a
