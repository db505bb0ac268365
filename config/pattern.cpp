#include "config/pattern.hpp"

#include <algorithm>

namespace cgihost::config {

std::string expand(std::string_view to, const std::vector<std::string>& captures) {
  std::string out;
  out.reserve(to.size());
  for (std::size_t i = 0; i < to.size(); ++i) {
    const char c = to[i];
    if (c == '$' && i + 1 < to.size()) {
      const char next = to[i + 1];
      if (next >= '0' && next <= '9') {
        const auto n = static_cast<std::size_t>(next - '0');
        if (n < captures.size()) out += captures[n];
        ++i;
        continue;
      }
      if (next == '$') {
        out += '$';
        ++i;
        continue;
      }
    }
    out += c;
  }
  return out;
}

unsigned highest_reference(std::string_view to) {
  unsigned high = 0;
  for (std::size_t i = 0; i + 1 < to.size(); ++i) {
    if (to[i] != '$') continue;
    const char next = to[i + 1];
    if (next == '$') {
      ++i;
    } else if (next >= '0' && next <= '9') {
      high = std::max(high, static_cast<unsigned>(next - '0'));
      ++i;
    }
  }
  return high;
}

}  // namespace cgihost::config
