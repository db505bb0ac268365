#pragma once
// Request filtering (IIS's hiddenSegments and fileExtensions): request paths
// refused before any handler or the file system sees them. Pure: a function
// of the normalized path and the rules, so the router, the static index
// lookup and `try --explain` all judge the same way, and the rules are
// unit-tested.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgihost::host {

// What is refused. The defaults are the built-in policy; a later issue reads
// them from a [filtering] table.
struct filter_rules {
  // A segment beginning with "." (.git, .env, .htpasswd, .svn, an editor's
  // .index.php.swp) is refused, except a first segment named here (RFC 8615
  // puts well-known URIs at the root only).
  bool hidden_segments = true;
  std::vector<std::string> allowed_hidden_roots = {".well-known"};
  // A segment ending so (compared without regard to case) is an editor's
  // backup or an edit's leftover: index.php~, config.php.bak, x.swp.
  std::vector<std::string> backup_suffixes = {"~", ".bak", ".swp", ".orig", ".old"};
};

// The rules in force when no config says otherwise.
const filter_rules& default_filter_rules();

enum class filter_rule {
  dot_segment,  // filter.dot_segment
  backup_name,  // filter.backup_name
};

// "filter.dot_segment" and so on: stable, for logs and alerting.
std::string_view rule_name(filter_rule r) noexcept;

// Why a path was refused. Views into the path and the rules given to filter_path.
struct filter_refusal {
  filter_rule rule{};
  std::string_view segment;  // the segment that broke the rule
  std::string_view suffix;   // backup_name: the suffix it ends with
  // For the log: "filter.dot_segment: segment \".git\" begins with a dot".
  std::string describe() const;
};

// The first rule that a path from protocol::normalize_target (decoded, no dot
// segments) breaks, or nullopt. Every segment counts, PATH_INFO's included:
// "/app.php/.git" is refused like "/.git".
[[nodiscard]] std::optional<filter_refusal> filter_path(
    std::string_view path, const filter_rules& rules = default_filter_rules());

}  // namespace cgihost::host
