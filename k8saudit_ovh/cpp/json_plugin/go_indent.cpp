#include "go_indent.hpp"

namespace k8a {

namespace {

constexpr size_t kGoMaxDepth = 10000;  // encoding/json's maxNestingDepth

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A string token at p ('"'), escapes checked as Go does (any other byte >= 0x20 passes,
// invalid UTF-8 included); returns its end, or nullptr.
const char* skip_string(const char* p, const char* end) {
	for (p++; p < end; p++) {
		const unsigned char c = static_cast<unsigned char>(*p);
		if (c == '"') return p + 1;
		if (c < 0x20) return nullptr;
		if (c != '\\') continue;
		if (++p == end) return nullptr;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
		case 'u':
			if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4])) return nullptr;
			p += 4;
			break;
		default: return nullptr;
		}
	}
	return nullptr;
}

// A number token in JSON's strict grammar; returns its end, or nullptr.
const char* skip_number(const char* p, const char* end) {
	if (*p == '-' && ++p == end) return nullptr;
	if (*p == '0') p++;
	else if (is_digit(*p)) while (p < end && is_digit(*p)) p++;
	else return nullptr;
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p)) return nullptr;
		while (p < end && is_digit(*p)) p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-')) p++;
		if (p == end || !is_digit(*p)) return nullptr;
		while (p < end && is_digit(*p)) p++;
	}
	return p;
}

const char* skip_literal(const char* p, const char* end, std::string_view word) {
	return size_t(end - p) >= word.size() && std::string_view(p, word.size()) == word ? p + word.size() : nullptr;
}

void newline(std::string& out, size_t depth) {
	out += '\n';
	out.append(2 * depth, ' ');
}

}  // namespace

bool go_indent(std::string_view src, std::string& out, std::string& stack) {
	const size_t start = out.size();
	const char* p = src.data();
	const char* const end = p + src.size();
	auto fail = [&] {
		out.resize(start);
		return false;
	};
	// What comes next: a value, a member key, either of them or the closing bracket (just
	// after '[' / '{': Go writes an empty container as "[]" / "{}"), or what follows a value.
	enum { Value, Key, FirstValue, FirstKey, AfterValue } next = Value;
	stack.clear();  // the closing bracket of each open container
	for (;;) {
		if (next == AfterValue && stack.empty()) {
			// After the top-level value only whitespace, which Go copies as it is.
			for (const char* q = p; q < end; q++)
				if (!is_space(*q)) return fail();
			out.append(p, size_t(end - p));
			return true;
		}
		while (p < end && is_space(*p)) p++;
		if (p == end) return fail();
		const char c = *p;
		if (next == AfterValue) {
			if (c == ',') {
				out += ',';
				newline(out, stack.size());
				next = stack.back() == '}' ? Key : Value;
			} else if (c == stack.back()) {
				stack.pop_back();
				newline(out, stack.size());
				out += c;
			} else {
				return fail();
			}
			p++;
			continue;
		}
		if (next == FirstValue || next == FirstKey) {
			if (c == stack.back()) {  // empty
				stack.pop_back();
				out += c;
				p++;
				next = AfterValue;
				continue;
			}
			newline(out, stack.size());
			next = next == FirstKey ? Key : Value;
		}
		if (next == Key) {
			const char* e = c == '"' ? skip_string(p, end) : nullptr;
			if (!e) return fail();
			out.append(p, size_t(e - p));
			p = e;
			while (p < end && is_space(*p)) p++;
			if (p == end || *p != ':') return fail();
			out += ": ";
			p++;
			next = Value;
			continue;
		}
		// A value.
		if (c == '{' || c == '[') {
			if (stack.size() >= kGoMaxDepth) return fail();
			stack += char(c + 2);  // '}' is '{' + 2, ']' is '[' + 2
			out += c;
			p++;
			next = c == '{' ? FirstKey : FirstValue;
			continue;
		}
		const char* e = c == '"'                  ? skip_string(p, end)
		                : c == '-' || is_digit(c) ? skip_number(p, end)
		                : c == 't'                ? skip_literal(p, end, "true")
		                : c == 'f'                ? skip_literal(p, end, "false")
		                : c == 'n'                ? skip_literal(p, end, "null")
		                                          : nullptr;
		if (!e) return fail();
		out.append(p, size_t(e - p));
		p = e;
		next = AfterValue;
	}
}

}  // namespace k8a
