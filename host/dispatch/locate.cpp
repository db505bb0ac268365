#include "host/dispatch/locate.hpp"

#include <vector>

#include "spawner/files.hpp"

namespace cgihost::host {
namespace {

// What `url_path` names beneath `r`'s root (symlinks as the scripts' rule
// says: beneath the root unless allow_symlinks_outside_root).
spawner::file_info::kind kind_of(const route& r, std::string_view url_path, bool may_leave,
                                 bool& found) {
  found = false;
  const std::string rel = relative_to_root(r, url_path);
  spawner::unique_fd fd(spawner::open_script(r.root_fd, rel.c_str(), may_leave));
  if (fd.get() == spawner::no_handle) return spawner::file_info::kind::other;
  std::error_code ec;
  auto info = spawner::info_of(fd.get(), ec);
  if (!info) return spawner::file_info::kind::other;
  found = true;
  return info->what;
}

bool is_script_route(const route& r) {
  return r.handler && r.module != config::module_kind::static_files;
}

// The deepest location with a `fallback` whose prefix takes the path.
const config::location* fallback_of(const config::config& cfg, std::string_view path) {
  const config::location* with = nullptr;
  for (const auto& loc : cfg.locations) {
    const bool under = path.substr(0, loc.prefix.size()) == loc.prefix ||
                       (loc.prefix.size() > 1 &&
                        path == std::string_view(loc.prefix).substr(0, loc.prefix.size() - 1));
    if (loc.fallback && under && (!with || loc.prefix.size() > with->prefix.size())) with = &loc;
  }
  return with;
}

}  // namespace

bool locator::exists(std::string_view path, const route& r) const {
  bool found = false;
  (void)kind_of(r, is_script_route(r) ? std::string_view(r.script_name) : path,
                cfg_.allow_symlinks_outside_root, found);
  return found;
}

std::optional<refusal> locator::default_document(std::string_view path, route& r) const {
  std::vector<std::string> tried;
  for (const auto& name : cfg_.static_files.index) {
    const std::string candidate = std::string(path) + name;
    route c = router_.resolve(candidate);
    std::string no = !c.refused.empty()     ? c.refused
                     : !c.forbidden.empty() ? c.forbidden
                     : c.not_found          ? "no handler matches and [static] enabled = false"
                                            : "";
    if (no.empty()) {
      c.root_fd = roots_.fd_for(c);
      bool found = false;
      const auto kind = kind_of(c, is_script_route(c) ? std::string_view(c.script_name) : candidate,
                                cfg_.allow_symlinks_outside_root, found);
      if (found && kind == spawner::file_info::kind::regular) {
        c.chosen_by = "default document " + name + " of " + std::string(path);
        r = std::move(c);
        return std::nullopt;
      }
      no = found ? "not a regular file" : "missing";
    }
    tried.push_back(name + " (" + no + ")");
  }
  std::string why = "folder without a default document: " + std::string(path) + "; tried: ";
  for (std::size_t i = 0; i < tried.size(); ++i) why += (i ? ", " : "") + tried[i];
  if (tried.empty()) why += "nothing ([static] index is empty)";
  return make_refusal(boost::beast::http::status::forbidden, "index.none", std::move(why));
}

std::optional<refusal> locator::locate(std::string_view path, route& r) const {
  if (r.status || !r.refused.empty() || !r.forbidden.empty()) return std::nullopt;
  r.root_fd = roots_.fd_for(r);
  if (!r.program.empty()) return std::nullopt;
  if (!path.empty() && path.back() == '/' && r.path_info.empty() && r.script_name == path) {
    bool found = false;
    if (kind_of(r, path, cfg_.allow_symlinks_outside_root, found) ==
            spawner::file_info::kind::folder &&
        found) {
      // With [static] enabled = false a folder still runs its default
      // document; without one it stays the 404 of a path nothing serves.
      auto no = default_document(path, r);
      return no && r.not_found ? std::nullopt : no;
    }
  }
  const config::location* loc = fallback_of(cfg_, path);
  if (!loc || exists(path, r)) return std::nullopt;
  route f = router_.resolve(*loc->fallback);
  if (!f.refused.empty() || !f.forbidden.empty() || f.not_found) return std::nullopt;
  f.root_fd = roots_.fd_for(f);
  f.path_info.clear();
  f.chosen_by = "fallback " + *loc->fallback + " of [[locations]] \"" + loc->prefix + "\"";
  r = std::move(f);
  return std::nullopt;
}

}  // namespace cgihost::host
