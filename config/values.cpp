#include "config/values.hpp"

#if defined(_WIN32)
#include <ws2tcpip.h>  // inet_pton
#else
#include <arpa/inet.h>
#endif

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace cgihost::config {
namespace {

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

std::variant<std::chrono::milliseconds, std::string> parse_duration(std::string_view s) {
  const std::string bad =
      "invalid duration " + dq(s) + " (use e.g. \"250ms\", \"30s\", \"15m\", \"1h\")";
  if (s.empty()) return bad;
  std::uint64_t total_ms = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    std::uint64_t n = 0;
    if (j == i || !parse_uint(s.substr(i, j - i), n)) return bad;
    std::size_t k = j;
    while (k < s.size() && s[k] >= 'a' && s[k] <= 'z') ++k;
    std::string_view unit = s.substr(j, k - j);
    std::uint64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else
      return bad;
    if (n > (std::uint64_t{1} << 40) / scale) return "duration " + dq(s) + " is too long";
    total_ms += n * scale;
    i = k;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

std::variant<std::uint64_t, std::string> parse_size(std::string_view s) {
  const std::string bad = "invalid size " + dq(s) + " (use bytes or e.g. \"64k\", \"16m\", \"1g\")";
  std::size_t j = 0;
  while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
  std::uint64_t n = 0;
  if (!parse_uint(s.substr(0, j), n)) return bad;
  std::string unit(s.substr(j));
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  unsigned shift = 0;
  if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    shift = 30;
  else
    return bad;
  if (shift && n > (std::uint64_t{1} << (62 - shift))) return "size " + dq(s) + " is too large";
  return n << shift;
}

std::string endpoint::to_string() const {
  if (is_unix()) return "unix:" + unix_path;
  return v6 ? "[" + address + "]:" + std::to_string(port) : address + ":" + std::to_string(port);
}

namespace {
// "HOST:PORT" or "[V6]:PORT" split in two; false when neither form. A bare
// host holding ':' is refused: IPv6 needs its brackets.
bool split_host_port(std::string_view s, std::string_view& host, std::string_view& port,
                     bool& bracketed) {
  bracketed = !s.empty() && s.front() == '[';
  if (bracketed) {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    return true;
  }
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = s.substr(0, colon);
  port = s.substr(colon + 1);
  return host.find(':') == std::string_view::npos;
}
}  // namespace

std::variant<endpoint, std::string> parse_endpoint(std::string_view s) {
  const std::string bad =
      "invalid listen address " + dq(s) +
      " (use HOST:PORT with a numeric address, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")";
  endpoint ep;
  std::string_view host, port;
  if (!split_host_port(s, host, port, ep.v6)) return bad;
  std::uint64_t p = 0;
  if (!parse_uint(port, p)) return bad;
  if (p > 65535) return "port " + std::string(port) + " out of range in " + dq(s);
  std::string h(host);
  unsigned char buf[16];
  if (inet_pton(ep.v6 ? AF_INET6 : AF_INET, h.c_str(), buf) != 1) return bad;
  ep.address = h;
  ep.port = static_cast<std::uint16_t>(p);
  return ep;
}

std::variant<endpoint, std::string> parse_listen(std::string_view s) {
  if (!s.starts_with("unix:")) return parse_endpoint(s);
  auto path = s.substr(5);
  if (path.empty() || path.front() != '/')
    return "invalid listen address " + dq(s) +
           " (unix: needs an absolute path, e.g. \"unix:/run/cgihost/fcgi.sock\")";
  if (path.size() >= 108) return "socket path too long in " + dq(s) + " (at most 107 bytes)";
  if (path.find('\0') != std::string_view::npos || path.back() == '/')
    return "invalid listen address " + dq(s);
  endpoint ep;
  ep.unix_path = std::string(path);
  return ep;
}

std::variant<std::uint32_t, std::string> parse_socket_mode(std::string_view s) {
  const std::string bad =
      "invalid socket mode " + dq(s) + " (octal permission bits, e.g. \"0660\")";
  if (s.empty() || s.size() > 4) return bad;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return bad;
    v = v * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 0777) return bad;
  return v;
}

std::variant<fastcgi_address, std::string> parse_fastcgi_address(std::string_view s) {
  fastcgi_address a;
  a.text = std::string(s);
  if (s.starts_with("unix:")) {
    auto path = s.substr(5);
    if (path.empty() || path.front() != '/')
      return "invalid FastCGI address " + dq(s) +
             " (unix: needs an absolute path, e.g. \"unix:/run/php/php-fpm.sock\")";
    if (path.size() >= 108) return "socket path too long in " + dq(s) + " (at most 107 bytes)";
    if (path.find('\0') != std::string_view::npos) return "invalid FastCGI address " + dq(s);
    a.unix_path = std::string(path);
    return a;
  }
  const std::string bad = "invalid FastCGI address " + dq(s) +
                          " (use \"unix:/path\" or HOST:PORT, e.g. \"127.0.0.1:9000\", "
                          "\"[::1]:9000\", \"php1.internal:9000\")";
  std::string_view host, port;
  bool v6 = false;
  if (!split_host_port(s, host, port, v6)) return bad;
  if (v6) {
    unsigned char buf[16];
    if (inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1) return bad;
  } else if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
               // A numeric IPv4 address or a host name (RFC 1123 letters, digits, '-', '.').
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
             })) {
    return bad;
  }
  std::uint64_t p = 0;
  if (!parse_uint(port, p)) return bad;
  if (p == 0 || p > 65535) return "port " + std::string(port) + " out of range in " + dq(s);
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(p);
  return a;
}

