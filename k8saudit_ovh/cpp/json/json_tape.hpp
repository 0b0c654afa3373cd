// A parsed JSON event that behaves like upstream's fastjson values.
//
// Parsing is simdjson's stage 1 (the SIMD scan that finds every structural character)
// plus one tight pass over those positions that checks fastjson's grammar and links each
// container to its end. That index is the tape: a node is the position of a value in the
// structural list, nothing is copied or decoded up front, and text is read from the input,
// so JSON-text values keep the input's own spelling.
// The tape also models fastjson's lazy state, because upstream's results depend on it:
// object keys are compared raw until a lookup misses (then they are decoded for good), and
// a string is printed raw until its type was queried (then it is re-escaped from its
// decoded form).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace k8a {

// fastjson's best-effort unescaping of raw string content (appends to `out`).
void unescape_best_effort(std::string_view raw, std::string& out);

enum class JType : uint8_t { Object, Array, String, Number, True, False, Null };

using Node = uint32_t;  // index in the structural list; the root is 0
constexpr Node kNil = UINT32_MAX;

// The index of one parsed container, saved by JsonTape::save so that another tape can
// adopt it for the same bytes instead of parsing them again (see EventBatch).
struct SavedTape {
	const uint32_t* pos = nullptr;
	const uint32_t* end = nullptr;
	const uint8_t* flags = nullptr;
	uint32_t count = 0;  // structurals
};

class JsonTape {
public:
	// Parses `len` bytes, which must stay as they are while the tape is used (it reads them
	// in place). False when fastjson would reject the text too (or the root is not a
	// container); the tape is then empty.
	bool parse(const char* data, size_t len) noexcept;
	// Frees what parsing a payload larger than `keep` bytes left allocated (buffers keep
	// their high-water size otherwise); the next parse allocates again as needed.
	void release_if_larger(size_t keep) noexcept;

	// Structurals of container n, the size of what save() writes.
	uint32_t count(Node n) const noexcept { return after(n) - n; }
	// Writes count(n) entries to each array: the index of n, as if its text were parsed
	// alone, in fastjson's fresh state.
	void save(Node n, uint32_t* pos, uint32_t* end, uint8_t* flags) const noexcept;
	// Takes a saved index of exactly these `len` bytes (which must stay as they are) in
	// place of parse(); false if it does not span them.
	bool adopt(const char* data, size_t len, const SavedTape& saved) noexcept;
	// Whether marshal(n) is the input's own bytes of n (nothing to re-serialize).
	bool marshals_as_written(Node n) const noexcept;
	// The input's bytes of value n.
	std::string_view written(Node n) const noexcept {
		uint32_t e = peek_type(n) <= JType::Array ? pos_[end_[n] - 1] + 1 : end_[n];
		return {text_ + pos_[n], e - pos_[n]};
	}

	// Type as fastjson's Value.Type(): querying a string marks it decoded (see marshal).
	JType type(Node n) noexcept {
		if (peek_type(n) == JType::String) mark(n, kTouched);
		return peek_type(n);
	}
	// Type without fastjson's side effect.
	JType peek_type(Node n) const noexcept { return JType(flags_[n] & kTypeMask); }

	// fastjson Value.Get(key) on one level: object member lookup (first match, raw keys
	// first), array element when `key` is a decimal index, kNil otherwise.
	Node get(Node n, std::string_view key) noexcept {
		return get(n, key, key.find('\\') == std::string_view::npos);
	}
	// The same, told whether `key` is plain (holds no backslash).
	Node get(Node n, std::string_view key, bool plain) noexcept {
		// fastjson compares raw keys until a lookup misses, then decodes all keys for good.
		// The common case inline: a plain key in a non-empty object still compared raw.
		const uint8_t f = flags_[n];
		if (plain && (f & kTypeMask) == uint8_t(JType::Object) && (f & (kKeysDecoded | kKeysPlain)) != kKeysDecoded &&
		    end_[n] != n + 2) {
			Node found = n == 0 && root_count_ ? find_root_raw(key) : find_raw(n, key);
			return found != kNil ? found : get_slow(n, key, plain, true);
		}
		return get_slow(n, key, plain, false);
	}

