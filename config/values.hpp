#pragma once
// Parsers for the scalar forms the config accepts: durations, sizes,
// listen addresses and CIDR ranges. Pure; each returns nullopt or an error text.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cgihost::config {

// "250ms", "30s", "15m", "1h", or a sum of them ("1h30m"). Error text on failure.
std::variant<std::chrono::milliseconds, std::string> parse_duration(std::string_view s);

// Bytes: a plain number, or with a binary suffix "k", "m", "g" (also "KiB", "MiB", "GiB").
std::variant<std::uint64_t, std::string> parse_size(std::string_view s);

// A numeric IP address and port: "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80";
// or, from parse_listen only, a Unix socket "unix:/run/cgihost/http.sock".
struct endpoint {
  std::string address;  // the address alone, without brackets
  std::uint16_t port = 0;
  bool v6 = false;
  std::string unix_path;          // set for "unix:/path" (then address and port are empty)
  std::string to_string() const;  // "127.0.0.1:8080" / "[::1]:8080" / "unix:/path"
  bool is_unix() const { return !unix_path.empty(); }
  bool operator==(const endpoint&) const = default;
};
std::variant<endpoint, std::string> parse_endpoint(std::string_view s);
// A listener's address: "unix:/absolute/path" (at most 107 bytes) or what
// parse_endpoint takes.
std::variant<endpoint, std::string> parse_listen(std::string_view s);
// A Unix socket's permission bits as written: "0660", "660", "0600" (octal, at most 0777).
std::variant<std::uint32_t, std::string> parse_socket_mode(std::string_view s);

// Where a FastCGI server listens: "unix:/run/php/php-fpm.sock" (an absolute
// path), or "HOST:PORT" with a numeric address ("127.0.0.1:9000",
// "[::1]:9000") or a host name ("php1.internal:9000", resolved when connecting).
struct fastcgi_address {
  std::string unix_path;  // set for "unix:"
  std::string host;       // otherwise: without brackets
  std::uint16_t port = 0;
  std::string text;  // as written
  bool operator==(const fastcgi_address&) const = default;
};
std::variant<fastcgi_address, std::string> parse_fastcgi_address(std::string_view s);

// "127.0.0.1/32", "10.0.0.0/8", "::1/128"; a bare address means a single host.
struct cidr {
  std::array<std::uint8_t, 16> bytes{};  // v4 addresses use the first 4
  unsigned prefix = 0;
  bool v6 = false;
  std::string text;
  // True when `address` (4 or 16 bytes, network order) lies in the range.
  bool contains(const std::uint8_t* address, bool address_v6) const noexcept;
};
std::variant<cidr, std::string> parse_cidr(std::string_view s);

// True when numeric address `address` ("127.0.0.1", "::1", or an IPv4-mapped
// IPv6 form) lies in one of `ranges`; false for anything unparsable.
bool address_in(const std::string& address, const std::vector<cidr>& ranges);

// Edit distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace cgihost::config
