#pragma once
// The bytes of a response head: pure functions of their arguments (and of
// the clock, for the Date field). The error pages' bodies: dispatch/error_pages.hpp.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "host/dispatch/error_pages.hpp"

namespace cgihost::host {

namespace http = boost::beast::http;

// Seconds since 1970 now.
std::int64_t unix_now();

// The Date field for now (RFC 9110 §6.6.1), formatted once per second per thread.
const std::string& current_http_date();

// The response head as bytes: status line (the head's reason, else the
// status's own), fields in order, blank line.
std::string serialize_head(const http::response_header<>& head);

// The Connection field for HTTP/1.1 (persistent unless "close") and HTTP/1.0
// (closed unless "keep-alive"), RFC 9112 §9.3.
void set_connection(http::response_header<>& head, bool keep_alive);

}  // namespace cgihost::host