	// The only state Get on object n depends on: whether it compares decoded keys (which
	// makes no difference in a root without escaped keys).
	bool lookup_mode(Node n) const noexcept {
		return (flags_[n] & (kKeysDecoded | kKeysPlain)) == kKeysDecoded;
	}

	size_t size(Node container) const noexcept;
	Node first_child(Node c) const noexcept {
		if (end_[c] == c + 2) return kNil;  // "{}" or "[]"
		return peek_type(c) == JType::Object ? c + 3 : c + 1;  // an object member: key, ':', value
	}
	Node next_sibling(Node child, Node c) const noexcept {
		uint32_t sep = after(child);  // ',' or the closing bracket
		if (sep + 1 == end_[c]) return kNil;
		return peek_type(c) == JType::Object ? sep + 3 : sep + 1;
	}

	// Changes whenever fastjson's lazy state changes: a result computed without changing it
	// is what the same computation gives again as long as it stays the same.
	uint32_t version() const noexcept { return version_; }

	// Lists the root's members for lookups by hash: worth it for many lookups (the
	// extractor's) rather than a few (the reader's). Until then the root is walked.
	void list_root_members() noexcept;

	// Decoded member key (fastjson's best-effort unescaping); marks the object's keys decoded.
	std::string_view key(Node member, Node object) noexcept;
	// Decoded string content (fastjson's best-effort unescaping), valid until the next call.
	std::string_view string(Node n) noexcept;
	// Appends string(n) to out (without going through a buffer).
	void append_string(Node n, std::string& out) noexcept {
		if (escaped(n)) unescape_best_effort(raw(n), out);
		else out.append(raw(n));
	}
	// Appends fastjson's MarshalTo text of `n`.
	void marshal(Node n, std::string& out) noexcept;

private:
	// kEscapeKnown / kEscaped cache whether an atom's raw text holds a backslash.
	// kKeysPlain: once decoded, the root's keys turned out to hold no backslash.
	enum : uint8_t {
		kTypeMask = 7, kTouched = 8, kKeysDecoded = 16, kEscapeKnown = 32, kEscaped = 64, kKeysPlain = 128
	};

	void mark(Node n, uint8_t bit) noexcept {
		if (!(flags_[n] & bit)) flags_[n] |= bit, version_++;
	}
	bool scan(const char* data, size_t len) noexcept;
	bool index() noexcept;
	bool check_atom(uint32_t i) noexcept;
	// Marks n's keys decoded (fastjson decodes them all at once); for the root, finds out
	// whether that changes any key.
	void decode_keys(Node n) noexcept;
	Node get_slow(Node n, std::string_view key, bool plain, bool searched) noexcept;
	Node find_raw(Node n, std::string_view key) const noexcept;
	Node find_root_raw(std::string_view key) const noexcept;
	// The slot where a root key's lookup starts (see root_slots_).
	static uint32_t root_slot(const char* key, size_t len) noexcept {
		uint32_t x = uint32_t(len);
		if (len) x |= uint32_t(uint8_t(key[0])) << 8 | uint32_t(uint8_t(key[len - 1])) << 16;
		return (x * 0x9E3779B1u) >> 26;  // 6 bits: kRootSlots
	}
	// Whether s[0..n) (inside the text) holds a backslash. Most keys and values are short:
	// 16 bytes at a time beats a call to memchr, which wins on long runs.
	bool has_backslash(const char* s, size_t n) const noexcept {
#ifdef __SSE2__
		// The loop reads ceil(n / 16) blocks, at least one: n == 0 (an empty string, maybe the
		// text's last bytes) wraps around to memchr, which reads nothing.
		if (n - 1 < 64 && s + ((n + 15) & ~size_t(15)) <= text_ + text_len_) {  // no read past the text
			const __m128i backslash = _mm_set1_epi8('\\');
			for (;; s += 16, n -= 16) {
				auto bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
				uint32_t hits = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, backslash)));
				if (n <= 16) return hits & ((1u << n) - 1);
				if (hits) return true;
			}
		}
