#pragma once
// [[rewrites]] (IIS URL Rewrite, nginx `rewrite ... last`): before routing,
// the first rule whose expression matches the normalized path gives the
// request another URL, or a redirect to it. Once per request: a rewritten
// URL is not rewritten again (nor is a CGI's local redirect). Pure: whether
// a path exists (if_missing) is asked of the caller.

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/pattern.hpp"
#include "protocol/uri_path.hpp"

namespace cgihost::host {

class rewriter {
 public:
  // Compiles each rule's expression once (config::load checked them; one
  // that no longer compiles throws std::runtime_error naming its `where`).
  // Keeps a reference to `cfg`.
  explicit rewriter(const config::config& cfg);

  struct outcome {
    const config::rewrite* rule = nullptr;  // null: no rule applies
    // The URL the rule gives: `to` with $1..$9, then the query rule (the
    // client's query appended with "&"; it becomes the query when `to` has
    // none; dropped, with the "?", when `to` ends in "?").
    std::string target;
  };

  // The first rule, in file order, whose `match` takes `t.path` and, for an
  // `if_missing` one, for which `missing()` says the path names nothing.
  outcome apply(const protocol::normalized_target& t, const std::function<bool()>& missing) const;

  bool empty() const { return rules_.empty(); }

 private:
  struct compiled {
    const config::rewrite* rule;
    config::pattern expr;
  };
  std::vector<compiled> rules_;
};

// `to` expanded with `captures` (decoded text, so "%", "?", "#", spaces and
// control bytes in them are percent-encoded: the result is a URL again),
// with the client's query joined as the rule says.
std::string rewrite_target(const std::string& to, std::vector<std::string> captures,
                           const protocol::normalized_target& client);

}  // namespace cgihost::host
