#include "protocol/iis_token.hpp"

#include <string>

namespace cgihost::protocol::iis {
namespace {

class token_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cgihost.iis_token"; }
  std::string message(int ev) const override {
    switch (static_cast<token_error>(ev)) {
      case token_error::empty:
        return "empty token handle";
      case token_error::not_hex:
        return "token handle is not hexadecimal";
      case token_error::too_long:
        return "token handle has more than 16 digits";
      case token_error::zero:
        return "token handle is zero";
      case token_error::not_a_handle:
        return "token handle is no handle value (not a multiple of 4 below 2^32)";
    }
    return "unknown token handle error";
  }
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::error_category& token_category() noexcept {
  static const token_category_impl instance;
  return instance;
}

result<std::uint64_t> parse_token_handle(std::string_view header_value) {
  if (header_value.empty()) return token_error::empty;
  for (char c : header_value)
    if (hex_digit(c) < 0) return token_error::not_hex;
  if (header_value.size() > 16) return token_error::too_long;
  std::uint64_t v = 0;
  for (char c : header_value) v = (v << 4) | static_cast<std::uint64_t>(hex_digit(c));
  if (v == 0) return token_error::zero;
  // Windows keeps handles 32-bit significant (for 32/64-bit interop), and the
  // kernel uses a handle's low two bits as tag bits: one handle has many spellings
  // otherwise.
  if (v > 0xffffffffu || (v & 3u) != 0) return token_error::not_a_handle;
  return v;
}

}  // namespace cgihost::protocol::iis
