// config::pattern with std::regex's ECMAScript grammar: the Windows build,
// where Debian has no PCRE2 for mingw-w64. ECMAScript is the pattern syntax
// IIS URL Rewrite uses by default; the rules nginx and Apache sites carry
// (anchors, groups, classes, quantifiers, alternation) mean the same in both.
// Not in ECMAScript: lookbehind, named groups, possessive quantifiers, \A \z.
// Case is ignored, as IIS URL Rewrite's rules do by default (ignoreCase) and
// as Windows file names do.
#include <regex>

#include "config/pattern.hpp"

namespace cgihost::config {

struct pattern::code {
  std::regex re;
};

std::optional<pattern> pattern::compile(std::string_view expr, std::string& error,
                                        std::size_t& offset) {
  pattern p;
  try {
    auto c = std::make_shared<code>();
    c->re = std::regex(expr.begin(), expr.end(), std::regex::ECMAScript | std::regex::icase);
    p.captures_ = static_cast<unsigned>(c->re.mark_count());
    p.code_ = std::move(c);
  } catch (const std::regex_error& e) {
    // std::regex does not say where it went wrong.
    error = e.what();
    offset = 0;
    return std::nullopt;
  }
  p.text_ = std::string(expr);
  return p;
}

bool pattern::match(std::string_view subject, std::vector<std::string>& captures) const {
  captures.clear();
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(subject.begin(), subject.end(), m, code_->re)) return false;
  captures.reserve(captures_ + 1);
  for (unsigned i = 0; i <= captures_; ++i) {
    if (i < m.size() && m[i].matched)
      captures.emplace_back(m[i].first, m[i].second);
    else
      captures.emplace_back();
  }
  return true;
}

}  // namespace cgihost::config
