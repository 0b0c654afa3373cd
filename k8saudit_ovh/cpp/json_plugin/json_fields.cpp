#include "json_fields.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "go_indent.hpp"

namespace k8a {

namespace {

// The data of a plugin event (parameter 1), as the plugin SDK reads it; an error otherwise.
const char* plugin_payload(const ss_plugin_event* e, std::string_view* out) noexcept {
	const uint16_t type = e->type;
	const uint32_t len = e->len, nparams = e->nparams;
	// Upstream's SDK stops the process on other events; here they get no value.
	if (type != K8A_EVENT_TYPE_PLUGIN) return "json: not a plugin event, so it has no JSON payload";
	const char* const malformed = "json: malformed plugin event (its lengths disagree)";
	if (nparams < 2 || len < K8A_EVENT_PAYLOAD_OFFSET) return malformed;
	uint32_t data_len;  // the length of parameter 1
	std::memcpy(&data_len, reinterpret_cast<const char*>(e) + K8A_EVENT_HEADER_LEN + 4, sizeof data_len);
	if (data_len > len - K8A_EVENT_PAYLOAD_OFFSET) return malformed;
	*out = {reinterpret_cast<const char*>(e) + K8A_EVENT_PAYLOAD_OFFSET, data_len};
	return nullptr;
}

// Every "~<digit>" in s becomes `to`, left to right, as Go's strings.Replace(s, "~<digit>", to, -1).
void replace_all(std::string& s, char digit, char to) noexcept {
	size_t w = 0;
	for (size_t r = 0; r < s.size();) {
		if (s[r] == '~' && r + 1 < s.size() && s[r + 1] == digit) {
			s[w++] = to;
			r += 2;
		} else {
			s[w++] = s[r++];
		}
	}
	s.resize(w);
}

}  // namespace

ss_plugin_rc JsonFields::extract(const ss_plugin_event_input* evt, const ss_plugin_field_extract_input* in) noexcept {
	if (!evt || !evt->evt || !in || (in->num_fields && !in->fields)) {
		error_ = "json: extract called without an event or a field list";
		return SS_PLUGIN_FAILURE;
	}
	ss_plugin_extract_field* const fields = in->fields;
	const uint32_t count = in->num_fields;
	for (uint32_t i = 0; i < count; i++) fields[i].res_len = 0;  // no value unless one is found
	std::string_view payload;
	if (const char* why = plugin_payload(evt->evt, &payload)) {
		error_ = why;
		return count ? SS_PLUGIN_FAILURE : SS_PLUGIN_SUCCESS;
	}
	values_.clear();
	starts_.clear();
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	try {
		for (uint32_t i = 0; i < count; i++) {
			const size_t start = values_.size();
			Outcome o = field(evt->evt, evt->evtnum, payload, evt->evt->ts, fields[i].field_id, fields[i].arg_key,
			                  values_);
			if (o == Outcome::Failure) {  // as upstream: the call stops at the first failure
				rc = SS_PLUGIN_FAILURE;
				break;
			}
			if (o == Outcome::Value) {
				values_ += '\0';
				starts_.push_back(start);
				fields[i].res_len = 1;
			}
		}
		if (ptrs_.size() < starts_.size()) ptrs_.resize(starts_.size());  // grown, never shrunk
	} catch (...) {  // only allocation can throw
		for (uint32_t i = 0; i < count; i++) fields[i].res_len = 0;
		error_ = "json: out of memory";
		return SS_PLUGIN_FAILURE;
	}
	// The values are placed now that values_ no longer moves.
	size_t k = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (!fields[i].res_len) continue;
		ptrs_[k] = values_.data() + starts_[k];
		fields[i].res.str = &ptrs_[k++];
	}
	return rc;
}

JsonFields::Outcome JsonFields::field(const void* event, uint64_t evtnum, std::string_view payload, uint64_t ts,
                                      uint32_t field_id, const char* arg, std::string& out) noexcept {
	const size_t start = out.size();
	try {
		// As upstream, every field (rawtime too) needs a payload that starts like JSON and parses.
		if (payload.empty()) return fail("json: the event payload is empty");
		if (payload[0] != '{' && payload[0] != '[')
			return fail("json: invalid json format (the payload starts with neither '{' nor '[')");
		if (!load(event, evtnum, payload)) return fail("json: the event payload is not valid JSON");
		Outcome o = Outcome::Value;
		switch (JsonField(field_id)) {
		case JsonField::Value:
		case JsonField::JevtValue:
			o = value(arg ? arg : "", out);
			break;
		case JsonField::Obj:
		case JsonField::JevtObj:
			o = obj(payload, out);
			break;
		case JsonField::RawTime:
		case JsonField::JevtRawTime: {
			char digits[24];
			out.append(digits, std::to_chars(digits, digits + sizeof digits, ts).ptr);
			break;
		}
		default:
			std::snprintf(error_buf_, sizeof error_buf_, "json: no known field id %u", field_id);
			error_ = error_buf_;
			return Outcome::Failure;
		}
		if (o != Outcome::Value) out.resize(start);
		return o;
	} catch (...) {
		out.resize(start);
		return fail("json: out of memory");
	}
}

bool JsonFields::load(const void* event, uint64_t evtnum, std::string_view payload) noexcept {
	if (event == event_ && evtnum == evtnum_ && payload.data() == text_ && payload.size() == text_len_)
		return parsed_;
	event_ = event;
	evtnum_ = evtnum;
	text_ = payload.data();
	text_len_ = payload.size();
	parsed_ = tape_.parse(payload.data(), payload.size());
	if (parsed_) tape_.list_root_members();  // every pointer starts at the root (measured: a little faster)
	return parsed_;
}

// fastjson's Value.Get for each token of the pointer, then the string (decoded) or the JSON
// text of what it finds, as upstream.
JsonFields::Outcome JsonFields::value(const char* pointer, std::string& out) {
	std::string_view p(pointer);
	if (p.empty()) {  // upstream: the whole document
		tape_.marshal(0, out);
		return Outcome::Value;
	}
	if (p[0] == '/') p.remove_prefix(1);
	Node v = 0;
	for (;;) {
		const size_t slash = p.find('/');
		std::string_view token = p.substr(0, slash);
		if (token.find('~') != std::string_view::npos) {  // "~1" then "~0", in upstream's order
			key_.assign(token);
			replace_all(key_, '1', '/');
			replace_all(key_, '0', '~');
			token = key_;
		}
		v = tape_.get(v, token);
		if (v == kNil) return Outcome::NoValue;
		if (slash == std::string_view::npos) break;
		p.remove_prefix(slash + 1);
	}
	if (tape_.type(v) == JType::String) tape_.append_string(v, out);  // type(): fastjson's side effect
	else tape_.marshal(v, out);
	return Outcome::Value;
}

JsonFields::Outcome JsonFields::obj(std::string_view payload, std::string& out) {
	if (!go_indent(payload, out, stack_)) return fail("json: json.obj: the payload is not JSON to Go's encoding/json");
	return Outcome::Value;
}

}  // namespace k8a
