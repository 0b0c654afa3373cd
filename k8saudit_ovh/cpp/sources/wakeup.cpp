#include "wakeup.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>

namespace k8a {

// A busy stream (twice in a row the consumer slept less than kBusyNs before an event came)
// gets batches of many events instead of one wake-up (two context switches) per event:
// after the wake-up the consumer waits kCoalesceNs more. A quieter stream, or a short
// burst of one, gets no added latency.
static constexpr long kBusyNs = 100'000;
static constexpr long kCoalesceNs = 200'000;

static long elapsed_ns(const timespec& since) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since.tv_sec) * 1'000'000'000L + (now.tv_nsec - since.tv_nsec);
}

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Wakeup::~Wakeup() {
    if (fd_ >= 0) close(fd_);
}

void Wakeup::arm() {
    armed_.store(true, std::memory_order_seq_cst);
}

void Wakeup::disarm() {
    armed_.store(false, std::memory_order_relaxed);
    uint64_t drained;
    if (fd_ >= 0 && read(fd_, &drained, sizeof drained) < 0) { /* nothing pending */ }
}

void Wakeup::wait(int timeout_ms) {
    if (fd_ < 0) {  // no eventfd: fall back to a plain bounded sleep
        timespec ts{timeout_ms / 1000, long(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
        return;
    }
    pollfd p{fd_, POLLIN, 0};
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool was_quick = quick_;
    quick_ = poll(&p, 1, timeout_ms) > 0 && elapsed_ns(start) < kBusyNs;
    if (quick_ && was_quick) {
        timespec ts{0, kCoalesceNs};
        nanosleep(&ts, nullptr);
    }
}

void Wakeup::notify() {
    // The fence orders the ring's publication before reading armed_ (pairs with arm()).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Only the first push after arm() writes: one system call per wait, not per event.
    if (fd_ >= 0 && armed_.load(std::memory_order_relaxed) && armed_.exchange(false, std::memory_order_relaxed)) {
        uint64_t one = 1;
        if (write(fd_, &one, sizeof one) < 0) { /* counter full: the consumer wakes anyway */ }
    }
}

}  // namespace k8a
