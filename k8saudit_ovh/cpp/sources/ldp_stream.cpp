#include "ldp_stream.hpp"

#include <malloc.h>

#include <ctime>

namespace k8a {

// A live stream repeats its problems: each kind of dropped audit event is logged once a
// minute at most (frames of other logs are only counted, see ldp_frame.cpp).
static constexpr uint64_t kFrameLogIntervalNs = 60'000'000'000ull;

LdpStream::LdpStream(std::string cluster_name, size_t ring_bytes, size_t max_event_size, std::shared_ptr<Wakeup> wake)
    : cluster_name_(std::move(cluster_name)),
      ring_bytes_(ring_bytes),
      max_event_size_(max_event_size),
      ring_(ring_bytes),
      wake_(std::move(wake)),
      drain_log_(kFrameLogIntervalNs),
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

void LdpStream::enable_history(size_t capacity, uint64_t window_ns, uint64_t hold_ns) {
    hold_ns_ = hold_ns;
    history_ = std::make_unique<History>(ring_bytes_, max_event_size_, &log_, capacity, window_ns);
    history_->sink.stream = this;
    history_->reader.identify(true);
    unwrapper_.reader().identify(true);
}

bool LdpStream::emit(std::string_view json, uint64_t ts_ns, const JsonTape*, Node) {
    if (!push(ring_, json, ts_ns, unwrapper_.reader().identity(), tagger_, tagged_, unwrapper_.reader()))
        return false;
    last_live_ts_ = ts_ns;
    if (awaiting_first_live_) {
        awaiting_first_live_ = false;
        FirstLive& slot = first_live_[gaps_opened_ % kFirstLiveSlots];
        slot.gap.store(0, std::memory_order_release);
        slot.ts.store(ts_ns, std::memory_order_release);
        slot.gap.store(gaps_opened_, std::memory_order_release);
    }
    return true;
}

bool LdpStream::HistorySink::emit(std::string_view json, uint64_t ts_ns, const JsonTape*, Node) {
    History& h = *stream->history_;
    return stream->push(h.ring, json, ts_ns, h.reader.identity(), h.tagger, h.tagged, h.reader);
}

bool LdpStream::push(SpscRing& ring, std::string_view json, uint64_t ts_ns, uint64_t id, ClusterNameTagger& tagger,
                     std::string& tagged, AuditReader& reader) {
    if (!cluster_name_.empty()) json = tagger.tag(json, cluster_name_, tagged);
    if (json.size() > ring.max_payload()) {  // only reachable with the name added
        reader.skip(Skip::Oversized, "event larger than the ring: size=%zu", json.size());
        return true;
    }
    bool stalled = false;
    while (!ring.try_push(json, ts_ns, id)) {
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

// A marker is an empty record: no audit event is empty.
bool LdpStream::push_marker(SpscRing& ring) {
    while (!ring.try_push(std::string_view(), 0, 0)) {
        if (stopping_.load(std::memory_order_acquire)) return false;
        timespec ts{0, 500'000};
        nanosleep(&ts, nullptr);
    }
    wake_->notify();
    return true;
}

bool LdpStream::open_gap(uint64_t* last_ts) {
    *last_ts = last_live_ts_;
    gap_counters.gaps_seen.fetch_add(1, std::memory_order_relaxed);
    gaps_opened_++;
    awaiting_first_live_ = true;
    return push_marker(ring_);
}

uint64_t LdpStream::first_live_ts(uint64_t gap) const {
    const FirstLive& slot = first_live_[gap % kFirstLiveSlots];
    if (slot.gap.load(std::memory_order_acquire) != gap) return 0;
    uint64_t ts = slot.ts.load(std::memory_order_acquire);
    // The slot may have been reused between the loads: then this time is not gap's.
    return slot.gap.load(std::memory_order_acquire) == gap ? ts : 0;
}

bool LdpStream::push_history(const char* data, size_t len) {
    if (stopping_.load(std::memory_order_acquire)) return false;
    return !history_->reader.read(std::string_view(data, len), history_->sink).stopped;
}

bool LdpStream::end_fill() { return push_marker(history_->ring); }

void LdpStream::set_fatal(const std::string& message) {
    if (fatal_set_.load(std::memory_order_acquire)) return;
    fatal_ = message;
    fatal_set_.store(true, std::memory_order_release);
    wake_->notify();
}

static uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// Events are "in order" (they move the checkpoint) when they come from the live ring with
// no fill owed, or from the fill live is waiting for: the checkpoint never passes a range
// that is still to come late.
bool LdpStream::deliver(EventBatch& batch, std::string_view payload, uint64_t ts, uint64_t id, bool in_order) {
    if (history_ && history_->recent.seen_or_add(id, ts)) {
        gap_counters.duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    batch.add(payload, ts);
    if (in_order) {
        drained_ts_ = ts;
        drained_id_ = id;
    }
    return true;
}

void LdpStream::hold_live() {
    holding_ = true;
    hold_until_ns_ = hold_ns_ == UINT64_MAX ? UINT64_MAX : monotonic_ns() + hold_ns_;
}

bool LdpStream::hold_expired() {
    if (!history_healthy_.load(std::memory_order_relaxed)) return true;  // the fill failed or lags
    return hold_until_ns_ != UINT64_MAX && monotonic_ns() >= hold_until_ns_;
}

bool LdpStream::take_history(EventBatch& batch, uint32_t& n) {
    std::string_view payload;
    uint64_t ts, id;
    SpscRing& ring = history_->ring;
    if (!ring.peek(&payload, &ts, &id)) return false;
    if (payload.empty()) {  // a fill ends
        owed_--;
        floor_ts_ = floor_id_ = 0;  // the checkpoint's floor holds for the first fill only
        if (owed_ == 0) holding_ = false;
    } else if (ts < floor_ts_ || id == floor_id_) {
        gap_counters.duplicates_dropped.fetch_add(1, std::memory_order_relaxed);
    } else if (deliver(batch, payload, ts, id, holding_)) {
        n++;
        gap_counters.events_recovered.fetch_add(1, std::memory_order_relaxed);
    }
    ring.pop(payload.size());
    return true;
}

uint32_t LdpStream::drain(EventBatch& batch, uint32_t max) {
    uint32_t n = 0;
    std::string_view payload;
    uint64_t ts, id;
    while (n < max) {
        if (owed_ > 0) {
            if (take_history(batch, n)) continue;
            if (holding_) {
                if (!hold_expired()) break;  // live waits for the fill
                holding_ = false;
                gap_counters.gaps_late.fetch_add(1, std::memory_order_relaxed);
                drain_log_.log(0, "", "live delivery resumed before a gap's fill ended (holdBackS passed, or history "
                               "lags or fails): the rest of the fill is delivered as it comes");
            }
        }
        if (!ring_.peek(&payload, &ts, &id)) break;
        if (payload.empty()) {  // a gap begins
            owed_++;
            if (owed_ == 1 && history_healthy_.load(std::memory_order_relaxed)) {
                hold_live();
            } else {
                gap_counters.gaps_late.fetch_add(1, std::memory_order_relaxed);
            }
        } else if (deliver(batch, payload, ts, id, owed_ == 0)) {
            n++;
        }
        ring_.pop(payload.size());
    }
    return n;
}

}  // namespace k8a
