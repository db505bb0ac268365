#pragma once
// CGI/1.1 meta-variables (RFC 3875 §4.1) from a request: one builder for the
// environment of a CGI child and the PARAMS of a FastCGI request, so both
// see the same variables. Pure: the caller supplies everything.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cgihost::protocol::cgi {

// What the builder needs to know of a request, already parsed and routed.
struct request_view {
  std::string_view method;  // "GET"
  std::string_view target;  // the raw request target: REQUEST_URI
  std::string_view query;   // raw, never decoded: QUERY_STRING
  unsigned version = 11;    // 10 or 11: SERVER_PROTOCOL
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // as received, in order
  std::string_view peer_address;                                       // REMOTE_ADDR, REMOTE_HOST
  std::uint16_t peer_port = 0;                                         // REMOTE_PORT
  std::string_view local_address;    // SERVER_NAME when there is no usable Host
  std::uint16_t local_port = 0;      // SERVER_PORT
  bool tls = false;                  // HTTPS=on
  std::string_view scheme;           // REQUEST_SCHEME; empty: "https" with tls, else "http"
  std::string_view server_name;      // SERVER_NAME when set (a trusted proxy's host)
  std::string_view script_name;      // decoded: SCRIPT_NAME
  std::string_view path_info;        // decoded: PATH_INFO
  std::string_view script_filename;  // the file run: SCRIPT_FILENAME
  std::string_view document_root;    // DOCUMENT_ROOT; PATH_TRANSLATED = it + PATH_INFO
  std::string_view remote_user;      // authenticated name: REMOTE_USER, AUTH_USER, LOGON_USER
  std::string_view auth_type;        // "Basic", or the proxy's scheme
  std::optional<std::uint64_t> content_length;  // of the body the child will read
  std::string_view server_software = "cgihost";
};

struct env_options {
  // Pass Authorization on as HTTP_AUTHORIZATION (for applications that do
  // their own Basic auth); off by default so credentials stay with the host.
  bool pass_authorization = false;
  // Request headers to drop besides the built-in ones (e.g. the trusted
  // proxy header when it did not come from a trusted proxy).
  std::vector<std::string> drop_headers;
  // Variables of the host's own environment to pass on (PATH, LANG, TZ...),
  // with their values; nothing else of the host's environment reaches a child.
  std::vector<std::pair<std::string, std::string>> pass_through;
  // Variables a handler adds last (e.g. a pool's env); they may override.
  std::vector<std::pair<std::string, std::string>> extra;
};

using variables = std::vector<std::pair<std::string, std::string>>;

// Builds the variables, in a stable order. Header names with '_' or outside
// the token set are dropped (they would spoof another variable once '-'
// becomes '_'), as are Proxy (httpoxy), Authorization (see options) and the
// duplicates of Content-Type / Content-Length; headers whose names differ
// only in case are joined with ", ".
variables build_env(const request_view& r, const env_options& options = {});

// Where the script ends in a request path (RFC 3875 §4.1.5, §4.1.13).
struct script_split {
  std::string script_name;  // "/app/index.php"
  std::string path_info;    // "/users/7", or empty
};
// "*.EXT" handlers: the first path segment ending in `ext` (".php",
// case-insensitive, longer than the extension) is the script.
std::optional<script_split> split_by_extension(std::string_view path, std::string_view ext);
// "/prefix/*" handlers: the first segment after `prefix` ("/cgi-bin/") is the script.
std::optional<script_split> split_by_prefix(std::string_view path, std::string_view prefix,
                                            bool ignore_case = false);

// "NAME=value" strings for execve.
std::vector<std::string> to_envp(const variables& vars);

}  // namespace cgihost::protocol::cgi
