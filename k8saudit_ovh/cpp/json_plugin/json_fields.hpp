// The fields of the json plugin, value for value like upstream json 0.7.4: json.value[<RFC
// 6901 pointer>], json.obj, json.rawtime and their jevt.* aliases, over the payload of any
// plugin event. One JsonTape parse per event serves all its fields; the tape keeps
// fastjson's lazy state, on which upstream's values depend (see json_tape.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "json_tape.hpp"
#include "plugin_abi.h"

namespace k8a {

// field_id: the order of the plugin's field list (c/json_plugin.c), which is upstream's.
enum class JsonField : uint32_t { Value, Obj, RawTime, JevtValue, JevtObj, JevtRawTime, Count };

class JsonFields {
public:
	enum class Outcome { Value, NoValue, Failure };

	// One extract call of the plugin API: fills res/res_len of every requested field
	// (results valid until the next call). FAILURE, as upstream's, when a field cannot be
	// read from this event; last_error() says why.
	ss_plugin_rc extract(const ss_plugin_event_input* evt, const ss_plugin_field_extract_input* in) noexcept;

	// One field of one event, without the plugin API: `event` and `evtnum` identify the
	// event (its parse is reused while they and `payload` stay the same, and the payload's
	// bytes must not change meanwhile), `payload` is its data and `ts` its timestamp. On
	// Value the value is appended to `out` (left as it was otherwise); on Failure,
	// last_error() says why. `arg` is the field's argument (NULL: none).
	Outcome field(const void* event, uint64_t evtnum, std::string_view payload, uint64_t ts, uint32_t field_id,
	              const char* arg, std::string& out) noexcept;

	const char* last_error() const noexcept { return error_; }

private:
	Outcome fail(const char* why) noexcept {
		error_ = why;
		return Outcome::Failure;
	}
	bool load(const void* event, uint64_t evtnum, std::string_view payload) noexcept;
	Outcome value(const char* pointer, std::string& out);
	Outcome obj(std::string_view payload, std::string& out);

	JsonTape tape_;
	// The event parsed last: the host's event pointer and number, and its payload.
	const void* event_ = nullptr;
	uint64_t evtnum_ = 0;
	const char* text_ = nullptr;
	size_t text_len_ = 0;
	bool parsed_ = false;  // whether it is JSON (for fastjson)
	std::string key_;      // one pointer token, unescaped
	std::string stack_;    // go_indent's scratch
	std::string values_;   // this call's values, each NUL-terminated
	std::vector<size_t> starts_;
	std::vector<const char*> ptrs_;
	const char* error_ = "";
	char error_buf_[64] = {};
};

}  // namespace k8a
