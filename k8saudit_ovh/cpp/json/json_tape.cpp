#include "json_tape.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace k8a {

namespace {

constexpr int kMaxDepth = 300;  // fastjson's MaxDepth, counting the innermost scalar

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool iequals3(std::string_view s, const char* lower) {
	for (int i = 0; i < 3; i++)
		if ((s[i] | 0x20) != lower[i]) return false;
	return true;
}

// fastjson takes any run of [0-9.eE+-] as a number, and also NaN/Inf with an optional sign.
bool is_fastjson_number(std::string_view t) {
	if (t.empty()) return false;
	std::string_view word = (t[0] == '+' || t[0] == '-') ? t.substr(1) : t;
	if (word.size() == 3 && (iequals3(word, "nan") || iequals3(word, "inf"))) return true;
	for (char c : t)
		if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
	return true;
}

int hex_value(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

// Four hex digits, or -1.
int parse_hex4(std::string_view s) {
	if (s.size() < 4) return -1;
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_value(s[i]);
		if (h < 0) return -1;
		v = v << 4 | h;
	}
	return v;
}

// Writes the UTF-8 encoding of r at o; returns the end.
char* put_utf8(uint32_t r, char* o) {
	if (r < 0x80) {
		*o++ = char(r);
	} else if (r < 0x800) {
		*o++ = char(0xC0 | r >> 6);
		*o++ = char(0x80 | (r & 0x3F));
	} else if (r < 0x10000) {
		*o++ = char(0xE0 | r >> 12);
		*o++ = char(0x80 | (r >> 6 & 0x3F));
		*o++ = char(0x80 | (r & 0x3F));
	} else {
		*o++ = char(0xF0 | r >> 18);
		*o++ = char(0x80 | (r >> 12 & 0x3F));
		*o++ = char(0x80 | (r >> 6 & 0x3F));
		*o++ = char(0x80 | (r & 0x3F));
	}
	return o;
}

// Length of the valid UTF-8 sequence at s (RFC 3629), 0 if invalid; *rune gets its value.
size_t utf8_sequence(const uint8_t* s, size_t n, uint32_t* rune) {
	uint8_t c = s[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xBF;
	if (c < 0x80) { *rune = c; return 1; }
	if (c >= 0xC2 && c <= 0xDF) len = 2;
	else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
	else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
	else return 0;
	if (n < len || s[1] < lo || s[1] > hi) return 0;
	uint32_t r = c & (0x3F >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) return 0;
		r = r << 6 | (s[i] & 0x3F);
	}
	*rune = r;
	return len;
}

// Approximation of Go's unicode.IsPrint for non-ASCII runes: the common invisible ones.
bool is_print_non_ascii(uint32_t r) {
	return !((r >= 0x80 && r <= 0xA0) || r == 0xAD || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) ||
	         (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 ||
	         (r >= 0xE000 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
	         r >= 0xF0000);
}

bool has_special_chars(std::string_view s) {
	for (unsigned char c : s)
		if (c == '"' || c == '\\' || c < 0x20) return true;
	return false;
}

// fastjson's escapeString.
void escape_string(std::string_view s, std::string& out) {
	if (has_special_chars(s)) {
		go_quote(s, out);
		return;
	}
	out += '"';
	out.append(s);
	out += '"';
}

// simdjson refuses raw control characters in strings and invalid UTF-8, which fastjson
// accepts. Replace them by 'x' in the scanned copy only: offsets stay the same and all
// text is read from the original input.
bool sanitize(uint8_t* s, size_t n) noexcept {
	bool changed = false, in_string = false;
	for (size_t i = 0; i < n;) {
		uint32_t r;
		if (s[i] >= 0x80) {
			size_t w = utf8_sequence(s + i, n - i, &r);
			if (w == 0) {
				s[i] = 'x';
				changed = true;
				w = 1;
			}
			i += w;
			continue;
		}
		if (in_string && s[i] < 0x20) {
			s[i] = 'x';
			changed = true;
		} else if (in_string && s[i] == '\\') {
			i++;  // the escaped character is checked by the next round
			if (i < n && s[i] < 0x80) {
				if (s[i] < 0x20) {
					s[i] = 'x';
					changed = true;
				}
				i++;
			}
			continue;
		} else if (s[i] == '"') {
			in_string = !in_string;
		}
		i++;
	}
	return changed;
}

}  // namespace

void unescape_best_effort(std::string_view s, std::string& out) {
	// Decoding never lengthens the text (each escape gives at most the bytes it spans):
	// it is written in place, then trimmed.
	const size_t at = out.size();
	out.resize(at + s.size());
	char* o = out.data() + at;
	const char* p = s.data();
	const char* const end = p + s.size();
	while (p < end) {
		if (*p != '\\') {  // up to the next backslash: a word at a time while 8 bytes remain
			uint64_t hit = 0;
			for (uint64_t w, x; end - p >= 8; p += 8, o += 8) {
				std::memcpy(&w, p, 8);
				std::memcpy(o, &w, 8);  // o trails p: the output has room
				x = w ^ (0x0101010101010101ull * '\\');
				hit = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;  // lowest: the first backslash
				if (hit) break;
			}
			if (hit) {
				size_t k = size_t(__builtin_ctzll(hit)) >> 3;
				p += k, o += k;
			} else {
				while (p < end && *p != '\\') *o++ = *p++;
			}
			continue;
		}
		p++;
		if (p == end) break;  // a lone trailing backslash is dropped
		char ch = *p++;
		switch (ch) {
		case '"': case '\\': case '/': *o++ = ch; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			int x = parse_hex4(std::string_view(p, size_t(end - p)));
			if (x < 0) {  // kept as written
				*o++ = '\\', *o++ = 'u';
				break;
			}
			const char* xs = p;
			p += 4;
			if (x < 0xD800 || x >= 0xE000) {
				o = put_utf8(uint32_t(x), o);
				break;
			}
			int x1 = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? parse_hex4(std::string_view(p + 2, 4)) : -1;
			if (x1 < 0) {
				*o++ = '\\', *o++ = 'u';
				std::memcpy(o, xs, 4);
				o += 4;
				break;
			}
			bool pair = x < 0xDC00 && x1 >= 0xDC00 && x1 < 0xE000;
			o = put_utf8(pair ? 0x10000 + ((uint32_t(x) - 0xD800) << 10 | (uint32_t(x1) - 0xDC00)) : 0xFFFD, o);
			p += 6;
			break;
		}
		default:
			*o++ = '\\', *o++ = ch;
		}
	}
	out.resize(size_t(o - out.data()));
}

