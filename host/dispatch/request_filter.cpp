#include "host/dispatch/request_filter.hpp"

#include <utility>

namespace cgihost::host {
namespace {

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  if (suffix.empty() || s.size() < suffix.size()) return false;
  s = s.substr(s.size() - suffix.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(s[i]) != lower(suffix[i])) return false;
  }
  return true;
}

}  // namespace

const filter_rules& default_filter_rules() {
  static const filter_rules rules;
  return rules;
}

std::string_view rule_name(filter_rule r) noexcept {
  switch (r) {
    case filter_rule::dot_segment:
      return "filter.dot_segment";
    case filter_rule::backup_name:
      return "filter.backup_name";
  }
  return "filter.unknown";
}

std::string filter_refusal::describe() const {
  std::string out(rule_name(rule));
  out += ": segment \"";
  out += segment;
  if (rule == filter_rule::dot_segment)
    out += "\" begins with a dot";
  else
    out += "\" ends with \"" + std::string(suffix) + "\" (an editor's backup or leftover)";
  return out;
}

std::optional<filter_refusal> filter_path(std::string_view path, const filter_rules& rules) {
  bool first = true;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    pos = end + 1;
    if (seg.empty()) continue;  // the leading slash, a trailing one
    const bool was_first = std::exchange(first, false);
    if (rules.hidden_segments && seg.front() == '.') {
      bool allowed = false;
      if (was_first)
        for (const auto& name : rules.allowed_hidden_roots) allowed = allowed || seg == name;
      if (!allowed) return filter_refusal{filter_rule::dot_segment, seg, {}};
    }
    for (const auto& suffix : rules.backup_suffixes)
      if (ends_with_nocase(seg, suffix))
        return filter_refusal{filter_rule::backup_name, seg, std::string_view(suffix)};
  }
  return std::nullopt;
}

}  // namespace cgihost::host
