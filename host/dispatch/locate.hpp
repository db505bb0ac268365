#pragma once
// What the file system says of a routed path, before a handler runs it
// (nginx's index and try_files, IIS defaultDocument): a folder URL's default
// document, a location's `fallback` for a path that names nothing, and the
// root folder the route's files are found beneath. Used by the dispatch and
// by `try --explain`, so both settle a request alike.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/dispatch/router.hpp"
#include "host/dispatch/site_roots.hpp"

namespace cgihost::host {

class locator {
 public:
  // Keeps references to all three, which must outlive it.
  locator(const config::config& cfg, const host::router& rt, const site_roots& roots)
      : cfg_(cfg), router_(rt), roots_(roots) {}

  // Settles `r`, routed from the normalized `path`: sets its root_fd; for a
  // folder URL ("/docs/", the folder existing) the first of [static] index
  // that exists, routed again as path + name (SCRIPT_NAME "/docs/index.php";
  // its handler runs it, never the static module because it is an index),
  // else the 403 refusal index.none listing what was tried; for a path that
  // names no existing file or folder under a location with a `fallback`,
  // the fallback script (PATH_INFO empty). A refused, forbidden or status
  // route and a location's `script` are left as they are.
  [[nodiscard]] std::optional<refusal> locate(std::string_view path, route& r) const;

  // Whether `path`, routed as `r`, names an existing file or folder: the
  // script (route::script_name) for a script route, the whole path else.
  bool exists(std::string_view path, const route& r) const;

 private:
  std::optional<refusal> default_document(std::string_view path, route& r) const;

  const config::config& cfg_;
  const host::router& router_;
  const site_roots& roots_;
};

}  // namespace cgihost::host
