#include "host/dispatch/site_roots.hpp"

#include <cerrno>
#include <system_error>

namespace cgihost::host {
namespace {

spawner::unique_fd open_root(const std::filesystem::path& path, const std::string& what) {
  spawner::unique_fd fd(spawner::open_folder(path));
  if (fd.get() == spawner::no_handle)
    throw std::system_error(errno, std::generic_category(),
                            "cannot open " + what + " " + path.string());
  return fd;
}

}  // namespace

site_roots::site_roots(const config::config& cfg) {
  if (!cfg.document_root.empty()) document_root_ = open_root(cfg.document_root, "document root");
  for (const auto& loc : cfg.locations)
    if (loc.root)
      roots_.emplace(&loc, open_root(*loc.root, "root of [[locations]] \"" + loc.prefix + "\""));
}

spawner::native_handle site_roots::fd_for(const route& r) const {
  if (!r.root_location) return document_root_.get();
  auto it = roots_.find(r.root_location);
  return it == roots_.end() ? spawner::no_handle : it->second.get();
}

}  // namespace cgihost::host
