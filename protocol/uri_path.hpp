#pragma once
// Request-target normalization: the one place where a URL path becomes a
// path that may be looked up under the document root.

#include <string>
#include <string_view>
#include <system_error>

#include "protocol/result.hpp"

namespace cgihost::protocol {

// Why a request target was refused. Every value maps to 400 Bad Request.
enum class path_error {
  not_origin_form = 1,   // neither "/path" nor "http(s)://authority/path"
  bad_percent_encoding,  // '%' not followed by two hex digits
  encoded_nul,           // %00 anywhere in the path
  encoded_slash,         // %2F inside a segment: would change the segment structure
  backslash,             // '\' or %5C: a separator on Windows, refused everywhere
  control_character,     // a byte below 0x20 or 0x7F after decoding
  escapes_root,          // ".." would climb above "/"
  fragment,              // '#' in a request target (RFC 9112 §3.2: never sent)
};

const std::error_category& path_category() noexcept;
inline std::error_code make_error_code(path_error e) noexcept {
  return {static_cast<int>(e), path_category()};
}

// A request target split into its normalized path and its raw query.
struct normalized_target {
  std::string path;   // decoded, starts with '/', no "." / ".." / empty segments;
                      // ends with '/' when the request's path did (or ended in a dot segment)
  std::string query;  // raw bytes after the first '?', never decoded (RFC 3875 §4.1.7)
  bool has_query = false;
};

// Normalizes an origin-form or absolute-form request target once: percent-decoding,
// removal of dot segments (RFC 3986 §5.2.4) and of repeated slashes. Anything that
// would leave "/", and any encoded NUL, slash or backslash, is refused with the reason.
[[nodiscard]] result<normalized_target> normalize_target(std::string_view target);

}  // namespace cgihost::protocol

template <>
struct std::is_error_code_enum<cgihost::protocol::path_error> : std::true_type {};