#endif
		return std::memchr(s, '\\', n) != nullptr;
	}
	// Structural after the subtree of value n.
	uint32_t after(Node n) const noexcept { return peek_type(n) <= JType::Array ? end_[n] : n + 1; }
	// Raw text of an atom: a string or key without its quotes, a scalar token as written.
	std::string_view raw(uint32_t i) const noexcept {
		uint32_t b = pos_[i], e = end_[i];
		if (peek_type(i) == JType::String) b++, e--;
		return {text_ + b, e - b};
	}
	// Raw key or string i == text, checking the length and the first byte before the rest.
	// Keys are short: words compared inline beat a call to memcmp.
	bool raw_equals(uint32_t i, std::string_view text) const noexcept {
		uint32_t b = pos_[i] + 1;
		if (end_[i] - 1 - b != text.size() || (!text.empty() && text_[b] != text[0])) return false;
		const char *x = text_ + b, *y = text.data();
		size_t n = text.size();
		for (; n >= 8; x += 8, y += 8, n -= 8) {
			uint64_t u, v;
			std::memcpy(&u, x, 8);
			std::memcpy(&v, y, 8);
			if (u != v) return false;
		}
		for (; n; x++, y++, n--)
			if (*x != *y) return false;
		return true;
	}
	// Whether the raw text of atom i holds a backslash (found out once per event).
	bool escaped(uint32_t i) noexcept {
		if (!(flags_[i] & kEscapeKnown)) {
			std::string_view r = raw(i);
			flags_[i] |= has_backslash(r.data(), r.size()) ? kEscapeKnown | kEscaped : kEscapeKnown;
		}
		return flags_[i] & kEscaped;
	}
	std::string_view decoded(uint32_t i, std::string& buf) noexcept {
		if (!escaped(i)) return raw(i);
		buf.clear();
		unescape_best_effort(raw(i), buf);
		return buf;
	}

	std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1_;
	size_t capacity_ = 0;
	const char* text_ = nullptr;  // the payload: values are read from it
	size_t text_len_ = 0;         // its length: word reads stay inside it
	const uint8_t* scan_ = nullptr;   // what was scanned: the payload or sanitized_
	std::vector<uint8_t> sanitized_;  // a copy fit for simdjson, for payloads fastjson alone accepts
	const uint32_t* pos_ = nullptr;  // byte offset of each structural (stage 1's, or adopted)
	// Per structural: containers: index after the closing bracket; atoms: byte end of the token.
	const uint32_t* end_ = nullptr;  // end_buf_, or adopted
	std::vector<uint32_t> end_buf_;
	std::vector<uint8_t> flags_;  // per structural: JType | the bits above
	bool compact_ = false;  // no whitespace between tokens anywhere
	struct Member {
		Node value;
		uint32_t key_len;  // raw
	};
	std::vector<Member> root_members_;  // every field starts at the root: its members, listed
	uint32_t root_count_ = 0;           // 0: the root is searched like any object
	// The listed members by hash of their raw key (open addressing; slot = member + 1), when
	// at most half full: a root lookup probes one or two slots instead of every member.
	static constexpr uint32_t kRootSlots = 64;
	uint8_t root_slots_[kRootSlots] = {};
	bool root_hashed_ = false;
	uint32_t version_ = 0;
	std::string decode_buf_, key_buf_;
};

// Go's strconv.AppendQuote as fastjson uses it for strings with special characters.
void go_quote(std::string_view s, std::string& out);

}  // namespace k8a
