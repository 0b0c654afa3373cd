#include "json_tape.hpp"

#include <cstring>
#include <utility>

namespace k8a {

namespace {

constexpr int kMaxDepth = 300;  // fastjson's MaxDepth, counting the innermost scalar

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool has_backslash(std::string_view s) {
	for (char c : s)
		if (c == '\\') return true;
	return false;
}

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

void append_utf8(uint32_t r, std::string& out) {
	if (r < 0x80) {
		out += char(r);
	} else if (r < 0x800) {
		out += char(0xC0 | r >> 6);
		out += char(0x80 | (r & 0x3F));
	} else if (r < 0x10000) {
		out += char(0xE0 | r >> 12);
		out += char(0x80 | (r >> 6 & 0x3F));
		out += char(0x80 | (r & 0x3F));
	} else {
		out += char(0xF0 | r >> 18);
		out += char(0x80 | (r >> 12 & 0x3F));
		out += char(0x80 | (r >> 6 & 0x3F));
		out += char(0x80 | (r & 0x3F));
	}
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

}  // namespace

void unescape_best_effort(std::string_view s, std::string& out) {
	size_t bs;
	while ((bs = s.find('\\')) != std::string_view::npos) {
		out.append(s.substr(0, bs));
		s.remove_prefix(bs + 1);
		if (s.empty()) return;  // a lone trailing backslash is dropped
		char ch = s[0];
		s.remove_prefix(1);
		switch (ch) {
		case '"': case '\\': case '/': out += ch; break;
		case 'b': out += '\b'; break;
		case 'f': out += '\f'; break;
		case 'n': out += '\n'; break;
		case 'r': out += '\r'; break;
		case 't': out += '\t'; break;
		case 'u': {
			int x = parse_hex4(s);
			if (x < 0) {  // kept as written
				out += "\\u";
				break;
			}
			std::string_view xs = s.substr(0, 4);
			s.remove_prefix(4);
			if (x < 0xD800 || x >= 0xE000) {
				append_utf8(uint32_t(x), out);
				break;
			}
			int x1 = s.size() >= 6 && s[0] == '\\' && s[1] == 'u' ? parse_hex4(s.substr(2)) : -1;
			if (x1 < 0) {
				out += "\\u";
				out.append(xs);
				break;
			}
			bool pair = x < 0xDC00 && x1 >= 0xDC00 && x1 < 0xE000;
			append_utf8(pair ? 0x10000 + ((uint32_t(x) - 0xD800) << 10 | (uint32_t(x1) - 0xDC00)) : 0xFFFD, out);
			s.remove_prefix(6);
			break;
		}
		default:
			out += '\\';
			out += ch;
		}
	}
	out.append(s);
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

// simdjson refuses raw control characters in strings and invalid UTF-8, which fastjson
// accepts. Replace them by 'x' in the scanned copy only: offsets stay the same and all
// text is read from the original input.
bool JsonTape::sanitize() noexcept {
	bool changed = false, in_string = false;
	size_t n = input_.size();
	uint8_t* s = scan_.data();
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

bool JsonTape::parse(const char* data, size_t len) noexcept {
	nodes_.clear();
	if (len > UINT32_MAX / 2) return false;
	// fastjson rejects a byte order mark, which simdjson would skip.
	if (len >= 3 && std::memcmp(data, "\xEF\xBB\xBF", 3) == 0) return false;
	input_.assign(data, data + len);
	scan_.resize(len + simdjson::SIMDJSON_PADDING);
	std::memcpy(scan_.data(), data, len);
	std::memset(scan_.data() + len, 0, simdjson::SIMDJSON_PADDING);
	for (bool retried = false;; retried = true) {
		simdjson::ondemand::document doc;
		simdjson::ondemand::value root;
		auto err = parser_.iterate(reinterpret_cast<const char*>(scan_.data()), len, scan_.size()).get(doc);
		if (!err) err = doc.get_value().get(root);
		if (!err && build(root, 1, 0, 0) && doc.at_end()) return true;
		nodes_.clear();
		if (retried || (err != simdjson::UTF8_ERROR && err != simdjson::UNESCAPED_CHARS) || !sanitize())
			return false;
	}
}

bool JsonTape::add_scalar(std::string_view tok, uint32_t key_start, uint32_t key_len) noexcept {
	while (!tok.empty() && is_ws(tok.back())) tok.remove_suffix(1);
	Rec r;
	r.key_start = key_start;
	r.key_len = key_len;
	r.start = uint32_t(tok.data() - reinterpret_cast<const char*>(scan_.data()));
	r.len = uint32_t(tok.size());
	switch (tok[0]) {
	case '"':
		if (tok.size() < 2 || tok.back() != '"') return false;
		r.type = JType::String;
		r.start++;
		r.len -= 2;
		if (has_backslash(raw(r.start, r.len))) r.flags |= kStrEscaped;
		break;
	case 't': r.type = JType::True; if (tok != "true") return false; break;
	case 'f': r.type = JType::False; if (tok != "false") return false; break;
	case 'n':
		if (tok == "null") {
			r.type = JType::Null;
			break;
		}
		[[fallthrough]];
	default:
		r.type = JType::Number;
		if (!is_fastjson_number(tok)) return false;
	}
	if (has_backslash(raw(key_start, key_len))) r.flags |= kKeyEscaped;
	r.next = uint32_t(nodes_.size() + 1);
	nodes_.push_back(r);
	return true;
}

bool JsonTape::build(simdjson::ondemand::value v, int depth, uint32_t key_start, uint32_t key_len) noexcept {
	if (depth > kMaxDepth) return false;
	std::string_view tok = v.raw_json_token();
	if (tok.empty()) return false;
	if (tok[0] != '{' && tok[0] != '[') return add_scalar(tok, key_start, key_len);

	Node self = Node(nodes_.size());
	Rec r;
	r.key_start = key_start;
	r.key_len = key_len;
	if (has_backslash(raw(key_start, key_len))) r.flags |= kKeyEscaped;
	nodes_.push_back(r);
	uint32_t count = 0;
	const char* base = reinterpret_cast<const char*>(scan_.data());
	if (tok[0] == '{') {
		nodes_[self].type = JType::Object;
		simdjson::ondemand::object obj;
		if (v.get_object().get(obj)) return false;
		for (auto member : obj) {
			simdjson::ondemand::field f;
			if (std::move(member).get(f)) return false;
			std::string_view k = f.escaped_key();
			if (!build(f.value(), depth + 1, uint32_t(k.data() - base), uint32_t(k.size()))) return false;
			count++;
		}
	} else {
		nodes_[self].type = JType::Array;
		simdjson::ondemand::array arr;
		if (v.get_array().get(arr)) return false;
		for (auto element : arr) {
			simdjson::ondemand::value ev;
			if (std::move(element).get(ev) || !build(ev, depth + 1, 0, 0)) return false;
			count++;
		}
	}
	nodes_[self].count = count;
	nodes_[self].next = uint32_t(nodes_.size());
	return true;
}

JType JsonTape::type(Node n) noexcept {
	Rec& r = nodes_[n];
	if (r.type == JType::String) r.flags |= kTouched;
	return r.type;
}

std::string_view JsonTape::decoded_key(const Rec& r) noexcept {
	std::string_view k = raw(r.key_start, r.key_len);
	if (!(r.flags & kKeyEscaped)) return k;
	key_buf_.clear();
	unescape_best_effort(k, key_buf_);
	return key_buf_;
}

Node JsonTape::get(Node n, std::string_view key) noexcept {
	Rec& r = nodes_[n];
	if (r.type == JType::Array) {
		// Go's strconv.Atoi: optional sign, decimal digits.
		std::string_view d = key;
		if (!d.empty() && (d[0] == '+' || d[0] == '-')) d.remove_prefix(1);
		if (d.empty() || d.size() > 9 || key[0] == '-') return kNil;
		size_t idx = 0;
		for (char c : d) {
			if (c < '0' || c > '9') return kNil;
			idx = idx * 10 + size_t(c - '0');
		}
		Node c = first_child(n);
		for (; c != kNil && idx; idx--) c = next_sibling(c, n);
		return c;
	}
	if (r.type != JType::Object) return kNil;
	// fastjson compares raw keys until one lookup misses, then decodes all keys for good.
	if (!(r.flags & kKeysDecoded) && key.find('\\') == std::string_view::npos) {
		for (Node c = first_child(n); c != kNil; c = next_sibling(c, n)) {
			const Rec& m = nodes_[c];
			if (!(m.flags & kKeyEscaped) && raw(m.key_start, m.key_len) == key) return c;
		}
	}
	r.flags |= kKeysDecoded;
	for (Node c = first_child(n); c != kNil; c = next_sibling(c, n)) {
		const Rec& m = nodes_[c];
		if (m.flags & kKeyEscaped ? decoded_key(m) == key : raw(m.key_start, m.key_len) == key) return c;
	}
	return kNil;
}

std::string_view JsonTape::key(Node member, Node object) noexcept {
	nodes_[object].flags |= kKeysDecoded;
	return decoded_key(nodes_[member]);
}

std::string_view JsonTape::string(Node n) noexcept {
	const Rec& r = nodes_[n];
	if (!(r.flags & kStrEscaped)) return raw(r.start, r.len);
	decode_buf_.clear();
	unescape_best_effort(raw(r.start, r.len), decode_buf_);
	return decode_buf_;
}

void JsonTape::marshal(Node n, std::string& out) noexcept {
	const Rec& r = nodes_[n];
	switch (r.type) {
	case JType::Object:
	case JType::Array: {
		bool object = r.type == JType::Object;
		out += object ? '{' : '[';
		for (Node c = first_child(n); c != kNil; c = next_sibling(c, n)) {
			if (c != n + 1) out += ',';
			if (object) {
				const Rec& m = nodes_[c];
				if (r.flags & kKeysDecoded) {
					escape_string(decoded_key(m), out);
				} else {
					out += '"';
					out.append(raw(m.key_start, m.key_len));
					out += '"';
				}
				out += ':';
			}
			marshal(c, out);
		}
		out += object ? '}' : ']';
		break;
	}
	case JType::String:
		if (r.flags & kTouched) {
			escape_string(string(n), out);
		} else {
			out += '"';
			out.append(raw(r.start, r.len));
			out += '"';
		}
		break;
	case JType::Number: out.append(raw(r.start, r.len)); break;
	case JType::True: out += "true"; break;
	case JType::False: out += "false"; break;
	case JType::Null: out += "null"; break;
	}
}

}  // namespace k8a
