#pragma once
// `cgihost try`: one request through the same routing, identity and handler
// as the server, without a listener; prints what the child got and said.

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace cgihost::host {

struct try_request {
  std::string url;  // "/cgi-bin/x.cgi?a=1" or "http://host/path"
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::optional<std::string> data;   // the body; "@FILE" reads FILE
  std::optional<std::string> user;   // as if authenticated as this name
};

// The origin-form target of a `try` URL ("/path?q" as given, or the part of
// "http://host/path?q" after the host); `host` receives the host when there is one.
std::string target_of_url(const std::string& url, std::string* host = nullptr);

// Runs the request and prints the report to stdout. Returns the exit code:
// 0 when the client would get a status below 500, 1 otherwise, 2 for a bad
// request on the command line (said on stderr in one line).
int run_try(const config::config& cfg, const try_request& request);

}  // namespace cgihost::host
