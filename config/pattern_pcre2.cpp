// config::pattern with PCRE2 (the Linux build).
#include <algorithm>
#include <cstdint>

#include "config/pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace cgihost::config {

struct pattern::code {
  explicit code(pcre2_code* c) : p(c) {}
  ~code() { pcre2_code_free(p); }
  code(const code&) = delete;
  code& operator=(const code&) = delete;
  pcre2_code* p;
};

std::optional<pattern> pattern::compile(std::string_view expr, std::string& error,
                                        std::size_t& offset) {
  int err = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expr.data()), expr.size(), PCRE2_UTF,
                                &err, &at, nullptr);
  if (!c) {
    PCRE2_UCHAR buf[256];
    const int n = pcre2_get_error_message(err, buf, sizeof buf);
    error = n > 0 ? std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n))
                  : "invalid regular expression";
    offset = at;
    return std::nullopt;
  }
  // Match-time JIT where the platform has it; without it matching still works.
  pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
  pattern p;
  p.code_ = std::make_shared<const code>(c);
  std::uint32_t count = 0;
  pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &count);
  p.captures_ = count;
  p.text_ = std::string(expr);
  return p;
}

bool pattern::match(std::string_view subject, std::vector<std::string>& captures) const {
  captures.clear();
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(code_->p, nullptr), &pcre2_match_data_free);
  if (!md) return false;
  const int rc = pcre2_match(code_->p, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                             0, 0, md.get(), nullptr);
  if (rc < 0) return false;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
  captures.reserve(captures_ + 1);
  for (unsigned i = 0; i <= captures_; ++i) {
    const PCRE2_SIZE from = ov[2 * i], to = ov[2 * i + 1];
    if (static_cast<int>(i) >= rc || from == PCRE2_UNSET)
      captures.emplace_back();
    else
      captures.emplace_back(subject.substr(from, to - from));
  }
  return true;
}

}  // namespace cgihost::config
