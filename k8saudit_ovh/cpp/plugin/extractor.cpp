#include "extractor.hpp"

#include <cstring>
#include <stdexcept>

#include "go_url.hpp"

namespace k8a {

namespace {

constexpr int64_t kNoIndex = -1;

const char* const kOpNames[] = {
	"keys", "uri_param", "target_pod_name", "subject_names", "always_true", "values", "all_values",
	"repositories", "first_value", "first_repository", "any_true", "joined_lists", "host_ports",
	"effective_id", "rule_lists", "volume_types", "hostpath_match",
};

// Image cut at its first ':' and then at '@' (what upstream calls the repository).
std::string_view repository_of(std::string_view image) {
	image = image.substr(0, image.find(':'));
	return image.substr(0, image.find('@'));
}

}  // namespace

bool op_from_name(const std::string& name, Op* op) noexcept {
	for (size_t i = 0; i < sizeof(kOpNames) / sizeof(kOpNames[0]); i++) {
		if (name == kOpNames[i]) {
			*op = Op(i);
			return true;
		}
	}
	return false;
}

Extractor::Extractor(std::vector<FieldOp> table)
    : table_(std::move(table)), fields_known_(table_.size()), cache_(table_.size()) {
	auto intern = [this](const std::vector<std::string>& from, std::vector<std::string_view>& to) {
		to.clear();
		for (const std::string& key : from) {
			if (key.find('\\') != std::string::npos)  // get() takes every key as plain
				throw std::invalid_argument("field table: key with a backslash: " + key);
			to.push_back(*keys_.insert(key).first);
		}
	};
	for (FieldOp& op : table_) {
		intern(op.path, op.path_keys);
		intern(op.args, op.arg_keys);
	}
}

bool Extractor::load_next(const ss_plugin_event_input* evt) noexcept {
	event_++;
	evtnum_ = evt->evtnum;
	evt_ = evt->evt;
	uint32_t len = evt->evt->len;
	if (len <= K8A_EVENT_PAYLOAD_OFFSET) return parsed_ = false;
	const char* json = reinterpret_cast<const char*>(evt->evt) + K8A_EVENT_PAYLOAD_OFFSET;
	len -= K8A_EVENT_PAYLOAD_OFFSET;
	SavedTape saved;
	parsed_ = (batch_ && batch_->saved_tape(evt->evt, &saved) && tape_.adopt(json, len, saved)) ||
	          tape_.parse(json, len);
	if (parsed_) tape_.list_root_members();  // every field starts at the root
	return parsed_;
}

ss_plugin_rc Extractor::extract(const ss_plugin_event_input* evt, const ss_plugin_field_extract_input* in) noexcept {
	if (!evt || !evt->evt || !in || (in->num_fields && !in->fields)) {
		last_error_ = "extract: missing event or field list";
		return SS_PLUGIN_FAILURE;
	}
	// Locals: stores to the fields may alias any member, which would be reloaded after each.
	ss_plugin_extract_field* const fields = in->fields;
	const uint32_t count = in->num_fields;
	const bool parsed = loaded(evt) ? parsed_ : load_next(evt);
	values_.clear();
	starts_.clear();
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	try {
		for (uint32_t i = 0; i < count; i++) {
			ss_plugin_extract_field& f = fields[i];
			const size_t first = starts_.size();
			if (f.field_id >= fields_known_ || (table_[f.field_id].requires_key && (!f.arg_present || !f.arg_key)))
				rc = refuse(f);
			else if (parsed)
				answer(f);
			f.res_len = starts_.size() - first;  // its count, until the value pointers are final
		}
		if (ptrs_.size() < starts_.size()) ptrs_.resize(starts_.size());  // grown, never shrunk
	} catch (...) {  // only allocation can throw
		last_error_ = "extract: out of memory";
		for (uint32_t i = 0; i < count; i++) fields[i].res_len = 0, fields[i].res.str = nullptr;  // no value
		return SS_PLUGIN_FAILURE;
	}
	// Values are placed now that values_ no longer moves.
	const char* const base = values_.data();
	const size_t* start = starts_.data();
	const char** ptr = ptrs_.data();
	for (uint32_t i = 0; i < count; i++) {
		fields[i].res.str = ptr;
		for (uint64_t k = fields[i].res_len; k; k--) *ptr++ = base + *start++;
	}
	return rc;
}

// Why f cannot be answered (an unknown id, or a missing required argument).
ss_plugin_rc Extractor::refuse(const ss_plugin_extract_field& f) {
	if (f.field_id >= fields_known_) last_error_ = "unknown field id " + std::to_string(f.field_id);
	else last_error_ = std::string(f.field ? f.field : "field") + " requires an argument";
	return SS_PLUGIN_FAILURE;
}

// Appends the values of f, from the cache when the same request was answered on this
// event and fastjson's state has not changed since. (answer, extract_field and keys run
// once per field call: inlined, they save a call frame each on Falco's event thread.)
[[gnu::always_inline]] inline void Extractor::answer(const ss_plugin_extract_field& f) {
	Cached& c = cache_[f.field_id];
	size_t first = starts_.size(), bytes = values_.size();
	if (c.event == event_ && c.version == tape_.version() && c.arg_present == bool(f.arg_present) &&
	    c.arg_index == f.arg_index && c.arg_key == (f.arg_present && f.arg_key ? f.arg_key : "")) {
		for (uint32_t start : c.starts) starts_.push_back(bytes + start);
		values_.append(c.values);
		return;
	}
	uint32_t version = tape_.version();
	bool again = c.computed == event_;
	c.computed = event_;
	if (!extract_field(table_[f.field_id], f)) {
		starts_.resize(first);  // no value: drop what a failed op had added
		values_.resize(bytes);
	}
	// A computation that changed the state may give another result when repeated. Keep
	// only what a field asked again gives: many fields are asked once per event.
	c.event = again && tape_.version() == version ? event_ : 0;
	if (!c.event) return;
	c.version = version;
	c.arg_present = f.arg_present;
	c.arg_index = f.arg_index;
	c.arg_key.assign(f.arg_present && f.arg_key ? f.arg_key : "");
	c.values.assign(values_, bytes, std::string::npos);
	c.starts.clear();
	for (size_t i = first; i < starts_.size(); i++) c.starts.push_back(uint32_t(starts_[i] - bytes));
}

// False means "no value" (upstream: not available, wrong type, or a Go panic).
[[gnu::always_inline]] inline bool Extractor::extract_field(const FieldOp& op, const ss_plugin_extract_field& f) noexcept {
	const Node root = 0;
	if (!has_audit_id()) return false;
	int64_t index = f.arg_present ? int64_t(f.arg_index) : kNoIndex;
	if (index < kNoIndex) return false;  // Go's int() of a huge index is negative: index panic
	switch (op.op) {
	case Op::Keys: return keys(op);
	case Op::UriParam: return uri_param(f.arg_key);
	case Op::TargetPodName: {
		Node ref = get(root, "objectRef");
		Node resource = ref == kNil ? kNil : get(ref, "resource");
		if (resource == kNil || tape_.type(resource) != JType::String || tape_.string(resource) != "pods")
			return false;
		Node sub = get(ref, "subresource");
		if (sub != kNil && tape_.type(sub) == JType::String && !tape_.string(sub).empty()) return false;
		return keys(op);
	}
	case Op::SubjectNames: return subject_names(op);
	case Op::AlwaysTrue: add_value("true"); return true;
	case Op::Values:
		if (!collect(root, index, op.path_keys, 0)) return false;
		for (Node v : found_)
			if (v != kNil) add_value_of(v);
		return true;
	case Op::AllValues: return images(op, index, false);
	case Op::Repositories: return images(op, index, true);
	case Op::FirstValue: return images(op, 0, false);
	case Op::FirstRepository: return images(op, 0, true);
	case Op::AnyTrue: {
		if (!collect(root, kNoIndex, op.path_keys, 0)) return false;
		bool any = false;
		for (Node v : found_) any = any || (v != kNil && tape_.peek_type(v) == JType::True);
		add_value(any ? "true" : "false");
		return true;
	}
	case Op::JoinedLists: return collect(root, index, op.path_keys, 0) && joined_lists();
	case Op::HostPorts: return collect(root, index, op.path_keys, 0) && host_ports();
	case Op::EffectiveId: return effective_id(op, index);
	case Op::RuleLists:
		if (!collect(root, index, op.path_keys, 0)) return false;
		for (Node v : found_) {
			if (v == kNil || tape_.type(v) != JType::Array) continue;
			for (Node e = tape_.first_child(v); e != kNil; e = tape_.next_sibling(e, v)) add_value_of(e);
		}
		return true;
	case Op::VolumeTypes: return collect(root, index, op.path_keys, 0) && volume_types();
	// The key argument is not an index: always look at every volume.
	case Op::HostpathMatch: return collect(root, kNoIndex, op.path_keys, 0) && hostpath_match(f.arg_key);
	}
	return false;
}

bool Extractor::look_up_audit_id() noexcept {
	audit_.present = tape_.get(0, "auditID", true) != kNil;
	audit_.event = event_;
	audit_.mode = tape_.lookup_mode(0);
	return audit_.present;
}

Node Extractor::get(Node v, std::string_view key) noexcept {
	Lookup& l = lookups_[(v * 0x9E3779B1u ^ uint32_t(reinterpret_cast<uintptr_t>(key.data()) >> 3)) & 255];
	// The same lookup gives the same member as long as the object compares keys the same way.
	if (l.event == event_ && l.parent == v && l.key == key.data() && l.mode == tape_.lookup_mode(v))
		return l.result;
	Node r = tape_.get(v, key, true);  // keys are literals or the table's (plain)
	l = {event_, key.data(), v, r, tape_.lookup_mode(v)};
	return r;
}

// fastjson Value.Get(path...).
Node Extractor::get_path(Node v, const std::vector<std::string_view>& path) noexcept {
	for (std::string_view k : path) {
		v = get(v, k);
		if (v == kNil) break;
	}
	return v;
}

// upstream getValuesRecursive: follows `path`, and at each array met on the way either
// takes element `index` or (kNoIndex) fans out, recording kNil for elements where the
// rest of the path is missing. Results are appended to found_; false = not available.
bool Extractor::collect(Node v, int64_t index, const std::vector<std::string_view>& path, size_t from) noexcept {
	if (from == 0) found_.clear();
	for (size_t i = from; i < path.size(); i++) {
		if (tape_.type(v) == JType::Array) {
			if (index == kNoIndex) {
				for (Node e = tape_.first_child(v); e != kNil; e = tape_.next_sibling(e, v))
					if (!collect(e, index, path, i)) found_.push_back(kNil);
				return true;
			}
			if (size_t(index) >= tape_.size(v)) return false;
			Node e = tape_.first_child(v);
			for (int64_t k = 0; k < index; k++) e = tape_.next_sibling(e, v);
			v = e;
		}
		if (!path[i].empty()) v = get(v, path[i]);  // an empty key means the value itself
		if (v == kNil) return false;
	}
	found_.push_back(v);
	return true;
}

// upstream jsonValueAsString: strings decoded, anything else as JSON text.
void Extractor::append_text(Node v, std::string& out) noexcept {
	if (tape_.type(v) == JType::String) tape_.append_string(v, out);
	else tape_.marshal(v, out);
}

[[gnu::always_inline]] inline bool Extractor::keys(const FieldOp& op) noexcept {
	Node v = get_path(0, op.path_keys);
	if (v == kNil) return false;
	if (!op.is_list) {
		add_value_of(v);
		return true;
	}
	if (tape_.type(v) != JType::Array) return false;
	for (Node e = tape_.first_child(v); e != kNil; e = tape_.next_sibling(e, v)) add_value_of(e);
	return true;
}

bool Extractor::uri_param(const char* key) noexcept {
	Node uri = get(0, "requestURI");
	if (uri == kNil) return false;
	text_.clear();
	append_text(uri, text_);
	if (!go_query_param(text_, key, text2_, scratch_)) return false;
	add_value(text2_);
	return true;
}

// args[0]: subject kind; args[1] (optional): key whose value prefixes the name ("ns:name").
bool Extractor::subject_names(const FieldOp& op) noexcept {
	Node subjects = get_path(0, op.path_keys);
	if (subjects == kNil) return true;  // an empty list: no value
	if (tape_.type(subjects) != JType::Array) return false;
	for (Node s = tape_.first_child(subjects); s != kNil; s = tape_.next_sibling(s, subjects)) {
		Node kind = get(s, "kind");
		Node name = kind == kNil ? kNil : get(s, "name");
		if (name == kNil) continue;
		text_.clear();
		append_text(kind, text_);
		if (text_ != op.args[0]) continue;
		text2_.clear();
		append_text(name, text2_);
		if (op.args.size() > 1) {
			Node prefix = get(s, op.arg_keys[1]);
			if (prefix == kNil) continue;
			begin_value();
			append_text(prefix, values_);
			values_ += ':';
		} else {
			begin_value();
		}
		values_.append(text2_);
		end_value();
	}
	return true;
}

// Container names and images: every container must have one.
bool Extractor::images(const FieldOp& op, int64_t index, bool repository_only) noexcept {
	if (!collect(0, index, op.path_keys, 0)) return false;
	for (Node v : found_) {
		if (v == kNil) return false;
		if (!repository_only) {
			add_value_of(v);
			continue;
		}
		text_.clear();
		append_text(v, text_);
		add_value(repository_of(text_));
	}
	// first_* ops give a single value; `index` >= 0 never fans out, so found_ has one.
	return true;
}

bool Extractor::joined_lists() noexcept {
	size_t count = 0;
	for (Node list : found_) {
		if (list == kNil) continue;
		if (tape_.type(list) != JType::Array) return false;
		begin_value();
		for (Node e = tape_.first_child(list); e != kNil; e = tape_.next_sibling(e, list)) {
			if (tape_.type(e) != JType::String) return false;
			if (e != list + 1) values_ += ' ';
			values_.append(tape_.string(e));
		}
		end_value();
		count++;
	}
	return count > 0;
}

bool Extractor::host_ports() noexcept {
	for (Node ports : found_) {
		if (ports == kNil) continue;
		if (tape_.type(ports) != JType::Array) return false;
		for (Node p = tape_.first_child(ports); p != kNil; p = tape_.next_sibling(p, ports)) {
			Node port = get(p, "hostPort");
			if (port == kNil) port = get(p, "containerPort");
			if (port != kNil) add_value_of(port);
		}
	}
	return true;
}

// Per container: its own value at path, else the pod value at args, else "0".
bool Extractor::effective_id(const FieldOp& op, int64_t index) noexcept {
	Node pod = get_path(0, op.arg_keys);
	text2_ = "0";
	if (pod != kNil) {
		text2_.clear();
		append_text(pod, text2_);
	}
	if (!collect(0, index, op.path_keys, 0)) return false;
	for (Node v : found_) {
		if (v == kNil) add_value(text2_);
		else add_value_of(v);
	}
	return true;
}

bool Extractor::volume_types() noexcept {
	for (Node v : found_) {
		if (v == kNil) return false;  // upstream dereferences nil here and crashes
		if (tape_.type(v) != JType::Object) continue;
		for (Node m = tape_.first_child(v); m != kNil; m = tape_.next_sibling(m, v)) {
			std::string_view k = tape_.key(m, v);
			if (k != "name") add_value(k);
		}
	}
	return true;
}

// Exact match, or prefix match when the argument ends with '*'.
bool Extractor::hostpath_match(const char* arg) noexcept {
	std::string_view want(arg);
	if (want.empty()) return false;  // upstream slices arg[:len-1] and panics
	bool prefix = want.back() == '*', match = false;
	std::string_view stem = want.substr(0, want.size() - 1);
	for (Node v : found_) {  // every path is converted (and marked) before matching, as upstream
		if (v == kNil) continue;
		text_.clear();
		append_text(v, text_);
		match = match || text_ == want || (prefix && text_.compare(0, stem.size(), stem) == 0);
	}
	add_value(match ? "true" : "false");
	return true;
}

}  // namespace k8a
