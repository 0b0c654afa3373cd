// The parts of Go's net/url that upstream's ka.uri.param relies on.
#pragma once

#include <string>
#include <string_view>

namespace k8a {

// url.Parse(uri) then url.ParseQuery(RawQuery), looking up `key`. Returns false when
// either fails (then upstream has no value for any key); otherwise `*found` tells whether
// the key is present and `value` holds its first value. `scratch` is a work buffer.
bool go_query_param(std::string_view uri, std::string_view key, std::string& value, bool* found,
                    std::string& scratch);

}  // namespace k8a