void go_quote(std::string_view s, std::string& out) {
	static const char hex[] = "0123456789abcdef";
	auto esc = [&out](char kind, uint32_t v, int digits) {
		out += '\\';
		out += kind;
		for (int i = digits - 1; i >= 0; i--) out += hex[v >> (4 * i) & 0xF];
	};
	out += '"';
	const auto* p = reinterpret_cast<const uint8_t*>(s.data());
	for (size_t i = 0; i < s.size();) {
		uint32_t r;
		size_t w = utf8_sequence(p + i, s.size() - i, &r);
		if (w == 0) {
			esc('x', p[i], 2);
			i++;
			continue;
		}
		if (r == '"' || r == '\\') {
			out += '\\';
			out += char(r);
		} else if ((r >= 0x20 && r < 0x7F) || (r >= 0x80 && is_print_non_ascii(r))) {
			out.append(s.substr(i, w));
		} else {
			switch (r) {
			case '\a': out += "\\a"; break;
			case '\b': out += "\\b"; break;
			case '\f': out += "\\f"; break;
			case '\n': out += "\\n"; break;
			case '\r': out += "\\r"; break;
			case '\t': out += "\\t"; break;
			case '\v': out += "\\v"; break;
			default:
				if (r < 0x20 || r == 0x7F) esc('x', r, 2);
				else if (r < 0x10000) esc('u', r, 4);
				else esc('U', r, 8);
			}
		}
		i += w;
	}
	out += '"';
}

bool JsonTape::parse(const char* data, size_t len) noexcept {
	version_ = 0;
	root_count_ = 0;
	if (scan(data, len) && index()) return true;
	flags_.clear();
	return false;
}

