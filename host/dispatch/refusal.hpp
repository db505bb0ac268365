#pragma once
// A request answered with an error instead of what it asked for, as a value.
// Every check on the request path returns a result or a refusal; exactly one
// place (answer) turns a refusal into the client's answer and its log lines,
// and `try --explain` prints the same refusals dry.
//
// The idiom per layer: protocol/ returns protocol::result<T> (std::error_code);
// config/ collects diagnostics; the request path in host/ returns checked<T>
// (a value or a refusal) and never throws; start-up may throw or return a
// diagnostic string, caught and printed once by host/app.

#include <spdlog/common.h>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <cassert>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cgihost::host {

class exchange;

struct refusal {
  boost::beast::http::status status = boost::beast::http::status::internal_server_error;
  // A stable name of the cause ("script.missing", "identity.unusable_anonymous"),
  // for tests and `try --explain`; never shown to a client.
  std::string code;
  // Why, for the error log; never shown to a client (dev mode shows dev_detail).
  std::string reason;
  // The bare cause without its subject ("No such file or directory"), for
  // `try --explain`'s lines; may be empty.
  std::string detail;
  // Answered as a 401 that carries the Basic challenge when Basic is on: an
  // anonymous request may still log in (`status` is then 401).
  bool challenge = false;
  // A gateway's error (502, 503, 504): which phase and limit, shown on the
  // page to every client ("pool php, phase queue wait"); empty otherwise.
  std::string phase;
  // The diagnosis the page shows in dev mode only.
  std::string dev_detail;
  // The Allow field of a 405: the methods the resource takes ("GET, HEAD,
  // POST"); empty: "GET, HEAD" (the static files, the status page).
  std::string allow;
  // Retry-After of a 503 (5 s when not set).
  std::optional<std::chrono::seconds> retry_after;
  // A line the module logs before the answer, with its tag and request id
  // ("[cgi] rid=... 403 ..."); none when empty.
  std::string module_line;
  spdlog::level::level_enum module_level = spdlog::level::err;
};

// A value, or the refusal that says why there is none.
template <class T>
class [[nodiscard]] checked {
 public:
  checked(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  checked(refusal no) : v_(std::move(no)) {}  // NOLINT: implicit by design
  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const refusal& error() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  refusal&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, refusal> v_;
};

// A refusal with just a status, a code and the log's reason.
inline refusal make_refusal(boost::beast::http::status status, std::string code,
                            std::string reason) {
  refusal no;
  no.status = status;
  no.code = std::move(code);
  no.reason = std::move(reason);
  return no;
}

// The one place a refusal reaches the client: its module line to the log,
// then the error page (with the challenge, the phase, Retry-After as it says).
// Nothing is sent when a response head already went out (the exchange then
// counts the response as cut).
boost::asio::awaitable<void> answer(exchange& ex, const refusal& no);

}  // namespace cgihost::host
