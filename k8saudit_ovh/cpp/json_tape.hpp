// A parsed JSON event that behaves like upstream's fastjson values.
//
// simdjson (on-demand) tokenizes the payload once; we keep our own compact tape of
// nodes that point back into the input, so JSON-text values can be written back with
// the input's own spelling. The tape also models fastjson's lazy state, because
// upstream's results depend on it: object keys are compared raw until a lookup misses
// (then they are decoded for good), and a string is printed raw until its type was
// queried (then it is re-escaped from its decoded form).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"

namespace k8a {

enum class JType : uint8_t { Object, Array, String, Number, True, False, Null };

using Node = uint32_t;
constexpr Node kNil = UINT32_MAX;

class JsonTape {
public:
	// Parses `len` bytes (copied into an internal padded buffer). False when fastjson would
	// reject the text too (or the root is not a container); the tape is then empty.
	bool parse(const char* data, size_t len) noexcept;

	// Type as fastjson's Value.Type(): querying a string marks it decoded (see marshal).
	JType type(Node n) noexcept;
	// Type without fastjson's side effect.
	JType peek_type(Node n) const noexcept { return nodes_[n].type; }

	// fastjson Value.Get(key) on one level: object member lookup (first match, raw keys
	// first), array element when `key` is a decimal index, kNil otherwise.
	Node get(Node n, std::string_view key) noexcept;

	size_t size(Node container) const noexcept { return nodes_[container].count; }
	Node first_child(Node container) const noexcept { return nodes_[container].count ? container + 1 : kNil; }
	Node next_sibling(Node child, Node container) const noexcept {
		Node nx = nodes_[child].next;
		return nx < nodes_[container].next ? nx : kNil;
	}

	// Decoded member key (fastjson's best-effort unescaping); marks the object's keys decoded.
	std::string_view key(Node member, Node object) noexcept;
	// Decoded string content (fastjson's best-effort unescaping), valid until the next call.
	std::string_view string(Node n) noexcept;
	// Appends fastjson's MarshalTo text of `n`.
	void marshal(Node n, std::string& out) noexcept;

private:
	struct Rec {
		uint32_t start = 0, len = 0;      // raw text: string content without quotes, scalar token
		uint32_t key_start = 0, key_len = 0;  // raw member key without quotes
		uint32_t next = 0;                // index after this node's subtree
		uint32_t count = 0;               // children of a container
		JType type = JType::Null;
		uint8_t flags = 0;
	};
	enum : uint8_t { kKeyEscaped = 1, kStrEscaped = 2, kTouched = 4, kKeysDecoded = 8 };

	bool build(simdjson::ondemand::value v, int depth, uint32_t key_start, uint32_t key_len) noexcept;
	bool add_scalar(std::string_view tok, uint32_t key_start, uint32_t key_len) noexcept;
	std::string_view raw(uint32_t start, uint32_t len) const noexcept {
		return {reinterpret_cast<const char*>(input_.data()) + start, len};
	}
	std::string_view decoded_key(const Rec& r) noexcept;
	bool sanitize() noexcept;

	simdjson::ondemand::parser parser_;
	std::vector<uint8_t> input_;    // the payload, as given
	std::vector<uint8_t> scan_;     // what simdjson scans (payload, or a sanitized copy)
	std::vector<Rec> nodes_;
	std::string decode_buf_, key_buf_;
};

// fastjson's best-effort unescaping of raw string content (appends to `out`).
void unescape_best_effort(std::string_view raw, std::string& out);
// Go's strconv.AppendQuote as fastjson uses it for strings with special characters.
void go_quote(std::string_view s, std::string& out);

}  // namespace k8a
