#include "rate_log.hpp"

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace k8a {

static uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

void RateLimitedLog::log(int kind, const char* prefix, const char* fmt, ...) {
    if (kind < 0 || kind >= kKinds) kind = kKinds - 1;
    uint64_t now = monotonic_ns();
    if (last_ns_[kind] != 0 && now - last_ns_[kind] < interval_ns_) {
        held_back_[kind]++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (held_back_[kind])
        fprintf(stderr, "k8saudit-ovh: %s%s (%llu similar messages held back)\n", prefix, msg,
                (unsigned long long)held_back_[kind]);
    else
        fprintf(stderr, "k8saudit-ovh: %s%s\n", prefix, msg);
    last_ns_[kind] = now;
    held_back_[kind] = 0;
}

}  // namespace k8a
