#pragma once
// A compiled PCRE2 regular expression ([[rewrites]] match), and the
// expansion of `to` with its captures. Compiled once at load (a bad
// expression is a config error at its line and column) and again, once, by
// the dispatch that applies it; matching allocates nothing but the captures.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgihost::config {

class pattern {
 public:
  // The expression compiled (UTF-8), or nullopt with PCRE2's message in
  // `error` and the byte offset in `expr` where it went wrong in `offset`.
  static std::optional<pattern> compile(std::string_view expr, std::string& error,
                                        std::size_t& offset);

  // How many capturing groups the expression has.
  unsigned capture_count() const { return captures_; }

  // Whether `subject` matches. On a match `captures` holds the whole match
  // first, then each group ("" for a group that took no part).
  bool match(std::string_view subject, std::vector<std::string>& captures) const;

  const std::string& text() const { return text_; }

 private:
  struct code;  // pcre2_code, freed by its deleter
  std::shared_ptr<const code> code_;
  unsigned captures_ = 0;
  std::string text_;
};

// `to` with "$1".."$9" replaced by the captures (one that does not exist by
// ""), "$0" by the whole match and "$$" by "$"; any other "$" stays.
std::string expand(std::string_view to, const std::vector<std::string>& captures);

// The highest "$N" `to` refers to (0 when none): load refuses one above the
// expression's capture count.
unsigned highest_reference(std::string_view to);

}  // namespace cgihost::config
