#include "host/dispatch/forwarded.hpp"

#if defined(_WIN32)
#include <ws2tcpip.h>  // inet_pton, inet_ntop
#else
#include <arpa/inet.h>
#endif

#include <charconv>
#include <optional>
#include <utility>
#include <variant>

#include "host/dispatch/exchange.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

using protocol::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view s) {
  constexpr std::size_t kShown = 80;
  std::string out = "\"";
  for (char c : s.substr(0, kShown)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  return out + (s.size() > kShown ? "...\"" : "\"");
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// A numeric address in its canonical text (an IPv4-mapped IPv6 one as IPv4,
// as the session prints its peer).
std::optional<std::string> canonical_address(std::string_view s, bool v6) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string text(s);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (!v6) {
    if (inet_pton(AF_INET, text.c_str(), bytes) != 1) return std::nullopt;
    return std::string(inet_ntop(AF_INET, bytes, out, sizeof out));
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, bytes))
    return std::string(inet_ntop(AF_INET, bytes + 12, out, sizeof out));
  return std::string(inet_ntop(AF_INET6, bytes, out, sizeof out));
}

struct node {
  std::string address;
  std::optional<std::uint16_t> port;
};

// A node of X-Forwarded-For or Forwarded's for= (RFC 7239 §6): "1.2.3.4",
// "1.2.3.4:5", "[2001:db8::1]", "[2001:db8::1]:5", and a bare IPv6 address
// when `bare_v6` (X-Forwarded-For). The error names the problem.
std::variant<node, std::string> parse_node(std::string_view s, bool bare_v6) {
  if (s == "unknown" || (!s.empty() && s.front() == '_'))
    return shown(s) + " is an obfuscated identifier (RFC 7239 §6.3), not an address";
  node n;
  std::string_view addr = s, port;
  bool v6 = false;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return shown(s) + " has no closing ]";
    addr = s.substr(1, close - 1);
    v6 = true;
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return shown(s) + " has text after ]";
      port = rest.substr(1);
      if (port.empty()) return shown(s) + " has an empty port";
    }
  } else if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    if (s.find(':', colon + 1) == std::string_view::npos) {
      addr = s.substr(0, colon);
      port = s.substr(colon + 1);
      if (port.empty()) return shown(s) + " has an empty port";
    } else if (bare_v6) {
      v6 = true;
    } else {
      return shown(s) + " is an IPv6 address without brackets";
    }
  }
  auto canonical = canonical_address(addr, v6);
  if (!canonical) return shown(s) + " is not an IP address";
  n.address = std::move(*canonical);
  if (!port.empty()) {
    n.port = parse_port(port);
    if (!n.port) return shown(s) + " has a bad port";
  }
  return n;
}

// The host part and the port of a Host-like value ("example.com",
// "example.com:8443", "[2001:db8::1]:8443"), when it is plausible.
std::optional<std::pair<std::string, std::optional<std::uint16_t>>> parse_host(std::string_view s) {
  std::string_view name = s, port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = s.substr(0, close + 1);
    if (!canonical_address(s.substr(1, close - 1), true)) return std::nullopt;
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    name = s.substr(0, colon);
    port = s.substr(colon + 1);
    for (char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.'))
        return std::nullopt;
  } else {
    for (char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.'))
        return std::nullopt;
  }
  if (name.empty() || name.size() > 255) return std::nullopt;
  std::optional<std::uint16_t> p;
  if (!port.empty() || (s.size() > name.size() && s[name.size()] == ':')) {
    p = parse_port(port);
    if (!p) return std::nullopt;
  }
  return std::pair{std::string(name), p};
}

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

using pairs = std::vector<std::pair<std::string, std::string>>;  // name lower-cased, value

// Forwarded's elements (RFC 7239 §4), its fields in order as one list. Values
// are tokens or quoted strings; an unquoted value may also hold '[', ']' and
// ':' (a bracketed IPv6 node some proxies send unquoted). Whitespace around
// ',' and ';' is skipped. The error says what is wrong.
std::variant<std::vector<pairs>, std::string> parse_forwarded(std::string_view s) {
  std::vector<pairs> elements(1);
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  while (true) {
    skip_ows();
    if (i == s.size()) break;
    if (s[i] == ',' || s[i] == ';') {
      if (s[i] == ',') elements.emplace_back();
      ++i;
      continue;
    }
    const std::size_t name_start = i;
    while (i < s.size() && is_tchar(s[i])) ++i;
    if (i == name_start || i == s.size() || s[i] != '=')
      return "a parameter without name=value at offset " + std::to_string(name_start);
    std::string name(s.substr(name_start, i - name_start));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == s.size()) break;
          c = s[i++];
        }
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return "a control character";
        value += c;
      }
      if (!closed) return "an unterminated quoted string";
    } else {
      const std::size_t start = i;
      while (i < s.size() && (is_tchar(s[i]) || s[i] == '[' || s[i] == ']' || s[i] == ':')) ++i;
      if (i == start) return "an empty value for " + name;
      value = std::string(s.substr(start, i - start));
    }
    skip_ows();
    if (i < s.size() && s[i] != ',' && s[i] != ';')
      return "unexpected " + shown(s.substr(i, 1)) + " after " + name + "=";
    for (const auto& [n, v] : elements.back())
      if (n == name) return "parameter " + name + " twice in one element";
    elements.back().emplace_back(std::move(name), std::move(value));
  }
  std::erase_if(elements, [](const pairs& p) { return p.empty(); });
  return elements;
}

