#pragma once
// Request filtering (IIS's requestFiltering: hiddenSegments and
// fileExtensions; nginx's location ~ /\.): request paths refused before any
// handler or the file system sees them. Pure: a function of the normalized
// path and the rules ([filtering]), so the router, the static lookup and
// `try --explain` all judge the same way, and the rules are unit-tested.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace cgihost::host {

// What is refused, as [filtering] says it.
struct filter_rules {
  // Exact segment names refused anywhere in a path, compared without regard
  // to case ("web.config", "App_Data", "node_modules").
  std::vector<std::string> hidden_segments;
  // Endings of the last segment refused, without regard to case: an editor's
  // backup or an edit's leftover (index.php~, config.php.bak, x.swp).
  std::vector<std::string> denied_extensions;
  // A segment beginning with "." (.git, .env, .htpasswd) is refused unless
  // named here. ".well-known" only as the first segment (RFC 8615 puts
  // well-known URIs at the root only); any other name given here anywhere.
  std::vector<std::string> allow_dot_segments;

  // The rules of a [filtering] table.
  static filter_rules from(const config::filtering_settings& s);
};

// The rules in force when no config says otherwise ([filtering]'s defaults).
const filter_rules& default_filter_rules();

enum class filter_rule {
  dot_segment,       // filter.dot_segment
  hidden_segment,    // filter.hidden_segment
  denied_extension,  // filter.denied_extension
};

// "filter.dot_segment" and so on: stable, for logs and alerting.
std::string_view rule_name(filter_rule r) noexcept;

// Why a path was refused. Views into the path and the rules given to filter_path.
struct filter_refusal {
  filter_rule rule{};
  std::string_view segment;  // the segment that broke the rule
  std::string_view suffix;   // denied_extension: the ending it has
  // For the log: "filter.dot_segment: segment \".git\" begins with a dot".
  std::string describe() const;
};

// The first rule that a path from protocol::normalize_target (decoded, no dot
// segments) breaks, or nullopt. Every segment counts for the dot and hidden
// rules, PATH_INFO's included ("/app.php/.git" is refused like "/.git"); the
// denied extensions judge the last segment.
[[nodiscard]] std::optional<filter_refusal> filter_path(
    std::string_view path, const filter_rules& rules = default_filter_rules());

}  // namespace cgihost::host