void JsonTape::save(Node n, uint32_t* __restrict pos, uint32_t* __restrict end, uint8_t* __restrict flags) const noexcept {
	const uint32_t count = this->count(n), base = pos_[n];
	const uint32_t* __restrict from_pos = pos_ + n;
	const uint32_t* __restrict from_end = end_ + n;
	const uint8_t* __restrict from_flags = flags_.data() + n;
	if (n == 0 && base == 0) {  // the whole text: nothing to rebase
		std::memcpy(pos, from_pos, count * sizeof *pos);
		std::memcpy(end, from_end, count * sizeof *end);
	} else {
		for (uint32_t i = 0; i < count; i++) {
			// Containers end at a structural, atoms at a byte (punctuation: unused, any value).
			bool container = (from_flags[i] & kTypeMask) <= uint8_t(JType::Array);
			pos[i] = from_pos[i] - base;
			end[i] = from_end[i] - (container ? n : base);
		}
	}
	for (uint32_t i = 0; i < count; i++) flags[i] = from_flags[i] & (kTypeMask | kEscapeKnown | kEscaped);
}

bool JsonTape::adopt(const char* data, size_t len, const SavedTape& saved) noexcept {
	version_ = 0;
	flags_.clear();
	root_count_ = 0;
	if (saved.count < 2 || saved.pos[0] != 0 || size_t(saved.pos[saved.count - 1]) + 1 != len ||
	    saved.end[0] != saved.count)
		return false;
	try {
		flags_.assign(saved.flags, saved.flags + saved.count);  // a fresh, private state
	} catch (...) {
		return false;
	}
	text_ = data;
	text_len_ = len;
	scan_ = reinterpret_cast<const uint8_t*>(data);
	pos_ = saved.pos;
	end_ = saved.end;
	compact_ = false;  // not known: marshal checks the nodes it prints
	return true;
}

// simdjson's stage 1 over the payload: pos_ gets the offset of every structural.
bool JsonTape::scan(const char* data, size_t len) noexcept {
	if (len > UINT32_MAX / 2) return false;
	// fastjson rejects a byte order mark, which simdjson would skip.
	if (len >= 3 && std::memcmp(data, "\xEF\xBB\xBF", 3) == 0) return false;
	if (len > capacity_ || !stage1_) {  // grows rarely: no allocation per event
		size_t cap = std::max(len, 2 * capacity_);
		if (!stage1_ &&
		    simdjson::get_active_implementation()->create_dom_parser_implementation(cap, kMaxDepth, stage1_))
			return false;
		if (stage1_->set_capacity(cap)) return false;
		capacity_ = cap;
	}
	// Stage 1 reads whole blocks only within `len` (it copies the last partial one), so it
	// scans the payload in place.
	text_ = data;
	text_len_ = len;
	scan_ = reinterpret_cast<const uint8_t*>(data);
	auto err = stage1_->stage1(scan_, len, simdjson::stage1_mode::regular);
	if (err == simdjson::UTF8_ERROR || err == simdjson::UNESCAPED_CHARS) {
		try {
			sanitized_.assign(data, data + len);
		} catch (...) {
			return false;
		}
		scan_ = sanitized_.data();
		if (sanitize(sanitized_.data(), len)) err = stage1_->stage1(scan_, len, simdjson::stage1_mode::regular);
	}
	pos_ = stage1_->structural_indexes.get();  // followed by two sentinels at the input's end
	return !err;
}

