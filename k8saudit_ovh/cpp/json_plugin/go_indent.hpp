// Go's encoding/json Indent(dst, src, "", "  "), which upstream's json.obj returns: the
// same validation (Go's scanner, stricter than fastjson) and the same layout.
#pragma once

#include <string>
#include <string_view>

namespace k8a {

// Appends the indented text of `src` to `out`; false (and `out` as it was) when Go's
// scanner rejects `src`. `stack` is scratch space, kept by the caller to reuse its memory.
bool go_indent(std::string_view src, std::string& out, std::string& stack);

}  // namespace k8a
