#pragma once
// The token handle IIS forwards to a process behind HttpPlatformHandler
// (forwardWindowsAuthToken="true"): for a request IIS authenticated with
// Windows authentication it duplicates the user's primary token into the
// backend process and sends the handle's value in the X-IIS-WindowsAuthToken
// request header, printed in hexadecimal without prefix or leading zeros
// (the module formats it with _ui64toa_s(handle, buf, 16, 16): lowercase,
// at most 15 digits; e.g. "2f4"). The receiver must close that handle.
// Pure: this only reads the header's value; using the handle is the
// platform's business.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "protocol/result.hpp"

namespace cgihost::protocol::iis {

// The header's name (case-insensitive, like every field name).
inline constexpr std::string_view token_header = "X-IIS-WindowsAuthToken";

enum class token_error {
  empty = 1,     // the header is present with no value
  not_hex,       // a byte that is not 0-9, a-f, A-F (no "0x", sign or blanks)
  too_long,      // more than 16 digits: no handle value is that long
  zero,          // 0 is never a handle (NULL)
  not_a_handle,  // above 32 bits, or the low two bits set: a kernel handle
                 // value is a multiple of 4 below 2^32, so this is no
                 // handle DuplicateHandle returned (e.g. the pseudo-handles
                 // -1 and -2, or INVALID_HANDLE_VALUE)
};

const std::error_category& token_category() noexcept;
inline std::error_code make_error_code(token_error e) noexcept {
  return {static_cast<int>(e), token_category()};
}

// The handle value the header names, or why it names none.
[[nodiscard]] result<std::uint64_t> parse_token_handle(std::string_view header_value);

}  // namespace cgihost::protocol::iis

template <>
struct std::is_error_code_enum<cgihost::protocol::iis::token_error> : std::true_type {};
