#pragma once
// UTF-8 <-> UTF-16, for the Windows API's wide strings (wchar_t is 16 bits
// there: a std::wstring is a std::u16string by value). Pure and
// platform-neutral, so that config/ and spawner/ share one conversion and it
// is tested on every platform.
//
// UTF-8 is read as RFC 3629 and Unicode 15 §3.9 (Table 3-7) say: no overlong
// forms, no encoded surrogates (ED A0..ED BF), nothing above U+10FFFF, no
// truncated sequence. UTF-16 is well formed when every high surrogate
// (D800..DBFF) is followed by a low one (DC00..DFFF) and no low one stands
// alone.

#include <string>
#include <string_view>
#include <system_error>

#include "protocol/result.hpp"

namespace cgihost::protocol {

enum class utf_error {
  invalid_utf8 = 1,  // a byte sequence that is no UTF-8 (see above)
  lone_surrogate,    // UTF-16 with a surrogate that has no partner
};

const std::error_category& utf_category() noexcept;
inline std::error_code make_error_code(utf_error e) noexcept {
  return {static_cast<int>(e), utf_category()};
}

// Strict: the text in the other encoding, or the error when the input is
// not well formed. For what must not change on the way (a name compared
// with another, a secret).
[[nodiscard]] result<std::u16string> utf8_to_utf16(std::string_view utf8);
[[nodiscard]] result<std::string> utf16_to_utf8(std::u16string_view utf16);

// Lenient: each ill-formed part becomes U+FFFD, one per maximal subpart of
// an ill-formed UTF-8 sequence and one per lone surrogate, as Windows'
// MultiByteToWideChar and WideCharToMultiByte do without
// MB_ERR_INVALID_CHARS. For paths and messages: a name with U+FFFD in it
// matches no file or account, and text to print stays printable.
std::u16string utf8_to_utf16_lossy(std::string_view utf8);
std::string utf16_to_utf8_lossy(std::u16string_view utf16);

}  // namespace cgihost::protocol

template <>
struct std::is_error_code_enum<cgihost::protocol::utf_error> : std::true_type {};
