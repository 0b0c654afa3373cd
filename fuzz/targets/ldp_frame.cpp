// One LDP WebSocket text frame through a stream as its reader thread pushes it: envelope,
// GELF message and audit payload unwrapped, events tagged with the stream's cluster name,
// through the ring into a batch. Also the replay-format probe on the same bytes.
#include "fuzz_support.hpp"
#include "ldp_frame.hpp"
#include "ldp_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The ring holds far more than a frame of -max_len can give (push_frame would wait).
    static k8a::LdpStream stream("fuzz-cluster", size_t(64) << 20, size_t(1) << 20, std::make_shared<k8a::Wakeup>());
    static k8a::EventBatch batch(22);
    auto frame = k8a_fuzz::exact_copy(data, size);
    k8a::looks_like_ldp_frame(std::string_view(frame.get(), size));
    if (!stream.push_frame(frame.get(), size, false)) abort();
    do batch.clear();
    while (stream.drain(batch, 1 << 20) > 0);
    if (stream.ring_used() != 0) abort();
    return 0;
}
