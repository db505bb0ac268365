#include "host/http/response_head.hpp"

#include <chrono>

#include "protocol/http_date.hpp"

namespace cgihost::host {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The Date field, formatted once per second per thread.
const std::string& current_http_date() {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;
  std::int64_t now = unix_now();
  if (now != cached_second) {
    cached = protocol::format_http_date(now);
    cached_second = now;
  }
  return cached;
}

// The response head as bytes: status line, fields, blank line.
std::string serialize_head(const http::response_header<>& head) {
  std::string out;
  out.reserve(256);
  out += head.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(head.result_int());
  out += ' ';
  auto reason = head.reason();
  out += reason.empty() ? std::string_view(http::obsolete_reason(head.result()))
                        : std::string_view(reason);
  out += "\r\n";
  for (const auto& f : head) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

// The Connection field for HTTP/1.1 (persistent unless "close") and HTTP/1.0
// (closed unless "keep-alive"), RFC 9112 §9.3.
void set_connection(http::response_header<>& head, bool keep_alive) {
  head.erase(http::field::connection);
  if (head.version() == 11 && !keep_alive) head.set(http::field::connection, "close");
  if (head.version() == 10 && keep_alive) head.set(http::field::connection, "keep-alive");
}

}  // namespace cgihost::host