// One pass over the structurals: fastjson's grammar, its nesting limit, and end_/flags_.
bool JsonTape::index() noexcept {
	const uint32_t n = stage1_->n_structural_indexes;
	try {
		// Grown, never shrunk: nothing is zeroed per event (flags are set below).
		if (end_buf_.size() < n) end_buf_.resize(n);
		if (flags_.size() < n) flags_.resize(n);
	} catch (...) {
		return false;
	}
	end_ = end_buf_.data();
	// Local pointers: stores to the uint8_t flags may alias anything, so members would be
	// reloaded after each one.
	const uint8_t* s = scan_;
	const uint32_t* pos = pos_;
	uint32_t* end = end_buf_.data();
	uint8_t* flags = flags_.data();
	// The text between the first and the last structural is compact (no whitespace between
	// tokens) when the tokens cover all of it: one byte per structural, plus what atoms
	// add beyond their first byte.
	uint32_t atom_extra = 0;
	std::memset(flags, 0, n);
	auto byte = [=](uint32_t i) { return i < n ? s[pos[i]] : 0; };  // the end of input reads as 0
	auto atom = [&](uint32_t i) {  // check_atom, with a shortcut for the common case
		uint32_t b = pos[i], e = pos[i + 1];
		if (s[b] == '"' && s[e - 1] == '"' && e - b >= 2) {
			flags[i] = uint8_t(JType::String);  // a string directly followed by the next token
			end[i] = e;
		} else {
			if (!check_atom(i)) return false;
			e = end[i];
		}
		atom_extra += e - b - 1;
		return true;
	};
	uint32_t stack[kMaxDepth];  // open containers
	uint8_t closer[kMaxDepth];  // the byte that closes each
	uint8_t closing = 0;        // closer[depth - 1], kept at hand
	uint32_t depth = 0, i = 0;
	if (s[pos[0]] != '{' && s[pos[0]] != '[') return false;
	for (;;) {
		// A value at i, inside `depth` containers (fewer than kMaxDepth: see below).
		if (i >= n) return false;
		uint8_t c = s[pos[i]];
		if (c == '{' || c == '[') {
			flags[i] = uint8_t(c == '{' ? JType::Object : JType::Array);
			closer[depth] = closing = c + 2;  // '}' is '{' + 2, ']' is '[' + 2
			stack[depth++] = i++;
			if (byte(i) != closing) {  // not empty
				// fastjson's depth limit counts the innermost scalar: no value this deep.
				if (depth >= kMaxDepth) return false;
				if (c == '[') continue;
				goto key;
			}
		} else {
			if (!atom(i)) return false;
			i++;
			goto after_value;
		}
	close:  // i is the closing bracket of stack[depth - 1]
		end[stack[--depth]] = ++i;
		closing = depth ? closer[depth - 1] : 0;
	after_value:
		if (depth == 0) break;
		c = byte(i);
		if (c == closing) goto close;
		if (c != ',') return false;
		i++;
		if (closing == ']') continue;
	key:  // a member key at i, then ':' (the next structural, where the key's token ends)
		if (i + 1 >= n) return false;
		if (uint32_t b = pos[i], e = pos[i + 1]; s[b] != '"' || s[e] != ':') {
			return false;
		} else if (s[e - 1] == '"' && e - b >= 2) {  // the common case of atom(i)
			flags[i] = uint8_t(JType::String);
			end[i] = e;
			atom_extra += e - b - 1;
		} else if (!atom(i)) {
			return false;
		}
		i += 2;
	}
	if (i != n) return false;  // nothing after the root
	compact_ = n + atom_extra == pos[n - 1] + 1 - pos[0];
	return true;
}

void JsonTape::list_root_members() noexcept {
	root_count_ = 0;
	if (peek_type(0) != JType::Object || end_[0] == 2) return;
	// A member takes 4 structurals (3 for the last). Grown, never shrunk: no zeroing per event.
	if (root_members_.size() < end_[0] / 4 + 1) {
		try {
			root_members_.resize(end_[0] / 4 + 1);
		} catch (...) {
			return;  // the root is searched like any object
		}
	}
	// Locals: the uint8_t stores to the slots may alias anything, members would be reloaded.
	Member* const out = root_members_.data();
	uint8_t* const slots = root_slots_;
	const uint32_t* const pos = pos_;
	const uint32_t* const end = end_;
	const uint8_t* const flags = flags_.data();
	const char* const text = text_;
	const uint32_t last = end[0] - 1;  // the closing brace
	std::memset(slots, 0, kRootSlots);
	uint32_t count = 0;
	for (Node v = 3;;) {  // after '{', a key and ':'
		const uint32_t key = pos[v - 2] + 1, len = end[v - 2] - key - 1;
		out[count] = {v, len};
		if (count < kRootSlots / 2) {  // hashed while at most half full
			uint32_t h = root_slot(text + key, len);
			while (slots[h]) h = (h + 1) % kRootSlots;  // a later duplicate lands further on: first wins
			slots[h] = uint8_t(count + 1);
		}
		count++;
		const uint32_t after = (flags[v] & kTypeMask) <= uint8_t(JType::Array) ? end[v] : v + 1;
		if (after == last) break;
		v = after + 3;
	}
	root_count_ = count;
	root_hashed_ = count <= kRootSlots / 2;
}

