// stageTimestamp parsing with the acceptance rules of Go's time.Parse(time.RFC3339Nano),
// which upstream k8saudit uses: the event time must be identical, to the nanosecond.
#pragma once
#include <cstddef>
#include <cstdint>

namespace k8a {

// Parses `s` into ns since the epoch, wrapping modulo 2^64 as Go's UnixNano() seen as
// uint64 does (times before 1970 and after 2262). Returns false when Go would refuse it.
bool parse_rfc3339_ns(const char* s, size_t len, uint64_t* out);

}  // namespace k8a
