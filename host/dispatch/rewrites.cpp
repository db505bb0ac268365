#include "host/dispatch/rewrites.hpp"

#include <stdexcept>

namespace cgihost::host {
namespace {

// A capture is decoded text; in a URL it must not read as an escape, the
// query's start, a fragment or a separator.
std::string encode_capture(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '%' || c == '?' || c == '#' || c <= 0x20 || c == 0x7F) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

rewriter::rewriter(const config::config& cfg) {
  for (const auto& rule : cfg.rewrites) {
    std::string error;
    std::size_t offset = 0;
    auto expr = config::pattern::compile(rule.match, error, offset);
    if (!expr)
      throw std::runtime_error(rule.where + ": [[rewrites]] match \"" + rule.match +
                               "\": " + error);
    rules_.push_back({&rule, std::move(*expr)});
  }
}

std::string rewrite_target(const std::string& to, std::vector<std::string> captures,
                           const protocol::normalized_target& client) {
  for (auto& c : captures) c = encode_capture(c);
  std::string out = config::expand(to, captures);
  // The query rule (nginx: `?` at the end of the replacement drops the
  // client's arguments; otherwise they are appended).
  if (!to.empty() && to.back() == '?') {
    out.pop_back();
    return out;
  }
  if (!client.has_query || client.query.empty()) return out;
  out += (to.find('?') == std::string::npos ? "?" : "&") + client.query;
  return out;
}

rewriter::outcome rewriter::apply(const protocol::normalized_target& t,
                                  const std::function<bool()>& missing) const {
  std::vector<std::string> captures;
  std::optional<bool> is_missing;  // asked once, when a rule needs it
  for (const auto& c : rules_) {
    if (!c.expr.match(t.path, captures)) continue;
    if (c.rule->if_missing) {
      if (!is_missing) is_missing = missing();
      if (!*is_missing) continue;
    }
    return {c.rule, rewrite_target(c.rule->to, std::move(captures), t)};
  }
  return {};
}

}  // namespace cgihost::host