// A raw-key search of the root, from its listed members: the same search, without walking.
Node JsonTape::find_root_raw(std::string_view key) const noexcept {
	const Member* m = root_members_.data();
	auto same = [&](const Member& c) { return c.key_len == key.size() && raw_equals(c.value - 2, key); };
	if (root_hashed_) {
		for (uint32_t h = root_slot(key.data(), key.size()); root_slots_[h]; h = (h + 1) % kRootSlots)
			if (same(m[root_slots_[h] - 1])) return m[root_slots_[h] - 1].value;
	} else {
		for (uint32_t j = 0; j < root_count_; j++)  // in order: the first match wins
			if (same(m[j])) return m[j].value;
	}
	return kNil;
}

// A raw-key search of object n (not empty): the first member whose raw key is `key`.
Node JsonTape::find_raw(Node n, std::string_view key) const noexcept {
	const uint32_t close = end_[n] - 1;
	for (Node v = n + 3;; v = after(v) + 3) {
		if (end_[v - 2] - 2 - pos_[v - 2] == key.size() && raw_equals(v - 2, key)) return v;
		if (after(v) == close) return kNil;
	}
}

void JsonTape::decode_keys(Node n) noexcept {
	if (flags_[n] & kKeysDecoded) return;
	// For the listed root: whether no key has a backslash, so that decoding changes no
	// lookup and they keep going by hash. Elsewhere a decoded search checks only the keys
	// it must (the longer ones), which costs less than finding out for all.
	bool plain = n == 0 && root_count_;
	for (uint32_t j = 0; j < root_count_ && plain; j++)
		plain = !has_backslash(text_ + pos_[root_members_[j].value - 2] + 1, root_members_[j].key_len);
	if (plain) flags_[n] |= kKeysPlain;
	mark(n, kKeysDecoded);
}

// The token at structural i (up to the next one, trailing whitespace dropped) as fastjson
// would read a string, number or literal there; sets its type and byte end.
bool JsonTape::check_atom(uint32_t i) noexcept {
	const char* s = reinterpret_cast<const char*>(scan_);
	uint32_t b = pos_[i], e = pos_[i + 1];
	while (e > b && is_ws(s[e - 1])) e--;
	std::string_view tok(s + b, e - b);
	JType t;
	switch (tok[0]) {
	case '"':
		if (tok.size() < 2 || tok.back() != '"') return false;
		t = JType::String;
		break;
	case 't': t = JType::True; if (tok != "true") return false; break;
	case 'f': t = JType::False; if (tok != "false") return false; break;
	case 'n':
		if (tok == "null") {
			t = JType::Null;
			break;
		}
		[[fallthrough]];
	default:
		t = JType::Number;
		if (!is_fastjson_number(tok)) return false;
	}
	flags_[i] = uint8_t(t);
	end_buf_[i] = e;
	return true;
}

bool JsonTape::marshals_as_written(Node n) const noexcept {
	if (peek_type(n) > JType::Array) return peek_type(n) != JType::String || !(flags_[n] & kTouched);
	if (compact_ && version_ == 0) return true;  // nothing anywhere changed since parse()
	// Nothing touched or decoded inside, no whitespace between tokens.
	uint32_t close = end_[n] - 1, gaps = 0;
	uint8_t state = 0;
	for (uint32_t i = n; i < close; i++) {
		state |= flags_[i];
		gaps |= pos_[i + 1] ^ (peek_type(i) > JType::Array ? end_[i] : pos_[i] + 1);
	}
	return !gaps && !(state & (kTouched | kKeysDecoded));
}

