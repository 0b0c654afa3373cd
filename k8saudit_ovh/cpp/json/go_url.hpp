// The parts of Go's net/url that upstream's ka.uri.param relies on.
#pragma once

#include <string>
#include <string_view>

namespace k8a {

// Upstream's ka.uri.param[key]: url.Parse(uri), url.ParseQuery(RawQuery), the first value
// of `key`. False (no value) when the key is absent or either parse fails (then upstream
// has no value for any key); otherwise `value` holds the value. `scratch` is a work buffer.
bool go_query_param(std::string_view uri, std::string_view key, std::string& value, std::string& scratch);

}  // namespace k8a