const std::string* param(const pairs& element, std::string_view name) {
  for (const auto& [n, v] : element)
    if (n == name) return &v;
  return nullptr;
}

// Every field named `name`, joined with ", " in order (RFC 9110 §5.3).
std::string joined(const header_list& fields, std::string_view name) {
  std::string out;
  for (const auto& [n, v] : fields)
    if (iequals(n, name)) {
      if (!out.empty()) out += ", ";
      out += v;
    }
  return out;
}

// A comma list's non-empty items, trimmed.
std::vector<std::string_view> items(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = s.find(',');
    const auto item = trim(s.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

struct hop_choice {
  std::size_t index = 0;
  node chosen;
};

// The rightmost of `nodes` that is not trusted, or the leftmost when all
// are; the error when the one chosen (or a trusted one on the way) is not
// an address.
std::variant<hop_choice, std::string> choose_hop(const std::vector<std::string_view>& nodes,
                                                 bool bare_v6,
                                                 const config::proxy_settings& proxy) {
  for (std::size_t i = nodes.size(); i-- > 0;) {
    auto n = parse_node(nodes[i], bare_v6);
    if (auto* why = std::get_if<std::string>(&n)) return std::move(*why);
    auto& parsed = std::get<node>(n);
    if (i == 0 || !config::address_in(parsed.address, proxy.trusted))
      return hop_choice{i, std::move(parsed)};
  }
  return std::string("no address");
}

// What a trusted proxy said, before it is applied.
struct said {
  std::optional<node> address;
  std::optional<std::string> proto;  // "http" or "https"
  std::optional<std::string> host;   // a raw Host-like value
  std::optional<std::uint16_t> port;
};

std::optional<std::string> parse_proto(std::string_view v, std::string_view field,
                                       std::vector<std::string>& warnings) {
  if (iequals(v, "https")) return "https";
  if (iequals(v, "http")) return "http";
  warnings.push_back(std::string(field) + " " + shown(v) + " ignored: not http or https");
  return std::nullopt;
}

said from_x_forwarded(const header_list& fields, const config::proxy_settings& proxy,
                      std::vector<std::string>& warnings) {
  said out;
  const std::string xff = joined(fields, "X-Forwarded-For");
  if (const auto nodes = items(xff); !nodes.empty()) {
    auto hop = choose_hop(nodes, true, proxy);
    if (auto* why = std::get_if<std::string>(&hop))
      warnings.push_back("X-Forwarded-For " + shown(xff) + " ignored: " + *why);
    else
      out.address = std::move(std::get<hop_choice>(hop).chosen);
  }
  const std::string xfp = joined(fields, "X-Forwarded-Proto");
  if (const auto list = items(xfp); !list.empty())
    out.proto = parse_proto(list.back(), "X-Forwarded-Proto", warnings);
  const std::string port = joined(fields, "X-Forwarded-Port");
  if (const auto list = items(port); !list.empty()) {
    out.port = parse_port(list.back());
    if (!out.port)
      warnings.push_back("X-Forwarded-Port " + shown(port) + " ignored: not a port number");
  }
  const std::string host = joined(fields, "X-Forwarded-Host");
  if (const auto list = items(host); proxy.trust_host && !list.empty())
    out.host = std::string(list.back());
  return out;
}

said from_forwarded(const std::string& text, const config::proxy_settings& proxy,
                    std::vector<std::string>& warnings) {
  said out;
  auto parsed = parse_forwarded(text);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    warnings.push_back("Forwarded " + shown(text) + " ignored: " + *why);
    return out;
  }
  const auto& elements = std::get<std::vector<pairs>>(parsed);
  std::vector<std::string_view> nodes;
  for (const auto& e : elements) {
    const std::string* f = param(e, "for");
    if (!f) {
      warnings.push_back("Forwarded " + shown(text) + " ignored: an element without for=");
      return out;
    }
    nodes.push_back(*f);
  }
  if (nodes.empty()) return out;
  auto hop = choose_hop(nodes, false, proxy);
  if (auto* why = std::get_if<std::string>(&hop)) {
    warnings.push_back("Forwarded " + shown(text) + " ignored: " + *why);
    return out;
  }
  auto& choice = std::get<hop_choice>(hop);
  out.address = std::move(choice.chosen);
  const pairs& element = elements[choice.index];
  if (const std::string* proto = param(element, "proto"))
    out.proto = parse_proto(*proto, "Forwarded proto=", warnings);
  if (const std::string* host = param(element, "host"); host && proxy.trust_host) out.host = *host;
  return out;
}

bool any_x_forwarded(const header_list& fields) {
  for (const char* name :
       {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host"})
    if (fields.find(name)) return true;
  return false;
}

void apply(said s, client& c, std::uint16_t forwarded_port, std::vector<std::string>& warnings) {
  if (s.address) {
    c.address = std::move(s.address->address);
    if (s.address->port) c.port = *s.address->port;
    c.forwarded = true;
  }
  if (s.proto) {
    c.scheme = *s.proto;
    c.https = c.scheme == "https";
    c.server_port = c.https ? 443 : 80;
    c.forwarded = true;
  }
  if (s.host) {
    if (auto h = parse_host(*s.host)) {
      c.server_name = std::move(h->first);
      if (h->second) c.server_port = *h->second;
      c.forwarded = true;
    } else {
      warnings.push_back("forwarded host " + shown(*s.host) + " ignored: not a host[:port]");
    }
  }
  if (forwarded_port) {
    c.server_port = forwarded_port;
    c.forwarded = true;
  }
}

}  // namespace

forwarded_result resolve_client(const header_list& fields, std::string_view peer_address,
                                std::uint16_t peer_port, std::uint16_t local_port,
                                const config::proxy_settings& proxy) {
  forwarded_result out;
  client& c = out.client;
  c.address = std::string(peer_address);
  c.port = peer_port;
  c.server_port = local_port;
  // "unix:" is the address of every peer on a Unix-socket listener.
  const bool trusted = (proxy.trusted_unix && c.address == "unix:") ||
                       (!proxy.trusted.empty() && config::address_in(c.address, proxy.trusted));
  if (!trusted) return out;
  said s;
  if (any_x_forwarded(fields)) {
    s = from_x_forwarded(fields, proxy, out.warnings);
  } else if (const std::string text = joined(fields, "Forwarded"); !text.empty()) {
    s = from_forwarded(text, proxy, out.warnings);
  }
  const std::uint16_t port = s.port.value_or(0);
  apply(std::move(s), c, port, out.warnings);
  return out;
}

void resolve_client(exchange& ex, const config::proxy_settings& proxy) {
  auto r = resolve_client(ex.request().fields, ex.peer_address(), ex.peer_port(), ex.local_port(),
                          proxy);
  for (const auto& w : r.warnings)
    ex.log().warn("[proxy] rid={} from {}: {}", ex.id().str(), ex.peer_address(), w);
  if (!r.client.forwarded) ex.complete_client(r.client);
  ex.state().client = std::move(r.client);
}

}  // namespace cgihost::host
