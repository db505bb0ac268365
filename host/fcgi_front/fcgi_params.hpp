#pragma once
// A FastCGI request's PARAMS as the request cgihost dispatches: the method,
// target and header fields the web server forwarded, which path to route,
// the client's side (REMOTE_ADDR, HTTPS, SERVER_NAME), the web server's
// REMOTE_USER, and the checks a web server's paths must pass. Pure, apart
// from resolving SCRIPT_FILENAME and DOCUMENT_ROOT's symlinks (outside_roots).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "protocol/fcgi.hpp"
#include "protocol/uri_path.hpp"

namespace cgihost::host {

struct fcgi_params {
  std::string method;                                       // REQUEST_METHOD
  std::string target;                                       // REQUEST_URI (else rebuilt)
  unsigned version = 11;                                    // SERVER_PROTOCOL
  std::vector<std::pair<std::string, std::string>> fields;  // HTTP_* and CONTENT_*, as fields
  std::size_t field_bytes = 0;                              // names and values of `fields`
  std::optional<std::uint64_t> content_length;              // CONTENT_LENGTH, when not empty
  bool bad_content_length = false;
  std::string remote_addr, server_addr, server_name;
  std::uint16_t remote_port = 0, server_port = 0;
  bool https = false;  // HTTPS "on" (any case) or "1"
  std::string remote_user, auth_type;
  std::string script_name, path_info, query_string, script_filename, document_root;
  bool has_script_name = false, has_query_string = false;
};

// Reads every param (later repeats win); names outside the list are ignored.
// HTTP_FOO_BAR becomes the field "Foo-Bar"; CONTENT_TYPE and CONTENT_LENGTH
// "Content-Type" and "Content-Length".
fcgi_params read_params(const protocol::fcgi::name_values& params);

// The path cgihost routes: SCRIPT_NAME + PATH_INFO when the web server sent
// SCRIPT_NAME, else REQUEST_URI's path; the query is QUERY_STRING's (else
// REQUEST_URI's). A target that does not normalize is an error.
protocol::result<protocol::normalized_target> routing_target(const fcgi_params& p);

// The first of SCRIPT_FILENAME and DOCUMENT_ROOT that names something outside
// every one of `roots` (cgihost's document_root and its locations' roots), as
// "SCRIPT_FILENAME \"/etc/passwd\""; nullopt when both are beneath one (or absent).
std::optional<std::string> outside_roots(const fcgi_params& p,
                                         const std::vector<std::filesystem::path>& roots);

}  // namespace cgihost::host
