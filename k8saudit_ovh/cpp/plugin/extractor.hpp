// Field extraction for k8s audit events, value for value like upstream k8saudit 0.18.0.
// The field table (k8saudit_ovh/fields.py) decides which op and which JSON path serve
// each field_id; this file implements the ops.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "event_batch.hpp"
#include "json_tape.hpp"
#include "plugin_abi.h"

namespace k8a {

enum class Op : uint8_t {
	Keys, UriParam, TargetPodName, SubjectNames, AlwaysTrue, Values, AllValues, Repositories,
	FirstValue, FirstRepository, AnyTrue, JoinedLists, HostPorts, EffectiveId, RuleLists,
	VolumeTypes, HostpathMatch,
};

// Op for a fields.py op name; false if unknown.
bool op_from_name(const std::string& name, Op* op) noexcept;

// How one field is extracted (see fields.py for the meaning of path and args per op).
struct FieldOp {
	Op op = Op::Keys;
	bool is_list = false;
	bool requires_key = false;  // the field has a required key argument
	std::vector<std::string> path;
	std::vector<std::string> args;
	// path and args as the Extractor interns them: one address per distinct key, so that
	// its lookup cache serves every field that shares a path prefix.
	std::vector<std::string_view> path_keys, arg_keys;
};

class Extractor {
public:
	explicit Extractor(std::vector<FieldOp> table);  // table index == field_id

	// Fills res/res_len of every requested field. Results stay valid until the next call.
	ss_plugin_rc extract(const ss_plugin_event_input* evt, const ss_plugin_field_extract_input* in) noexcept;
	const char* last_error() const noexcept { return last_error_.c_str(); }
	// The batch of the open instance (null when none): its events come with their index
	// already parsed. It must outlive its use; the plugin sets it at open and clears it at close.
	void use_batch(const EventBatch* batch) noexcept { batch_ = batch; }

private:
	// The values of one field on one event, kept for the next requests of the same field
	// (rules repeat fields a lot). Valid while the event and the tape's version are the same.
	struct Cached {
		uint64_t event = 0;     // 0: nothing cached
		uint64_t computed = 0;  // event of the last computation
		uint32_t version = 0;
		bool arg_present = false;
		uint64_t arg_index = 0;
		std::string arg_key;
		std::string values;           // as in values_
		std::vector<uint32_t> starts;  // offsets in `values`
	};

	struct Lookup {  // see get()
		uint64_t event = 0;
		const char* key = nullptr;
		Node parent = kNil, result = kNil;
		bool mode = false;  // the parent's lookup_mode after the lookup
	};

	// Whether evt is the event loaded last (the host asks for its fields one call each).
	bool loaded(const ss_plugin_event_input* evt) const noexcept {
		return event_ && evt->evtnum == evtnum_ && evt->evt == evt_;
	}
	bool load_next(const ss_plugin_event_input* evt) noexcept;  // parses it: false if it cannot
	ss_plugin_rc refuse(const ss_plugin_extract_field& f);
	void answer(const ss_plugin_extract_field& f);
	bool extract_field(const FieldOp& op, const ss_plugin_extract_field& f) noexcept;

	// Upstream ignores events without auditID, and looks it up again for every field: the
	// answer only changes with the root's lookup mode.
	bool has_audit_id() noexcept {
		return audit_.event == event_ && audit_.mode == tape_.lookup_mode(0) ? audit_.present : look_up_audit_id();
	}
	bool look_up_audit_id() noexcept;
	// tape_.get, remembered for the current event: fields share path prefixes, and every
	// field looks up auditID. `key` must live as long as the Extractor (a literal, or keys_).
	Node get(Node v, std::string_view key) noexcept;

	// upstream helpers
	Node get_path(Node v, const std::vector<std::string_view>& path) noexcept;
	bool collect(Node v, int64_t index, const std::vector<std::string_view>& path, size_t from) noexcept;
	void append_text(Node v, std::string& out) noexcept;

	// ops that need more than a few lines
	bool keys(const FieldOp& op) noexcept;
	bool uri_param(const char* key) noexcept;
	bool subject_names(const FieldOp& op) noexcept;
	bool images(const FieldOp& op, int64_t index, bool repository_only) noexcept;
	bool joined_lists() noexcept;
	bool host_ports() noexcept;
	bool effective_id(const FieldOp& op, int64_t index) noexcept;
	bool volume_types() noexcept;
	bool hostpath_match(const char* arg) noexcept;

	// results of the current call: NUL-terminated strings packed in values_
	void begin_value() noexcept { starts_.push_back(values_.size()); }
	void end_value() noexcept { values_ += '\0'; }
	void add_value(std::string_view s) noexcept { begin_value(); values_.append(s); end_value(); }
	void add_value_of(Node v) noexcept { begin_value(); append_text(v, values_); end_value(); }

	std::unordered_set<std::string> keys_;  // interned path and argument keys (stable addresses)
	std::vector<FieldOp> table_;
	uint32_t fields_known_;  // table_.size()
	std::vector<Cached> cache_;  // by field_id
	std::array<Lookup, 256> lookups_{};  // direct-mapped on (parent, key)
	struct {
		uint64_t event = 0;
		bool mode = false, present = false;
	} audit_;  // see has_audit_id()
	JsonTape tape_;
	const EventBatch* batch_ = nullptr;
	bool parsed_ = false;
	uint64_t event_ = 0;  // events loaded so far: identifies the current one
	uint64_t evtnum_ = 0;
	const void* evt_ = nullptr;

	std::string values_;
	std::vector<size_t> starts_;
	std::vector<const char*> ptrs_;
	std::vector<Node> found_;  // output of collect()
	std::string text_, text2_, scratch_;
	std::string last_error_;
};

}  // namespace k8a
