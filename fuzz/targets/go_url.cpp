// ka.uri.param's URL and query parsing (Go's net/url). Input: the key, '\n', the URI.
#include "fuzz_support.hpp"
#include "go_url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::string value, scratch;
    auto copy = k8a_fuzz::exact_copy(data, size);
    std::string_view text(copy.get(), size);
    size_t nl = text.find('\n');
    std::string_view key = nl == std::string_view::npos ? std::string_view("watch") : text.substr(0, nl);
    std::string_view uri = nl == std::string_view::npos ? text : text.substr(nl + 1);
    k8a::go_query_param(uri, key, value, scratch);
    return 0;
}
