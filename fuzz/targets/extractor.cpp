// The extractor on a fuzzed event: the input is the event's JSON, as Falco hands it back
// from its own buffers; every field of the field table, in every argument form.
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static k8a::Extractor* extractor = k8a_fuzz::new_extractor();
    static k8a_fuzz::EveryField every_field;
    static uint64_t evtnum = 0;
    k8a_fuzz::ExactEvent event(std::string_view(reinterpret_cast<const char*>(data), size), ++evtnum);
    every_field.extract(*extractor, event.input());
    return 0;
}
