#pragma once
// Reading HTTP/1.x requests from a client's bytes with every [http] limit
// enforced as the bytes arrive. No sockets, clocks or logging: the session
// moves bytes from its socket into prepare()/commit() and acts on the step
// each parse call returns; the fuzz target fuzz_http_request drives the same
// calls with bytes split at arbitrary points.

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "protocol/uri_path.hpp"

namespace cgihost::host {

namespace http = boost::beast::http;

// Why our request parser refused a message, beyond Beast's http::error.
enum class request_error {
  field_too_large = 1,  // a header field name or value longer than Beast can hold (65533 bytes)
  too_many_fields,      // more header fields than http.max_header_count
  trailer_too_large,    // the trailer section is larger than http.max_header_bytes
  too_many_trailers,    // more trailer fields than http.max_header_count
  chunk_line_too_long,  // a chunk-size line with its extensions fills the whole read buffer
};
const boost::system::error_category& request_category() noexcept;
boost::system::error_code make_error_code(request_error e) noexcept;

}  // namespace cgihost::host

template <>
struct boost::system::is_error_code_enum<cgihost::host::request_error> : std::true_type {};

namespace cgihost::host {

// "GET /x HTTP/1.1": the request line as parsed, for limits and logs.
std::string request_line_of(const http::request_header<>& req);

// Beast's request parser into a buffer_body, with the fields checked one by
// one as Beast hands them over (before any is stored): a name or value Beast
// cannot hold, and the field past http.max_header_count, are errors instead
// of a std::length_error thrown out of the parser or a million allocations.
// Trailer fields (RFC 9112 §7.1.2) are counted and bounded the same way but
// never stored: a gateway merges none of them into the request (RFC 9110 §6.5.1).
class request_parser final : public http::request_parser<http::buffer_body> {
 public:
  // `limits` must outlive the parser.
  explicit request_parser(const config::http_settings& limits);

  std::uint32_t trailer_count() const { return trailers_; }

 private:
  void on_field_impl(http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::system::error_code& ec) override;

  const config::http_settings& limits_;
  std::uint32_t fields_ = 0;
  std::uint32_t trailers_ = 0;
  std::uint64_t trailer_bytes_ = 0;
};

// A request refused while it was read: the status to answer and the log text.
struct head_refusal {
  http::status status = http::status::bad_request;
  std::string reason;
};

// The checks the head must pass once Beast has parsed it: version (505),
// request line length (414), head size (431), Host (400: exactly one for
// HTTP/1.1, at most one for 1.0, and a valid one, RFC 9110 §7.2), and
// Transfer-Encoding (400, or 501 for codings before "chunked").
// `head_bytes`: the bytes the head took, request line and blank line included.
std::optional<head_refusal> check_head(const http::request_header<>& req, std::size_t head_bytes,
                                       const config::http_settings& limits);

// True when `host` is a Host field value RFC 9110 §7.2 allows: uri-host
// [":" port] (RFC 3986 §3.2.2: IP-literal, IPv4address or reg-name), with a
// port of at most 65535; or empty.
bool valid_host(std::string_view host);

// The bytes of one connection and the request being parsed from them. The
// read buffer is bounded (max_buffer()): a chunk-size line, trailer section
// or head that does not fit is refused, never grown into; body bytes pass
// through it to the caller's buffer.
class request_reader {
 public:
  enum class step {
    need_more,  // read more bytes from the client into prepare(), then commit()
    ready,      // parse_head: the head is complete and passed check_head;
                // parse_body: `got` bytes were stored, or the message is done
    refused,    // why() says what to answer; the connection cannot go on
  };

  // `limits` must outlive the reader.
  explicit request_reader(const config::http_settings& limits);

  // Starts the next request on the connection. Bytes already read (a
  // pipelined request) stay buffered.
  void start();

  // The request being read; only between start() and the next start().
  request_parser& parser() { return *parser_; }
  const request_parser& parser() const { return *parser_; }
  bool started() const { return parser_.has_value(); }

  std::size_t buffered() const { return buffer_.size(); }
  std::size_t max_buffer() const { return max_buffer_; }
  // Bytes of the head (request line to blank line) once parse_head was ready.
  std::size_t head_bytes() const { return head_bytes_; }

  // Room for the next read from the client (at most 64 KiB). Never empty
  // after a parse call returned need_more.
  boost::asio::mutable_buffer prepare();
  void commit(std::size_t n);

  // Parses the head from the buffered bytes, then checks it (check_head).
  step parse_head();

  // Parses body bytes into [data, data + size): ready with got > 0, or with
  // got == 0 when the message (trailers included) is complete. Bytes before
  // an error in the body are returned first; the head_refusal comes on the next call.
  step parse_body(void* data, std::size_t size, std::size_t& got);

  // The client closed its side before the message was complete: always refused.
  step end_of_input();

  // Set after refused: what to answer, and the error the parser reported.
  const head_refusal& why() const { return why_; }
  boost::system::error_code error() const { return error_; }

 private:
  step refuse(boost::system::error_code ec);
  step refuse_full();
  // The request line's end is in the buffer, or the buffer is full.
  bool line_end_or_full() const;

  const config::http_settings& limits_;
  std::uint64_t header_limit_;
  std::size_t max_buffer_;
  boost::beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  std::size_t head_bytes_ = 0;
  boost::system::error_code pending_;  // an error found after body bytes that went out first
  bool starved_ = false;               // the last put in the body needed more bytes
  // Beast refused the version before the request line's end arrived: 505 or
  // 400 is decided once the line is whole (or the buffer full), so the answer
  // does not depend on how the bytes were split.
  bool version_pending_ = false;
  head_refusal why_;
  boost::system::error_code error_;
};

// The last step of reading a head, pure: the normalized target of a head
// the reader parsed whole, or the refusal to answer (`step` refused: the
// reader's own; a target protocol::normalize_target refuses: 400).
std::variant<protocol::normalized_target, head_refusal> validate_head(request_reader::step step,
                                                                      const request_reader& reader);

}  // namespace cgihost::host