size_t JsonTape::size(Node c) const noexcept {
	size_t count = 0;
	for (Node e = first_child(c); e != kNil; e = next_sibling(e, c)) count++;
	return count;
}

// get(): what the raw search of the inline part does not answer.
Node JsonTape::get_slow(Node n, std::string_view key, bool plain, bool searched) noexcept {
	if (searched) {  // a plain key missed among raw keys: fastjson decodes the keys for good
		decode_keys(n);
		if (!lookup_mode(n)) return kNil;  // which changed none: the raw search answered
	}
	if (peek_type(n) == JType::Array) {
		// Go's strconv.Atoi: optional sign, decimal digits, leading zeros allowed ("-0" is 0).
		// A value past any array's size saturates: it finds nothing, as Go's range error.
		std::string_view d = key;
		if (!d.empty() && (d[0] == '+' || d[0] == '-')) d.remove_prefix(1);
		if (d.empty()) return kNil;
		size_t idx = 0;
		for (char c : d) {
			if (c < '0' || c > '9') return kNil;
			idx = std::min<size_t>(idx * 10 + size_t(c - '0'), UINT32_MAX);
		}
		if (key[0] == '-' && idx != 0) return kNil;
		Node c = first_child(n);
		for (; c != kNil && idx; idx--) c = next_sibling(c, n);
		return c;
	}
	if (peek_type(n) != JType::Object || end_[n] == n + 2) return kNil;
	decode_keys(n);
	// Unescaping never lengthens a key, and keeps it as it is when it keeps its length: for
	// a plain `key`, a raw key of its length matches as it is, and only longer ones decode.
	for (Node v = first_child(n); v != kNil; v = next_sibling(v, n)) {
		uint32_t k = v - 2, len = end_[k] - 2 - pos_[k];
		bool match = !plain ? decoded(k, key_buf_) == key
		             : len == key.size() ? raw_equals(k, key)
		             : len > key.size() && escaped(k) && decoded(k, key_buf_) == key;
		if (match) return v;
	}
	return kNil;
}

std::string_view JsonTape::key(Node member, Node object) noexcept {
	decode_keys(object);
	return decoded(member - 2, key_buf_);
}

std::string_view JsonTape::string(Node n) noexcept { return decoded(n, decode_buf_); }

void JsonTape::marshal(Node n, std::string& out) noexcept {
	JType t = peek_type(n);
	if (t > JType::Array) {
		if (t == JType::String && (flags_[n] & kTouched)) escape_string(string(n), out);
		else out.append(written(n));  // untouched: as written
		return;
	}
	if (marshals_as_written(n)) {
		out.append(written(n));
		return;
	}
	bool object = t == JType::Object;
	out += object ? '{' : '[';
	for (Node c = first_child(n); c != kNil; c = next_sibling(c, n)) {
		if (c != first_child(n)) out += ',';
		if (object) {
			if (flags_[n] & kKeysDecoded) {
				escape_string(decoded(c - 2, key_buf_), out);
			} else {
				out.append(text_ + pos_[c - 2], end_[c - 2] - pos_[c - 2]);
			}
			out += ':';
		}
		marshal(c, out);
	}
	out += object ? '}' : ']';
}

template <class V>
static void free_if_larger(V& v, size_t keep_bytes) {
	if (v.capacity() * sizeof(typename V::value_type) > keep_bytes) V().swap(v);
}

void JsonTape::release_if_larger(size_t keep) noexcept {
	if (capacity_ <= keep) return;
	stage1_.reset();
	capacity_ = 0;
	pos_ = end_ = nullptr;  // nothing parsed is left to read
	text_ = nullptr;
	scan_ = nullptr;
	text_len_ = 0;
	root_count_ = 0;
	free_if_larger(sanitized_, keep);
	free_if_larger(end_buf_, keep);
	free_if_larger(flags_, keep);
	free_if_larger(root_members_, keep);
	free_if_larger(decode_buf_, keep);
	free_if_larger(key_buf_, keep);
}

}  // namespace k8a
