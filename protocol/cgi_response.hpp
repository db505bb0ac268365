#pragma once
// The strict CGI response parser (RFC 3875 §6). Fed a child's stdout in
// pieces of any size, it yields the response head, or a rejection naming the
// rule that was broken, where, and with an excerpt. It never skips a line it
// does not understand: every rejection is a 502 in the host.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace cgihost::protocol::cgi {

// One value per rule. code_name() gives the stable name the error log uses.
enum class response_error {
  no_output = 1,       // cgi.no_output: the child wrote nothing at all
  eof_before_headers,  // cgi.eof_before_headers: output ended before the blank line
  no_colon,            // cgi.header.no_colon
  space_before_colon,  // cgi.header.space_before_colon
  bad_name,            // cgi.header.bad_name: empty, or a character outside the token set
  obs_fold,            // cgi.header.obs_fold: a continuation line
  bad_value,           // cgi.header.bad_value: CR, NUL or another control character in a value
  bare_cr,             // cgi.header.bare_cr: CR not followed by LF
  status_format,       // cgi.status.format: not "NNN" or "NNN reason"
  status_range,        // cgi.status.range: outside 100..599
  status_repeated,     // cgi.status.repeated
  no_content_type,     // cgi.document.no_content_type
  head_too_large,      // cgi.head.too_large
  too_many_lines,      // cgi.head.too_many_lines
  // cgi.location.bad: neither an absolute path nor an absolute URI, nor a
  // relative reference with a 3xx or 201 Status (RFC 9110 §10.2.2)
  bad_location,
  location_repeated,            // cgi.location.repeated
  local_redirect_with_headers,  // cgi.location.local_with_headers (RFC 3875 §6.2.2)
  content_length_conflict,      // cgi.content_length.conflict
  bad_content_length,           // cgi.content_length.bad
  content_type_conflict,        // cgi.content_type.conflict
  body_too_short,               // cgi.body.short: fewer body bytes than Content-Length
  // cgi.status.interim: Status 1xx. An interim response is never a whole
  // answer: sent alone, the client would take the next response on the
  // connection for this one's. (nph- scripts are not parsed.)
  status_interim,
};

const std::error_category& response_category() noexcept;
inline std::error_code make_error_code(response_error e) noexcept {
  return {static_cast<int>(e), response_category()};
}
// "cgi.header.no_colon" and so on: stable, for logs and alerting.
std::string_view code_name(response_error e) noexcept;

// Why a response was refused: the rule, where, and what the line looked like.
struct rejection {
  response_error code{};
  std::uint64_t offset = 0;  // byte offset of the offending line in the output
  std::uint32_t line = 0;    // 1-based line number
  std::string excerpt;       // that line, escaped (\r, \n, \xNN), at most 80 characters
};

enum class response_kind {
  document,         // a body follows; Content-Type given (or a bodyless 204 / 304)
  local_redirect,   // "Location: /path" alone: the host re-dispatches it as a GET
  client_redirect,  // "Location: scheme:..." : 302 unless Status says otherwise
};

struct response_head {
  response_kind kind = response_kind::document;
  unsigned status = 200;
  std::string reason;  // from Status, may be empty
  // The headers to send, in the child's order: no Status, no hop-by-hop.
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;
  std::string location;  // set for redirects
  // A relative reference (RFC 9110 §10.2.2), passed on with a 3xx or 201 Status.
  bool location_relative = false;
  // Hop-by-hop headers the child sent and that were removed (for the log).
  std::vector<std::string> dropped;
};

struct response_limits {
  std::size_t max_head_bytes = 64 * 1024;
  std::size_t max_lines = 100;
};

// Parses the head of a CGI response. Usage:
//   auto n = p.feed(bytes);          // consumes up to the end of the head
//   if (p.state() == state::head)    // p.head(); bytes.substr(n) is body
//   if (p.state() == state::failed)  // p.error()
//   on EOF: p.finish()               // fails when the head is not complete
class response_parser {
 public:
  enum class state { need_more, head, failed };

  explicit response_parser(response_limits limits = {}) : limits_(limits) {}

  // Consumes bytes of the head; returns how many. Once the head is complete
  // (or the parse failed), consumes nothing more: the rest is body.
  std::size_t feed(std::string_view in);
  // The output ended. A parser still needing more fails.
  void finish();

  state current() const noexcept { return state_; }
  const response_head& head() const noexcept { return head_; }
  const rejection& error() const noexcept { return error_; }
  std::uint64_t consumed() const noexcept { return offset_; }

 private:
  void line_done(std::string_view line, std::uint64_t line_offset);  // without its line ending
  void fail(response_error e, std::string_view line, std::uint64_t line_offset);
  void end_of_head(std::uint64_t line_offset);

  response_limits limits_;
  state state_ = state::need_more;
  std::string pending_;       // the current, incomplete line
  std::uint64_t offset_ = 0;  // bytes consumed so far
  std::uint64_t pending_start_ = 0;
  std::uint32_t lines_ = 0;    // header lines seen
  std::uint32_t line_no_ = 0;  // 1-based number of the line being looked at
  bool saw_status_ = false;
  std::string content_type_;
  std::string relative_line_;  // the Location line of a relative reference, for its rejection
  std::uint64_t relative_offset_ = 0;
  std::uint32_t relative_line_no_ = 0;
  response_head head_;
  rejection error_;
};

// Checks the body against a Content-Length the child declared: bytes past it
// are cut; an end before it is an error, never a silent short response.
class body_limiter {
 public:
  explicit body_limiter(std::optional<std::uint64_t> content_length) : length_(content_length) {}
  // How many of `n` newly received bytes belong to the body.
  std::size_t accept(std::size_t n) noexcept;
  // True once the declared length has been reached (always false without one).
  bool complete() const noexcept { return length_ && seen_ == *length_; }
  // At the end of the output: the error when the body was shorter than declared.
  std::error_code finish() const noexcept;
  std::uint64_t seen() const noexcept { return seen_; }
  std::uint64_t cut() const noexcept { return cut_; }

 private:
  std::optional<std::uint64_t> length_;
  std::uint64_t seen_ = 0;
  std::uint64_t cut_ = 0;
};

// nph- scripts: their bytes are the HTTP response and are not parsed. This
// only counts them, so the host can log the size.
class nph_passthrough {
 public:
  std::string_view feed(std::string_view in) noexcept {
    bytes_ += in.size();
    return in;
  }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  std::uint64_t bytes_ = 0;
};

// Escapes a line for logs: printable ASCII kept, \r \n \t and \xNN otherwise,
// cut to `max` characters with "..." at the end.
std::string escape_excerpt(std::string_view s, std::size_t max = 80);

}  // namespace cgihost::protocol::cgi

template <>
struct std::is_error_code_enum<cgihost::protocol::cgi::response_error> : std::true_type {};
