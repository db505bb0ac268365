#pragma once
// Hands a CGI or FastCGI application's stdout to the client through the
// strict response parser: the head once it is complete and valid, then the
// body within its Content-Length; or the rejection, for the 502.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "host/dispatch/exchange.hpp"
#include "protocol/cgi_response.hpp"

namespace cgihost::host {

class response_relay {
 public:
  using clock = std::chrono::steady_clock;

  // `script` names the program in log lines; `nph`: pass bytes on unparsed.
  response_relay(exchange& ex, std::string script, bool nph)
      : ex_(ex), script_(std::move(script)), nph_(nph) {}

  // One piece of the application's stdout. Returns false once no more is
  // wanted: the output was rejected, the client is gone, or it is a local
  // redirect (whose body is ignored). `last`: nothing follows (the caller
  // knows, as FastCGI does at END_REQUEST): a whole response without a length
  // then gets one, and the end goes out with the last bytes.
  asio::awaitable<bool> feed(std::string_view data, bool last = false);

  // stderr_mode = "log_and_500": the application wrote to stderr. True when
  // nothing went to the client yet: nothing will (feed() wants no more), and
  // the exchange answers 500; false when the response had begun.
  bool refuse_for_stderr();
  bool stderr_refused() const noexcept { return stderr_refused_; }

  // True when a `last` feed already ended the response.
  bool finished() const noexcept { return finished_; }

  // The output ended: an incomplete head is a rejection, a body shorter than
  // its Content-Length is noted.
  void end();

  bool nph() const noexcept { return nph_; }
  bool rejected() const noexcept { return rejected_; }
  const protocol::cgi::rejection& rejection() const noexcept { return rejection_; }
  bool client_failed() const noexcept { return client_failed_; }
  bool body_short() const noexcept { return body_short_; }
  bool head_complete() const noexcept {
    return parser_.current() == protocol::cgi::response_parser::state::head;
  }
  const protocol::cgi::response_head& head() const noexcept { return head_; }
  std::optional<clock::time_point> first_byte() const noexcept { return first_byte_; }
  std::optional<clock::time_point> headers_at() const noexcept { return headers_; }

  // "cgi.header.no_colon: header line without a colon at line 1 (byte 0): "...""
  std::string rejection_text() const;
  // The result as `try` shows it: the status the client would get and why.
  std::string verdict() const;

 private:
  asio::awaitable<void> send_head(std::string_view first, error_code& ec);

  exchange& ex_;
  std::string script_;
  bool nph_;
  protocol::cgi::response_parser parser_;
  std::optional<protocol::cgi::body_limiter> limiter_;
  protocol::cgi::response_head head_;
  protocol::cgi::rejection rejection_;
  bool rejected_ = false;
  bool client_failed_ = false;
  bool body_short_ = false;
  bool ended_ = false;
  bool finished_ = false;
  bool stderr_refused_ = false;
  std::optional<clock::time_point> first_byte_, headers_;
};

}  // namespace cgihost::host
