#pragma once
// The folders a site's files are looked up beneath: document_root and each
// [[locations]] `root`, each opened once (spawner::open_folder) and shared by
// the dispatch and the modules through the route (route::root_fd).

#include <map>

#include "config/config.hpp"
#include "host/dispatch/router.hpp"
#include "spawner/files.hpp"

namespace cgihost::host {

class site_roots {
 public:
  // Opens document_root (unless it is empty: a config a unit test made, whose
  // lookups then find nothing) and every location's `root`. Throws
  // std::system_error naming a folder that cannot be opened (at start-up: the
  // program then says so and exits).
  explicit site_roots(const config::config& cfg);
  site_roots(const site_roots&) = delete;
  site_roots& operator=(const site_roots&) = delete;

  // The folder `r`'s files are looked up beneath: its root location's, else
  // document_root; no_handle when that is not open.
  spawner::native_handle fd_for(const route& r) const;
  spawner::native_handle document_root() const { return document_root_.get(); }

 private:
  spawner::unique_fd document_root_;
  std::map<const config::location*, spawner::unique_fd> roots_;
};

}  // namespace cgihost::host
