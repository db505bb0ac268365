#include "host/gateway/response_relay.hpp"

namespace cgihost::host {
namespace cgi = protocol::cgi;

bool response_relay::refuse_for_stderr() {
  if (stderr_refused_) return true;
  const bool begun =
      nph_ ? first_byte_.has_value() : parser_.current() != cgi::response_parser::state::need_more;
  if (begun || rejected_) return false;
  stderr_refused_ = true;
  return true;
}

asio::awaitable<bool> response_relay::feed(std::string_view data, bool last) {
  if (stderr_refused_) co_return false;
  if (!first_byte_) first_byte_ = clock::now();
  error_code ec;
  if (nph_) {
    if (!ex_.state().run.head_at) ex_.state().run.head_at = clock::now();
    co_await ex_.write_raw(asio::buffer(data.data(), data.size()), ec);
    if (ec) client_failed_ = true;
    co_return !ec;
  }
  if (parser_.current() == cgi::response_parser::state::need_more) {
    std::size_t used = parser_.feed(data);
    if (parser_.current() == cgi::response_parser::state::failed) {
      rejected_ = true;
      rejection_ = parser_.error();
      co_return false;
    }
    if (parser_.current() != cgi::response_parser::state::head) co_return true;
    headers_ = clock::now();
    head_ = parser_.head();
    data.remove_prefix(used);
    if (head_.kind == cgi::response_kind::local_redirect) co_return false;
    // The whole response is here: it gets its length and goes out in one write.
    if (last && !head_.content_length) head_.content_length = data.size();
    limiter_.emplace(head_.content_length);
    std::size_t take = limiter_->accept(data.size());
    co_await send_head(data.substr(0, take), ec);
    if (last && !ec && limiter_->complete()) finished_ = true;
  } else if (parser_.current() == cgi::response_parser::state::head) {
    if (limiter_->complete()) co_return true;  // past the declared length: dropped
    std::size_t take = limiter_->accept(data.size());
    if (last) {
      co_await ex_.write_last(asio::buffer(data.data(), take), ec);
      if (!ec) finished_ = true;
    } else {
      co_await ex_.write_body(asio::buffer(data.data(), take), ec);
    }
  } else {
    co_return false;
  }
  if (ec) client_failed_ = true;
  co_return !ec;
}

void response_relay::end() {
  if (ended_ || nph_ || rejected_ || client_failed_ || stderr_refused_) return;
  ended_ = true;
  if (parser_.current() == cgi::response_parser::state::need_more) {
    parser_.finish();
    rejected_ = true;
    rejection_ = parser_.error();
  } else if (limiter_ && limiter_->finish()) {
    body_short_ = true;
  }
}

asio::awaitable<void> response_relay::send_head(std::string_view first, error_code& ec) {
  http::response_header<> head;
  head.result(head_.status);
  if (!head_.reason.empty()) head.reason(head_.reason);
  for (const auto& [name, value] : head_.headers) head.insert(name, value);
  if (head_.content_length)
    head.set(http::field::content_length, std::to_string(*head_.content_length));
  if (head_.location_relative)
    ex_.log().debug(
        "[cgi] rid={} {} redirects to the relative reference \"{}\" with Status {}: "
        "passed on as the client redirect (RFC 9110 §10.2.2)",
        ex_.id().str(), script_, head_.location, head_.status);
  if (!head_.dropped.empty()) {
    std::string names;
    for (const auto& d : head_.dropped) names += (names.empty() ? "" : ", ") + d;
    ex_.log().info("[cgi] rid={} {} sent hop-by-hop headers, removed: {}", ex_.id().str(), script_,
                   names);
  }
  ex_.state().run.head_at = clock::now();
  co_await ex_.write_response(head, asio::buffer(first.data(), first.size()), ec);
}

std::string response_relay::rejection_text() const {
  return std::string(cgi::code_name(rejection_.code)) + ": " +
         cgi::make_error_code(rejection_.code).message() + " at line " +
         std::to_string(rejection_.line) + " (byte " + std::to_string(rejection_.offset) + "): \"" +
         rejection_.excerpt + "\"";
}

std::string response_relay::verdict() const {
  if (stderr_refused_)
    return "500 Internal Server Error: the program wrote to stderr before its response "
           "(stderr_mode = \"log_and_500\")";
  if (rejected_) return "502 Bad Gateway: " + rejection_text();
  if (nph_) return "nph: the output went to the client unparsed";
  if (!head_complete()) return "no response head";
  if (head_.kind == cgi::response_kind::local_redirect)
    return "local redirect to " + head_.location;
  std::string v = std::to_string(head_.status) + " " +
                  (head_.reason.empty()
                       ? std::string(http::obsolete_reason(static_cast<http::status>(head_.status)))
                       : head_.reason);
  v += head_.kind == cgi::response_kind::client_redirect
           ? " (client redirect to " + head_.location + ")"
           : " (document)";
  if (body_short_) v += "; body shorter than its Content-Length: the connection would be closed";
  return v;
}

}  // namespace cgihost::host
