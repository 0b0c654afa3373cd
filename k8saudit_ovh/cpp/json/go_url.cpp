#include "go_url.hpp"

namespace k8a {

namespace {

enum class Mode { Path, Host, Zone, UserPassword, QueryComponent, Fragment };

int hex_digit(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

bool is_alnum(unsigned char c) {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Go's shouldEscape for host and zone mode: what may appear unescaped in a host.
bool host_needs_escape(unsigned char c) {
	return !is_alnum(c) && std::string_view("-_.~!$&'()*+,;=:[]<>\"").find(char(c)) == std::string_view::npos;
}

// Go's url.unescape: false on a malformed escape (or a byte a host may not hold).
// Decodes into `out` when given.
bool unescape(std::string_view s, Mode mode, std::string* out) {
	bool host = mode == Mode::Host || mode == Mode::Zone;
	size_t run = 0;  // start of the bytes not yet copied to out (copied as they are)
	for (size_t i = 0; i < s.size();) {
		unsigned char c = s[i];
		if (c == '%') {
			if (i + 2 >= s.size() || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0) return false;
			unsigned char v = (unsigned char)(hex_digit(s[i + 1]) << 4 | hex_digit(s[i + 2]));
			bool pct25 = s.substr(i, 3) == "%25";
			// A host may escape only non-ASCII bytes (and %25 before a zone).
			if (mode == Mode::Host && v < 0x80 && !pct25) return false;
			if (mode == Mode::Zone && !pct25 && v != ' ' && host_needs_escape(v)) return false;
			if (out) out->append(s.substr(run, i - run)) += char(v);
			run = i += 3;
			continue;
		}
		if (host && c < 0x80 && host_needs_escape(c)) return false;
		if (c == '+' && mode == Mode::QueryComponent && out) {
			out->append(s.substr(run, i - run)) += ' ';
			run = i + 1;
		}
		i++;
	}
	if (out) out->append(s.substr(run));
	return true;
}

bool valid_optional_port(std::string_view port) {
	if (port.empty()) return true;
	if (port[0] != ':') return false;
	for (char c : port.substr(1))
		if (c < '0' || c > '9') return false;
	return true;
}

bool parse_host(std::string_view host) {
	if (!host.empty() && host[0] == '[') {
		size_t end = host.rfind(']');
		if (end == std::string_view::npos || !valid_optional_port(host.substr(end + 1))) return false;
		size_t zone = host.substr(0, end).find("%25");
		if (zone != std::string_view::npos)
			return unescape(host.substr(0, zone), Mode::Host, nullptr) &&
			       unescape(host.substr(zone, end - zone), Mode::Zone, nullptr) &&
			       unescape(host.substr(end), Mode::Host, nullptr);
	} else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
		if (!valid_optional_port(host.substr(colon))) return false;
	}
	return unescape(host, Mode::Host, nullptr);
}

bool valid_userinfo(std::string_view s) {
	for (unsigned char c : s)
		if (!is_alnum(c) && std::string_view("-._:~!$&'()*+,;=%@").find(char(c)) == std::string_view::npos)
			return false;
	return true;
}

bool parse_authority(std::string_view authority) {
	size_t at = authority.rfind('@');
	if (!parse_host(at == std::string_view::npos ? authority : authority.substr(at + 1))) return false;
	if (at == std::string_view::npos) return true;
	std::string_view userinfo = authority.substr(0, at);
	if (!valid_userinfo(userinfo)) return false;
	size_t colon = userinfo.find(':');
	if (colon == std::string_view::npos) return unescape(userinfo, Mode::UserPassword, nullptr);
	return unescape(userinfo.substr(0, colon), Mode::UserPassword, nullptr) &&
	       unescape(userinfo.substr(colon + 1), Mode::UserPassword, nullptr);
}

// Go's url.Parse, keeping only what matters here: success.
bool parse_url(std::string_view raw) {
	size_t hash = raw.find('#');
	std::string_view u = raw.substr(0, hash);
	if (hash != std::string_view::npos && !unescape(raw.substr(hash + 1), Mode::Fragment, nullptr)) return false;
	for (unsigned char c : u)
		if (c < 0x20 || c == 0x7F) return false;
	if (u == "*") return true;

	std::string_view scheme, rest = u;
	for (size_t i = 0; i < u.size(); i++) {
		unsigned char c = u[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) continue;
		if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
			if (i == 0) break;
			continue;
		}
		if (c == ':') {
			if (i == 0) return false;  // missing protocol scheme
			scheme = u.substr(0, i);
			rest = u.substr(i + 1);
		}
		break;
	}

	rest = rest.substr(0, rest.find('?'));  // the query is parsed on its own

	if (rest.empty() || rest[0] != '/') {
		if (!scheme.empty()) return true;  // opaque URL
		if (rest.substr(0, rest.find('/')).find(':') != std::string_view::npos)
			return false;  // first path segment in URL cannot contain colon
	}
	if (rest.substr(0, 2) == "//" && (!scheme.empty() || rest.substr(0, 3) != "///")) {
		std::string_view authority = rest.substr(2);
		size_t slash = authority.find('/');
		rest = slash == std::string_view::npos ? std::string_view() : authority.substr(slash);
		if (!parse_authority(authority.substr(0, slash))) return false;
	}
	return unescape(rest, Mode::Path, nullptr);
}

// url.ParseQuery: whether every pair is well-formed. Finds the first value of `key`
// (decoded into `value`) or, without `value`, only whether it is there.
bool parse_query(std::string_view query, std::string_view key, std::string* value, bool* found,
                 std::string& scratch) {
	bool ok = true;
	*found = false;
	while (!query.empty()) {
		size_t amp = query.find('&');
		std::string_view pair = query.substr(0, amp);
		query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
		if (pair.find(';') != std::string_view::npos) {
			ok = false;  // Go rejects ';' separators
			continue;
		}
		if (pair.empty()) continue;
		size_t eq = pair.find('=');
		std::string_view k = pair.substr(0, eq);
		std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
		scratch.clear();
		if (!unescape(k, Mode::QueryComponent, &scratch) || (value && !unescape(v, Mode::QueryComponent, nullptr))) {
			ok = false;
			continue;
		}
		if (!*found && scratch == key) {
			*found = true;
			if (!value) return ok;
			value->clear();
			unescape(v, Mode::QueryComponent, value);
		}
	}
	return ok;
}

}  // namespace

bool go_query_param(std::string_view uri, std::string_view key, std::string& value, std::string& scratch) {
	// Look for the key first, in the query as url.Parse cuts it (after the first '?' before
	// any '#'): most URIs do not have it, and then whether they parse does not matter.
	std::string_view u = uri.substr(0, uri.find('#'));
	size_t qmark = u.find('?');
	bool found = false;
	if (qmark == std::string_view::npos) return false;
	std::string_view query = u.substr(qmark + 1);
	// Without '%' or '+' every key decodes to itself: a query that does not hold `key` as
	// written has no such key (rules ask for keys most URIs lack).
	constexpr auto npos = std::string_view::npos;
	if (query.find('%') == npos && query.find('+') == npos && query.find(key) == npos) return false;
	parse_query(query, key, nullptr, &found, scratch);
	return found && parse_url(uri) && parse_query(query, key, &value, &found, scratch);
}

}  // namespace k8a
