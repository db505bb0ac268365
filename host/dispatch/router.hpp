#pragma once
// Routing: which handler serves a normalized path, with which location
// settings, and where the script name ends. Pure: no I/O (whether a file
// exists, default documents and fallbacks, is the dispatch's: locate.hpp).

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "host/dispatch/request_filter.hpp"
#include "spawner/platform.hpp"

namespace cgihost::host {

struct route {
  // The matching [[handlers]] entry (or program_handler() for a location's
  // `script` no handler takes); null when none matched (static fallback).
  const config::handler* handler = nullptr;
  config::module_kind module = config::module_kind::static_files;
  bool not_found = false;  // no handler matched and [static] enabled = false
  bool status = false;     // the [status] page
  // Set when the path is refused with 404 (request filtering, a location's
  // `deny`): the rule for the log ("filter.dot_segment: segment ...",
  // "location /data/ deny = true") and its stable code (refused_code:
  // "filter.dot_segment", "location.deny"). Nothing else is set then.
  std::string refused;
  std::string refused_code;
  // Set when a location's `scripts = false` takes the path a handler would
  // run: 403, with this for the log. Nothing else is set then.
  std::string forbidden;
  // The location whose `scripts = false` is in force here (the deepest that
  // sets `scripts` wins); null when scripts may run.
  const config::location* scripts_off = nullptr;
  std::string script_name;             // "/app/index.php"; the whole path for static files
  std::string path_info;               // "/extra" after the script; empty for static files
  bool create_process_as_user = true;  // [cgi], then every matching location, shortest first
  config::duration cgi_timeout{};
  const config::location* location = nullptr;  // the longest matching location
  // What the matching locations say, merged (the deeper one wins a key; env
  // entries add up, the deeper one winning a name).
  std::map<std::string, std::string> env;           // to CGI children and FastCGI PARAMS
  std::optional<bool> pass_authorization;           // unset: the module's ([cgi], [pools.NAME])
  std::optional<config::account> process_identity;  // unset: identity.process
  // The folder the script or file was found beneath when it is not
  // document_root (a location's `root`, the folder of its `script`): the
  // DOCUMENT_ROOT scripts see. Empty: cfg.document_root.
  std::string document_root;
  // The deepest location with a `root`: its prefix maps to that folder (null:
  // the path is looked up beneath document_root).
  const config::location* root_location = nullptr;
  // A location's `script`: the program every request under it runs (its
  // absolute path); empty otherwise.
  std::string program;
  // The folder files are looked up beneath, opened once by the dispatch
  // (site_roots.hpp) for this route's root; -1 until the dispatch located it.
  // Borrowed: valid as long as the dispatcher.
  spawner::native_handle root_fd = spawner::no_handle;
  // How the dispatch got here when the path alone did not say it, for `try`
  // and the debug log: "default document index.php of /folder/", "fallback
  // /index.php of [[locations]] \"/\"", "rewrite FILE:LINE:COL: /a -> /b".
  std::string chosen_by;
};

// The handler a location's `script` runs through when no CGI or FastCGI
// handler takes its file name: CGI executing the program itself.
const config::handler& program_handler();

// `url_path` as a path relative to the route's root folder ("cgit.css" for
// "/cgit-css/cgit.css" under a location "/cgit-css/" with a root; "a/b" for
// "/a/b" under document_root); "." for the root itself.
std::string relative_to_root(const route& r, std::string_view url_path);

class router {
 public:
  // Keeps a reference: `cfg` must outlive the router.
  explicit router(const config::config& cfg);

  // Routes a path from protocol::normalize_target. The [status] path first;
  // then request filtering and the locations' `deny` (a refused path gets
  // `refused` and nothing more); a location's `script`; then handlers in
  // config order, the first match winning (extensions compare
  // case-insensitively), unless a location says `scripts = false`
  // (`forbidden`). A location "/p/" also takes "/p".
  route resolve(std::string_view path) const;

  // The first CGI or FastCGI handler whose match takes `path`, wherever it
  // stands in the config (an earlier "static" handler does not hide it), or
  // null. What one names is never served as a static file.
  const config::handler* script_handler_for(std::string_view path) const;

  // Request filtering as [filtering] says it.
  std::optional<filter_refusal> filter(std::string_view path) const {
    return filter_path(path, rules_);
  }

 private:
  void apply_locations(std::string_view path, route& r) const;
  bool apply_program(std::string_view path, route& r) const;

  const config::config& cfg_;
  filter_rules rules_;
};

}  // namespace cgihost::host