bool cidr::contains(const std::uint8_t* address, bool address_v6) const noexcept {
  std::uint8_t mapped[4];
  if (address_v6 && !v6) {
    // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4 ranges.
    static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!std::equal(kPrefix, kPrefix + 12, address)) return false;
    std::copy(address + 12, address + 16, mapped);
    address = mapped;
  } else if (address_v6 != v6) {
    return false;
  }
  unsigned full = prefix / 8, rest = prefix % 8;
  for (unsigned i = 0; i < full; ++i)
    if (address[i] != bytes[i]) return false;
  if (rest) {
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((address[full] & mask) != (bytes[full] & mask)) return false;
  }
  return true;
}

bool address_in(const std::string& address, const std::vector<cidr>& ranges) {
  std::uint8_t bytes[16];
  bool v6 = false;
  if (inet_pton(AF_INET, address.c_str(), bytes) != 1) {
    if (inet_pton(AF_INET6, address.c_str(), bytes) != 1) return false;
    v6 = true;
  }
  for (const auto& r : ranges)
    if (r.contains(bytes, v6)) return true;
  return false;
}

std::variant<cidr, std::string> parse_cidr(std::string_view s) {
  const std::string bad =
      "invalid address range " + dq(s) + " (use e.g. \"127.0.0.1/32\" or \"::1/128\")";
  cidr c;
  c.text = std::string(s);
  std::string_view addr = s;
  std::optional<std::uint64_t> prefix;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    std::uint64_t p = 0;
    if (!parse_uint(s.substr(slash + 1), p)) return bad;
    prefix = p;
    addr = s.substr(0, slash);
  }
  std::string a(addr);
  c.v6 = a.find(':') != std::string::npos;
  if (inet_pton(c.v6 ? AF_INET6 : AF_INET, a.c_str(), c.bytes.data()) != 1) return bad;
  unsigned max = c.v6 ? 128 : 32;
  if (prefix && *prefix > max)
    return "prefix length /" + std::to_string(*prefix) + " too long in " + dq(s);
  c.prefix = prefix ? static_cast<unsigned>(*prefix) : max;
  return c;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace cgihost::config
