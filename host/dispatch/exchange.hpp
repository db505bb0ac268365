#pragma once
// The seam between a front (the HTTP session, `cgihost try`) and the modules
// that answer requests: the request as decided (request.hpp, the route, the
// authenticated name), and the ways to answer it.

#include <spdlog/logger.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/forwarded.hpp"
#include "host/dispatch/logging.hpp"
#include "host/dispatch/request.hpp"
#include "host/dispatch/router.hpp"
#include "protocol/uri_path.hpp"
#include "spawner/identity.hpp"
#include "spawner/platform.hpp"

namespace cgihost::host {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using error_code = boost::system::error_code;

// What `cgihost try` shows of a CGI request: filled by the CGI module when
// the exchange asks for it.
struct cgi_trace {
  std::vector<std::pair<std::string, std::string>> env;
  std::string program;
  std::vector<std::string> argv;
  std::string identity;      // who it ran as, and why
  std::string stdout_bytes;  // the raw output, at most kept bytes
  std::string stderr_bytes;
  std::uint64_t stdout_total = 0, stderr_total = 0;
  std::string exit;
  std::string verdict;  // the parser's result: the head, or the rejection
  static constexpr std::size_t kept = 1 << 20;
};

class dispatcher;
struct refusal;

// A response body read from a file (exchange::write_file): `length` bytes of
// the open file `file` from `offset`. The caller keeps `file` open until the
// write completes.
struct file_part {
  spawner::native_handle file = spawner::no_handle;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// How reading a file_part went. `failed` when the file could not be read
// (`error` says why) or held fewer bytes than asked (`error` empty: it shrank),
// at `offset`; the response is then not complete.
struct file_read {
  bool failed = false;
  std::error_code error;
  std::uint64_t offset = 0;
};

// What the dispatch decided of a request before a handler runs it: set by the
// front (head, target, id; the name when the front authenticated it, as `try
// --user` does) and by the dispatch (route, authenticated name, redirects).
struct request_state {
  request_head head;
  protocol::normalized_target target;
  host::route route;
  request_id id;
  std::optional<std::string> user;  // the authenticated name (mapped through [accounts])
  std::string auth_type;            // "Basic", "Proxy", "Negotiate"; empty when anonymous
  // Windows, iis_token: the forwarded token's user and a primary token of it
  // (closed when the request ends); `user` is then its DOMAIN\user, in no
  // [accounts] mapping.
  std::shared_ptr<const spawner::identity> token_identity;
  // Who the client is (the peer, or what a trusted proxy said: forwarded.hpp);
  // set at the top of the dispatch, empty before.
  host::client client;
  int hops = 0;             // local redirects so far
  bool redirected = false;  // a local redirect's GET: it has no body
  // A module saw the client leave before its response was complete: nothing
  // more is sent (no "no response" 500), and the access log says 499.
  bool client_left = false;
  // Holds what a redirected head views (its target), as long as the exchange.
  std::deque<std::string> storage;
  // What ran it, for the access log's json lines: set by the module.
  run_notes run;
};

// One request as a handler sees it, and the ways to answer it. Owned by the
// front; valid until the handler's coroutine returns.
class exchange {
 public:
  explicit exchange(dispatcher* via = nullptr) : dispatcher_(via) {}
  virtual ~exchange() = default;
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  const request_head& request() const { return state_.head; }
  const protocol::normalized_target& target() const { return state_.target; }
  const host::route& route() const { return state_.route; }
  request_id id() const { return state_.id; }
  // The authenticated name of the request, if any (mapped through [accounts]).
  const std::optional<std::string>& authenticated_user() const { return state_.user; }
  // How it was authenticated: "Basic", "Proxy" (the trusted header); empty when anonymous.
  const std::string& auth_type() const { return state_.auth_type; }
  // True after a local redirect: the request is a GET without a body.
  bool redirected() const { return state_.redirected; }
  // The client as scripts and the access log see it (forwarded.hpp): set by
  // the dispatch; its address is empty before.
  const host::client& client() const { return state_.client; }
  request_state& state() { return state_; }
  // What ran it (the module's notes), for the access log.
  const run_notes& run() const { return state_.run; }
  // The token IIS forwarded for this request, as an identity (iis_token);
  // null without one.
  const std::shared_ptr<const spawner::identity>& token_identity() const {
    return state_.token_identity;
  }
  // A module saw the client leave before the response was complete.
  bool client_left() const { return state_.client_left; }

  virtual const config::config& settings() const = 0;
  virtual spdlog::logger& log() const = 0;

  // Reads up to `size` bytes of the request body into `data`; returns 0 at its
  // end. Sends "100 Continue" first when the client asked for it. A body past
  // http.max_body_size fails with http::error::body_limit; any refused body
  // (limit, framing, cut short) fails, and an error page sent after that
  // answers with the refusal's status (413, 431, 400) instead.
  virtual asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) = 0;

  // Sends the response head. Date, Server and Connection are filled in; the
  // handler sets Content-Length. For HEAD requests, body writes are dropped.
  virtual asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) = 0;

  // Sends the head and the first body bytes together (one write for a small
  // response); the same rules as write_head.
  virtual asio::awaitable<void> write_response(http::response_header<>& head,
                                               asio::const_buffer first, error_code& ec) = 0;

