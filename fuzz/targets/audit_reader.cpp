// The audit event reader as file replay drives it: the input is a file of JSON lines (each
// read on its own, one trailing '\r' removed); accepted events go into a batch with their
// parsed index, and every field is extracted from each of them through that index.
#include "audit_reader.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static k8a::Extractor* extractor = k8a_fuzz::new_extractor();
    static k8a_fuzz::EveryField every_field;
    static k8a::AuditReader reader(1 << 20, nullptr);
    static k8a::EventBatch batch(22);
    static uint64_t evtnum = 0;
    batch.clear();
    k8a::BatchSink sink(&batch);
    std::string_view text(reinterpret_cast<const char*>(data), size);
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto copy = k8a_fuzz::exact_copy(reinterpret_cast<const uint8_t*>(line.data()), line.size());
        reader.read(std::string_view(copy.get(), line.size()), sink);
    }
    extractor->use_batch(&batch);
    ss_plugin_event** events = batch.events();
    for (uint32_t i = 0; i < batch.size(); i++) {
        ss_plugin_event_input in{};
        in.evt = events[i];
        in.evtnum = ++evtnum;
        in.evtsrc = "k8s_audit";
        every_field.extract(*extractor, &in);
    }
    extractor->use_batch(nullptr);
    return 0;
}
