// Named streams: an event that carries no annotations.cluster_name (what ka.cluster.name
// reads) gets the stream's name there, so extraction needs no state beyond the event and
// capture files replay with the same answer.
#pragma once
#include <string>
#include <string_view>

#include "simdjson.h"

namespace k8a {

class ClusterNameTagger {
public:
    // Returns the event to deliver: `event` itself, or `out` holding a copy with
    // "annotations":{"cluster_name":name} added. `name` must need no JSON escaping.
    std::string_view tag(std::string_view event, std::string_view name, std::string& out);

private:
    simdjson::ondemand::parser parser_;
    std::string padded_;
};

}  // namespace k8a