  // Sends body bytes after the head.
  virtual asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) = 0;

  // The last body bytes and the end of the response: write_body then
  // finish_body, in one write where the exchange can.
  virtual asio::awaitable<void> write_last(asio::const_buffer data, error_code& ec) {
    co_await write_body(data, ec);
    if (!ec) co_await finish_body(ec);
  }

  // Sends the head and then `part` of a file as the body; the same rules as
  // write_response (the head's Content-Length is `part.length`). `ec` is a
  // failed send, as write_body's; the result says whether the file could be
  // read. A failure to read before anything was sent leaves no head sent
  // (the caller can still answer 500). The default reads the file in bounded
  // chunks and writes them with write_response and write_body; an exchange
  // may send it without copying (sendfile), with the same send timeout.
  virtual asio::awaitable<file_read> write_file(http::response_header<>& head, file_part part,
                                                error_code& ec);

  virtual bool head_sent() const = 0;

  // The connection's two ends.
  virtual const std::string& peer_address() const = 0;
  virtual std::uint16_t peer_port() const = 0;
  virtual const std::string& local_address() const = 0;
  virtual std::uint16_t local_port() const = 0;

  // The request body's framing: Content-Length (0 when there is no body), or
  // nullopt when it is chunked and its length is unknown until its end.
  virtual std::optional<std::uint64_t> body_length() const = 0;

  // Ends a response whose head had no Content-Length (chunked on HTTP/1.1,
  // closed on HTTP/1.0). Without it the response counts as cut short.
  virtual asio::awaitable<void> finish_body(error_code& ec) = 0;

  // nph- output: bytes to the client exactly as given, no head of ours; the
  // connection closes after the response.
  virtual asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) = 0;

  // A CGI local redirect (RFC 3875 §6.2.2): serves `location` as a GET in
  // place of this request, through the dispatch again. At most 10 hops, then 502.
  asio::awaitable<void> redispatch(std::string location);
  // Told of each local redirect before it is served (`try` lists them).
  virtual void on_redirect(const std::string& location) { (void)location; }

  // Once the request body has been read whole: completes with true when the
  // client closes its side, or never (false after data of a next, pipelined
  // request arrived). Cancel it to stop watching.
  virtual asio::awaitable<bool> client_gone() = 0;

  // Non-null when the caller wants to see inside a CGI run (`cgihost try`).
  virtual cgi_trace* trace() { return nullptr; }

  // The account the request's code ran as, for the access log.
  virtual void set_identity(std::string who) = 0;

  // What the front knows of the client beyond the connection's ends, applied
  // to the client the dispatch resolved from the peer (not to one a trusted
  // proxy's fields named): a FastCGI web server's HTTPS and SERVER_NAME.
  virtual void complete_client(host::client& c) const { (void)c; }

 protected:
  // The error answers. Only answer() (refusal.hpp) calls them: every error a
  // request gets is a refusal, answered in that one place.
  friend asio::awaitable<void> answer(exchange& ex, const refusal& no);

  // What an error answer carries beyond its status and the reason for the
  // error log: the fields of its kind (Allow, Retry-After, WWW-Authenticate)
  // and what its page shows. Views: they live as long as the call.
  struct error_answer {
    std::string_view dev_detail, phase, allow;
    std::optional<std::chrono::seconds> retry_after;
    bool challenge = false;
  };

  // Sends a complete error response when no head was sent yet: the page
  // [errors] maps the status to, else a short HTML page naming it (HEAD: the
  // head only); `reason` goes to the error log, not to the client.
  asio::awaitable<void> send_error(http::status status, std::string_view reason) {
    co_await send_error_page(status, reason, {});
  }

  // A complete error response with a page that shows `dev_detail` to the
  // developer, in dev mode only; elsewhere the same as send_error. A 405
  // carries `allow` as its Allow field ("GET, HEAD" when empty).
  asio::awaitable<void> send_error(http::status status, std::string_view reason,
                                   std::string_view dev_detail, std::string_view allow) {
    error_answer extra;
    extra.dev_detail = dev_detail;
    extra.allow = allow;
    co_await send_error_page(status, reason, extra);
  }

  // A gateway's error (502, 503, 504) whose `phase` (e.g. "pool php, phase
  // queue wait") the page shows to every client, so an administrator knows
  // which limit to change; `reason` goes to the error log, `dev_detail` to the
  // page in dev mode; a 503 carries `retry_after` (default 5 s).
  asio::awaitable<void> send_gateway_error(http::status status, std::string_view phase,
                                           std::string_view reason, std::string_view dev_detail,
                                           std::optional<std::chrono::seconds> retry_after) {
    error_answer extra;
    extra.dev_detail = dev_detail;
    extra.phase = phase;
    extra.retry_after = retry_after;
    co_await send_error_page(status, reason, extra);
  }

  // 401 for a request whose anonymous identity may not run the code: with the
  // Basic challenge when Basic is on (so the user can log in), else bare.
  asio::awaitable<void> send_unauthorized(std::string_view reason) {
    error_answer extra;
    extra.challenge = true;
    co_await send_error_page(http::status::unauthorized, reason, extra);
  }

  // The one error answer each front writes, in its own framing: the log line,
  // then (no head sent yet) the page with the fields `extra` asks for.
  virtual asio::awaitable<void> send_error_page(http::status status, std::string_view reason,
                                                const error_answer& extra) = 0;

 private:
  request_state state_;
  dispatcher* dispatcher_;
};

class handler {
 public:
  virtual ~handler() = default;
  // Serves one request. When it returns without a complete response (an
  // error after the head went out), the session closes the connection.
  virtual asio::awaitable<void> handle(exchange& ex) = 0;
};

}  // namespace cgihost::host
