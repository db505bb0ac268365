#include "protocol/http_range.hpp"

#include <optional>

#include "protocol/text.hpp"

namespace cgihost::protocol {
namespace {

// 1*DIGIT, at most 19 of them (no overflow of 64 bits).
std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

range_answer answer_range(std::string_view range, std::uint64_t size) {
  using kind = range_answer::kind;
  range = trim(range);
  const auto eq = range.find('=');
  if (eq == std::string_view::npos || !iequals(trim(range.substr(0, eq)), "bytes")) return {};
  const std::string_view spec = trim(range.substr(eq + 1));
  // Several ranges are answered whole (RFC 9110 §14.2: a server may ignore Range).
  if (spec.find(',') != std::string_view::npos) return {};
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view from = spec.substr(0, dash), to = spec.substr(dash + 1);
  if (from.empty()) {  // suffix: the last n bytes
    auto n = number(to);
    if (!n) return {};
    if (*n == 0 || size == 0) return {kind::unsatisfiable};
    return {kind::part, *n >= size ? 0 : size - *n, size - 1};
  }
  auto first = number(from);
  if (!first) return {};
  std::optional<std::uint64_t> last;
  if (!to.empty()) {
    last = number(to);
    if (!last || *last < *first) return {};  // invalid: ignored
  }
  if (*first >= size) return {kind::unsatisfiable};
  return {kind::part, *first, last && *last < size ? *last : size - 1};
}

}  // namespace cgihost::protocol
