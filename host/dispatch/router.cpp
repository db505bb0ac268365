#include "host/dispatch/router.hpp"

#include <algorithm>
#include <vector>

#include "host/dispatch/request_filter.hpp"
#include "protocol/cgi_env.hpp"

namespace cgihost::host {
namespace {

bool apply(std::optional<protocol::cgi::script_split> split, route& r) {
  if (!split) return false;
  r.script_name = std::move(split->script_name);
  r.path_info = std::move(split->path_info);
  return true;
}

}  // namespace

namespace {

bool matches(const config::handler& h, std::string_view path) {
  return h.kind == config::handler::match_kind::extension
             ? protocol::cgi::split_by_extension(path, h.value).has_value()
             : protocol::cgi::split_by_prefix(path, h.value).has_value();
}

}  // namespace

const config::handler* router::script_handler_for(std::string_view path) const {
  for (const auto& h : cfg_.handlers)
    if (h.module != config::module_kind::static_files && matches(h, path)) return &h;
  return nullptr;
}

route router::resolve(std::string_view path) const {
  route r;
  if (cfg_.status.path && path == *cfg_.status.path) {
    r.status = true;
    r.script_name = std::string(path);
    return r;
  }
  if (auto refusal = filter_path(path)) {
    r.refused = refusal->describe();
    r.script_name = std::string(path);
    return r;
  }
  r.create_process_as_user = cfg_.cgi.create_process_as_user;
  r.cgi_timeout = cfg_.cgi.timeout;
  // Every location whose prefix matches applies, the shorter first, so a
  // deeper one inherits what it does not set itself (IIS <location> nesting).
  std::vector<const config::location*> matching;
  for (const auto& loc : cfg_.locations)
    if (path.substr(0, loc.prefix.size()) == loc.prefix) matching.push_back(&loc);
  std::stable_sort(matching.begin(), matching.end(),
                   [](auto* a, auto* b) { return a->prefix.size() < b->prefix.size(); });
  for (const auto* loc : matching) {
    if (loc->create_process_as_user) r.create_process_as_user = *loc->create_process_as_user;
    if (loc->timeout) r.cgi_timeout = *loc->timeout;
    r.location = loc;
  }
  for (const auto& h : cfg_.handlers) {
    bool hit = apply(h.kind == config::handler::match_kind::extension
                         ? protocol::cgi::split_by_extension(path, h.value)
                         : protocol::cgi::split_by_prefix(path, h.value),
                     r);
    if (hit) {
      r.handler = &h;
      r.module = h.module;
      return r;
    }
  }
  r.script_name = std::string(path);
  r.path_info.clear();
  r.module = config::module_kind::static_files;
  r.not_found = !cfg_.static_files.enabled;
  return r;
}

}  // namespace cgihost::host
