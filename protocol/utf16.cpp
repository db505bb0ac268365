#include "protocol/utf16.hpp"

#include <cstdint>

namespace cgihost::protocol {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

class utf_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "utf"; }
  std::string message(int e) const override {
    switch (static_cast<utf_error>(e)) {
      case utf_error::invalid_utf8:
        return "not valid UTF-8";
      case utf_error::lone_surrogate:
        return "a UTF-16 surrogate without its partner";
    }
    return "unknown UTF error";
  }
};

// One code point decoded from the front of `s`: the code point and the
// bytes it took, or (on an ill-formed sequence) no code point and the length
// of its maximal subpart (at least 1), as Unicode §3.9 counts it.
struct decoded {
  bool ok;
  char32_t cp;
  std::size_t length;
};

decoded decode_one(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {true, b0, 1};
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range (Table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {false, 0, 1};
  }
  char32_t cp = b0 & (0x3F >> need);
  for (std::size_t i = 1; i <= need; ++i) {
    if (i >= s.size()) return {false, 0, i};
    const auto b = static_cast<unsigned char>(s[i]);
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return {false, 0, i};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {true, cp, need + 1};
}

void append_utf16(std::u16string& out, char32_t cp) {
  if (cp < 0x10000) {
    out.push_back(static_cast<char16_t>(cp));
    return;
  }
  cp -= 0x10000;
  out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
  out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Both directions, strict (`lossy` false: stop at the first ill-formed
// part) or not; false when a strict conversion stopped.
bool to_utf16(std::string_view in, std::u16string& out, bool lossy) {
  out.reserve(in.size());
  while (!in.empty()) {
    const decoded d = decode_one(in);
    if (!d.ok && !lossy) return false;
    append_utf16(out, d.ok ? d.cp : kReplacement);
    in.remove_prefix(d.length);
  }
  return true;
}

bool to_utf8(std::u16string_view in, std::string& out, bool lossy) {
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char32_t cp = in[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < in.size() && in[i + 1] >= 0xDC00 &&
        in[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (in[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      if (!lossy) return false;
      cp = kReplacement;
    }
    append_utf8(out, cp);
  }
  return true;
}

}  // namespace

const std::error_category& utf_category() noexcept {
  static const utf_category_impl category;
  return category;
}

result<std::u16string> utf8_to_utf16(std::string_view utf8) {
  std::u16string out;
  if (!to_utf16(utf8, out, false)) return utf_error::invalid_utf8;
  return out;
}

result<std::string> utf16_to_utf8(std::u16string_view utf16) {
  std::string out;
  if (!to_utf8(utf16, out, false)) return utf_error::lone_surrogate;
  return out;
}

std::u16string utf8_to_utf16_lossy(std::string_view utf8) {
  std::u16string out;
  to_utf16(utf8, out, true);
  return out;
}

std::string utf16_to_utf8_lossy(std::u16string_view utf16) {
  std::string out;
  to_utf8(utf16, out, true);
  return out;
}

}  // namespace cgihost::protocol
