#include "protocol/basic_auth.hpp"

#include <cstdint>

#include "protocol/text.hpp"

namespace cgihost::protocol {
namespace {

constexpr const char* kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      // '=' only at the very end, and only in the last two places.
      if (c == '=' && i + 4 == in.size() && k >= 2 && (k == 3 || in[i + 3] == '=')) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = value_of(c)) < 0) {
        return std::nullopt;
      }
    }
    std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) |
                      (static_cast<std::uint32_t>(v[1]) << 12) |
                      (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    // The bits past the last byte must be zero: one text per value (RFC 4648 §3.5).
    if ((pad == 2 && (n & 0xffff) != 0) || (pad == 1 && (n & 0xff) != 0)) return std::nullopt;
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size())
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

basic_result parse_basic_authorization(std::string_view value) {
  basic_result r;
  value = trim(value);
  constexpr std::string_view scheme = "basic";
  bool is_basic =
      value.size() > scheme.size() && (value[scheme.size()] == ' ' || value[scheme.size()] == '\t');
  for (std::size_t i = 0; is_basic && i < scheme.size(); ++i)
    is_basic = (value[i] | 0x20) == scheme[i];
  if (!is_basic) {
    r.error = basic_error::not_basic;
    return r;
  }
  auto decoded = base64_decode(trim(value.substr(scheme.size())));
  if (!decoded) return r;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return r;
  for (char c : *decoded) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      r.error = basic_error::control_character;
      return r;
    }
  }
  r.credentials = basic_credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  return r;
}

}  // namespace cgihost::protocol
