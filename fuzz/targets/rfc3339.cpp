// stageTimestamp parsing (Go's time.Parse(RFC3339Nano) rules).
#include "fuzz_support.hpp"
#include "rfc3339.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto text = k8a_fuzz::exact_copy(data, size);
    uint64_t ns = 0;
    k8a::parse_rfc3339_ns(text.get(), size, &ns);
    return 0;
}
