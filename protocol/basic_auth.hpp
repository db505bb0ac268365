#pragma once
// The credentials of an HTTP Basic Authorization header (RFC 7617): the
// scheme (case-insensitive), one space or more, then base64 of "user:password"
// (RFC 4648, with padding). Pure: fed the header's value, no I/O.
// Credentials holding a control character are refused: RFC 7617 §2 forbids
// them, and a NUL would end the password crypt(3) checks ("pw\0anything"
// would pass for "pw").

#include <optional>
#include <string>
#include <string_view>

namespace cgihost::protocol {

struct basic_credentials {
  std::string user;      // before the first ':' (may be empty)
  std::string password;  // after it (may hold ':')
};

enum class basic_error {
  not_basic,          // another scheme (Bearer, Negotiate, ...)
  malformed,          // not base64, or no ':' in the decoded text
  control_character,  // a byte 0x00-0x1F or 0x7F in the user-id or password
};

// The credentials, or why there are none.
struct basic_result {
  std::optional<basic_credentials> credentials;
  basic_error error = basic_error::malformed;
};
basic_result parse_basic_authorization(std::string_view header_value);

// RFC 4648 base64 with padding; nullopt for any other byte or a bad length.
std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

}  // namespace cgihost::protocol
