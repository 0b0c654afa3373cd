#include "cluster_name.hpp"

namespace k8a {

namespace od = simdjson::ondemand;

std::string_view ClusterNameTagger::tag(std::string_view event, std::string_view name, std::string& out) {
    padded_.assign(event.data(), event.size());
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    od::document doc;
    od::object top;
    if (parser_.iterate(padded_.data(), event.size(), padded_.size()).get(doc) || doc.get_object().get(top))
        return event;
    od::value annotations;
    auto err = top.find_field_unordered("annotations").get(annotations);
    size_t insert_at;
    std::string text;
    if (err == simdjson::NO_SUCH_FIELD) {
        // After the event's opening brace (the payload is minified: it is the first byte).
        insert_at = 1;
        text = "\"annotations\":{\"cluster_name\":\"" + std::string(name) + "\"},";
    } else {
        std::string_view token = err ? std::string_view() : annotations.raw_json_token();
        if (token.empty() || token[0] != '{')
            return event;  // unreadable or not an object: leave the event alone
        insert_at = size_t(token.data() - padded_.data()) + 1;
        od::object ann;
        od::value existing;
        if (annotations.get_object().get(ann) ||
            ann.find_field_unordered("cluster_name").get(existing) != simdjson::NO_SUCH_FIELD)
            return event;  // the event names its cluster itself
        bool empty = event[insert_at] == '}';  // the payload is minified
        text = "\"cluster_name\":\"" + std::string(name) + "\"" + (empty ? "" : ",");
    }
    out.assign(event.data(), insert_at);
    out += text;
    out.append(event.data() + insert_at, event.size() - insert_at);
    return out;
}

}  // namespace k8a
