#include "host/dispatch/router.hpp"

#include <algorithm>
#include <vector>

#include "protocol/cgi_env.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

// URL paths name files: on Windows, whose file names ignore case, a prefix
// matches whatever the case (as IIS matches <location> paths and handler
// paths), so that /ADMIN/ is not /admin/'s way around its rules. Extensions
// ignore case on every platform.
#if defined(_WIN32)
constexpr bool kPathsIgnoreCase = true;
#else
constexpr bool kPathsIgnoreCase = false;
#endif

bool same_prefix(std::string_view path, std::string_view prefix) {
  const std::string_view head = path.substr(0, prefix.size());
  return kPathsIgnoreCase ? protocol::iequals(head, prefix) : head == prefix;
}

bool apply(std::optional<protocol::cgi::script_split> split, route& r) {
  if (!split) return false;
  r.script_name = std::move(split->script_name);
  r.path_info = std::move(split->path_info);
  return true;
}

bool matches(const config::handler& h, std::string_view path) {
  return h.kind == config::handler::match_kind::extension
             ? protocol::cgi::split_by_extension(path, h.value).has_value()
             : protocol::cgi::split_by_prefix(path, h.value, kPathsIgnoreCase).has_value();
}

// Whether a location's prefix takes `path`: "/p/" takes "/p/..." and "/p".
bool under(std::string_view path, std::string_view prefix) {
  if (same_prefix(path, prefix)) return true;
  return prefix.size() > 1 && prefix.back() == '/' && path.size() == prefix.size() - 1 &&
         same_prefix(path, prefix.substr(0, prefix.size() - 1));
}

}  // namespace

const config::handler& program_handler() {
  static const config::handler h = [] {
    config::handler p;
    p.match = "[[locations]] script";
    p.kind = config::handler::match_kind::prefix;
    p.module = config::module_kind::cgi;
    return p;
  }();
  return h;
}

std::string relative_to_root(const route& r, std::string_view url_path) {
  std::string_view rel = url_path;
  if (r.root_location && under(url_path, r.root_location->prefix))
    rel = url_path.substr(std::min(url_path.size(), r.root_location->prefix.size()));
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  return rel.empty() ? std::string(".") : std::string(rel);
}

router::router(const config::config& cfg) : cfg_(cfg), rules_(filter_rules::from(cfg.filtering)) {}

const config::handler* router::script_handler_for(std::string_view path) const {
  for (const auto& h : cfg_.handlers)
    if (h.module != config::module_kind::static_files && matches(h, path)) return &h;
  return nullptr;
}

// Every location whose prefix takes `path` applies, the shorter first, so a
// deeper one inherits what it does not set itself (IIS <location> nesting).
void router::apply_locations(std::string_view path, route& r) const {
  std::vector<const config::location*> matching;
  for (const auto& loc : cfg_.locations)
    if (under(path, loc.prefix)) matching.push_back(&loc);
  std::stable_sort(matching.begin(), matching.end(),
                   [](auto* a, auto* b) { return a->prefix.size() < b->prefix.size(); });
  for (const auto* loc : matching) {
    if (loc->create_process_as_user) r.create_process_as_user = *loc->create_process_as_user;
    if (loc->timeout) r.cgi_timeout = *loc->timeout;
    if (loc->pass_authorization) r.pass_authorization = loc->pass_authorization;
    if (loc->process_identity) r.process_identity = loc->process_identity;
    for (const auto& [name, value] : loc->env) r.env[name] = value;
    if (loc->root) {
      r.root_location = loc;
      r.document_root = loc->root->string();
    }
    if (loc->scripts) r.scripts_off = *loc->scripts ? nullptr : loc;
    if (loc->deny && r.refused.empty()) {
      r.refused = "location " + loc->prefix + " deny = true";
      r.refused_code = "location.deny";
    }
    r.location = loc;
  }
}

// A location's `script` (the deepest that has one): the program runs for
// everything under the prefix (Apache ScriptAlias), except under a deeper
// location with a `root`.
bool router::apply_program(std::string_view path, route& r) const {
  const config::location* with = nullptr;
  for (const auto& loc : cfg_.locations)
    if (loc.script && under(path, loc.prefix) && (!with || loc.prefix.size() > with->prefix.size()))
      with = &loc;
  if (!with || r.scripts_off) return false;
  // A deeper location that maps its prefix to a folder of its own wins (the
  // stylesheets of a site a program serves: cgit's /cgit-css/).
  if (r.root_location && r.root_location->prefix.size() > with->prefix.size()) return false;
  std::string_view prefix = with->prefix;
  if (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  r.script_name = std::string(prefix == "/" ? "" : prefix);
  r.path_info = path.size() > prefix.size() ? std::string(path.substr(prefix.size())) : "";
  if (prefix == "/") r.path_info = std::string(path);
  r.program = with->script->string();
  r.document_root = with->script->parent_path().string();
  r.root_location = nullptr;
  const config::handler* h = script_handler_for(with->script->filename().string());
  r.handler = h ? h : &program_handler();
  r.module = r.handler->module;
  return true;
}

route router::resolve(std::string_view path) const {
  route r;
  if ((cfg_.status.path && path == *cfg_.status.path) ||
      (cfg_.status.ping_path && path == *cfg_.status.ping_path)) {
    r.status = true;
    r.script_name = std::string(path);
    return r;
  }
  if (auto refusal = filter(path)) {
    r.refused = refusal->describe();
    r.refused_code = std::string(rule_name(refusal->rule));
    r.script_name = std::string(path);
    return r;
  }
  r.create_process_as_user = cfg_.cgi.create_process_as_user;
  r.cgi_timeout = cfg_.cgi.timeout;
  apply_locations(path, r);
  if (!r.refused.empty()) {
    std::string why = std::move(r.refused), code = std::move(r.refused_code);
    r = route{};
    r.refused = std::move(why);
    r.refused_code = std::move(code);
    r.script_name = std::string(path);
    return r;
  }
  if (!apply_program(path, r)) {
    for (const auto& h : cfg_.handlers) {
      if (apply(h.kind == config::handler::match_kind::extension
                    ? protocol::cgi::split_by_extension(path, h.value)
                    : protocol::cgi::split_by_prefix(path, h.value, kPathsIgnoreCase),
                r)) {
        r.handler = &h;
        r.module = h.module;
        break;
      }
    }
  }
  if (r.handler && r.module != config::module_kind::static_files) {
    if (r.scripts_off) {
      r.forbidden = "location " + r.scripts_off->prefix + " scripts = false: handler \"" +
                    r.handler->match + "\" would run " + std::string(path);
      r.handler = nullptr;
      r.module = config::module_kind::static_files;
      r.script_name = std::string(path);
      r.path_info.clear();
    }
    return r;
  }
  if (r.handler) return r;
  r.script_name = std::string(path);
  r.path_info.clear();
  r.module = config::module_kind::static_files;
  r.not_found = !cfg_.static_files.enabled;
  return r;
}

}  // namespace cgihost::host
