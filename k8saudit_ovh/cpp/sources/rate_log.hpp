// Rate-limited log lines on stderr: bad input on a live stream can arrive thousands of
// times a second, so each kind of message is printed at most once per interval, with a
// count of what was held back. One instance per producer thread (not thread-safe).
#pragma once
#include <cstdint>

namespace k8a {

class RateLimitedLog {
public:
    static constexpr int kKinds = 16;
    explicit RateLimitedLog(uint64_t interval_ns = 10'000'000'000ull) : interval_ns_(interval_ns) {}
    // Prints "k8saudit-ovh: <prefix><message>" unless `kind` printed within the interval.
    void log(int kind, const char* prefix, const char* fmt, ...) __attribute__((format(printf, 4, 5)));

private:
    uint64_t interval_ns_;
    uint64_t last_ns_[kKinds] = {};
    uint64_t held_back_[kKinds] = {};
};

}  // namespace k8a
