#pragma once
// Routing: which handler serves a normalized path, with which location
// settings, and where the script name ends. Pure: no I/O.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace cgihost::host {

struct route {
  // The matching [[handlers]] entry; null when none matched (static fallback).
  const config::handler* handler = nullptr;
  config::module_kind module = config::module_kind::static_files;
  bool not_found = false;  // no handler matched and [static] enabled = false
  bool status = false;     // the [status] page
  // Set when request filtering refuses the path (request_filter.hpp): the
  // rule and the segment, for the log. Nothing else is set then; the answer is 404.
  std::string refused;
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
};

class router {
 public:
  // Keeps a reference: `cfg` must outlive the router.
  explicit router(const config::config& cfg) : cfg_(cfg) {}

  // Routes a path from protocol::normalize_target. The [status] path first;
  // then request filtering (a refused path gets `refused` and nothing more);
  // then handlers in config order, the first match winning; extensions
  // compare case-insensitively.
  route resolve(std::string_view path) const;

  // The first CGI or FastCGI handler whose match takes `path`, wherever it
  // stands in the config (an earlier "static" handler does not hide it), or
  // null. What one names is never served as a static file.
  const config::handler* script_handler_for(std::string_view path) const;

 private:
  const config::config& cfg_;
};

}  // namespace cgihost::host
