#include "host/dispatch/request_filter.hpp"

#include <utility>

namespace cgihost::host {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  if (suffix.empty() || s.size() < suffix.size()) return false;
  return equal_nocase(s.substr(s.size() - suffix.size()), suffix);
}

// Whether the dot segment `seg` is one the rules allow where it stands.
bool dot_segment_allowed(std::string_view seg, bool first, const filter_rules& rules) {
  for (const auto& name : rules.allow_dot_segments)
    if (seg == name && (first || name != ".well-known")) return true;
  return false;
}

}  // namespace

filter_rules filter_rules::from(const config::filtering_settings& s) {
  filter_rules r;
  r.hidden_segments = s.hidden_segments;
  r.denied_extensions = s.denied_extensions;
  r.allow_dot_segments = s.allow_dot_segments;
  return r;
}

const filter_rules& default_filter_rules() {
  static const filter_rules rules = filter_rules::from(config::filtering_settings{});
  return rules;
}

std::string_view rule_name(filter_rule r) noexcept {
  switch (r) {
    case filter_rule::dot_segment:
      return "filter.dot_segment";
    case filter_rule::hidden_segment:
      return "filter.hidden_segment";
    case filter_rule::denied_extension:
      return "filter.denied_extension";
  }
  return "filter.unknown";
}

std::string filter_refusal::describe() const {
  std::string out(rule_name(rule));
  out += ": segment \"";
  out += segment;
  switch (rule) {
    case filter_rule::dot_segment:
      out += "\" begins with a dot";
      break;
    case filter_rule::hidden_segment:
      out += "\" is a hidden segment ([filtering] hidden_segments)";
      break;
    case filter_rule::denied_extension:
      out += "\" ends with \"" + std::string(suffix) + "\" ([filtering] denied_extensions)";
      break;
  }
  return out;
}

std::optional<filter_refusal> filter_path(std::string_view path, const filter_rules& rules) {
  bool first = true;
  std::size_t pos = 0;
  std::string_view last;
  while (pos < path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    pos = end + 1;
    if (seg.empty()) continue;  // the leading slash, a trailing one
    const bool was_first = std::exchange(first, false);
    last = seg;
    if (seg.front() == '.' && !dot_segment_allowed(seg, was_first, rules))
      return filter_refusal{filter_rule::dot_segment, seg, {}};
    for (const auto& name : rules.hidden_segments)
      if (equal_nocase(seg, name)) return filter_refusal{filter_rule::hidden_segment, seg, {}};
  }
  // The last segment: a trailing slash names a folder, whose name counts all the same.
  for (const auto& suffix : rules.denied_extensions)
    if (ends_with_nocase(last, suffix))
      return filter_refusal{filter_rule::denied_extension, last, std::string_view(suffix)};
  return std::nullopt;
}

}  // namespace cgihost::host
