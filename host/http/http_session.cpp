#include "host/http/http_session.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <chrono>

#include "host/dispatch/auth.hpp"
#include "protocol/http_date.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace beast = boost::beast;
namespace {

using protocol::iequals;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;

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

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A short page naming the status; in dev mode with the diagnosis below it.
std::string error_page(http::status status, std::string_view dev_detail = {},
                       std::string_view phase = {}) {
  std::string title = std::to_string(static_cast<unsigned>(status)) + " " +
                      std::string(http::obsolete_reason(status));
  std::string page = "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head><body><h1>" +
                     title + "</h1>";
  if (!phase.empty()) page += "\n<p>" + html_escape(phase) + "</p>";
  if (!dev_detail.empty())
    page += "\n<p>cgihost dev mode: why</p>\n<pre>" + html_escape(dev_detail) + "</pre>\n";
  return page + "</body></html>\n";
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

}  // namespace

// The exchange a handler sees, backed by the session's stream and parser.
class session_exchange final : public exchange {
 public:
  // The request the session's parser holds, whose target is `target`.
  session_exchange(http_session& s, dispatcher& d, protocol::normalized_target target,
                   request_id id, clock::time_point started, std::int64_t arrived)
      : exchange(&d), s_(s), started_(started), arrived_(arrived) {
    const auto& req = s_.reader_.parser().get();
    auto& st = state();
    st.head.method = req.method_string();
    st.head.target = req.target();
    st.head.version = req.version();
    st.head.fields.reserve(16);
    for (const auto& f : req) st.head.fields.add(f.name_string(), f.value());
    st.target = std::move(target);
    st.id = id;
  }

  const config::config& settings() const override { return s_.server_.settings(); }
  spdlog::logger& log() const override { return *s_.server_.log().error; }
  bool head_sent() const override { return head_sent_; }
  const std::string& peer_address() const override { return s_.peer_; }
  std::uint16_t peer_port() const override { return s_.peer_port_; }
  const std::string& local_address() const override { return s_.local_; }
  std::uint16_t local_port() const override { return s_.local_port_; }
  void set_identity(std::string who) override { identity_ = std::move(who); }

  asio::awaitable<void> send_unauthorized(std::string_view reason) override {
    log().info("[http] rid={} 401 {} {}: {}", id().str(), request().method, target().path, reason);
    if (head_sent_) {
      failed_ = true;
      co_return;
    }
    std::string body = error_page(http::status::unauthorized);
    http::response_header<> head;
    head.result(http::status::unauthorized);
    if (settings().authentication.basic)
      head.set(http::field::www_authenticate, s_.server_.dispatch().auth()->challenge());
    head.set(http::field::content_type, "text/html; charset=utf-8");
    head.set(http::field::content_length, std::to_string(body.size()));
    error_code ec;
    co_await write_response(head, asio::buffer(body), ec);
  }

  std::optional<std::uint64_t> body_length() const override {
    if (redirected()) return 0;
    const auto& p = s_.reader_.parser();
    if (p.chunked()) return std::nullopt;
    return p.content_length().value_or(0);
  }

  asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) override {
    ec = {};
    auto& reader = s_.reader_;
    auto& parser = reader.parser();
    if (refused_) {
      ec = refused_error_;
      co_return 0;
    }
    if (redirected() || parser.is_done() || size == 0) co_return 0;
    const auto& req = parser.get();
    if (!continue_sent_ && req.version() == 11 &&
        iequals(req[http::field::expect], "100-continue")) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      s_.stream_.expires_after(settings().http.send_timeout);
      auto [wec, wn] = co_await asio::async_write(s_.stream_, asio::buffer(kContinue), nothrow);
      if (wec) {
        ec = wec;
        co_return 0;
      }
    }
    while (true) {
      std::size_t got = 0;
      auto step = reader.parse_body(data, size, got);
      if (step == request_reader::step::ready) co_return got;
      if (step == request_reader::step::need_more) {
        s_.stream_.expires_after(settings().http.body_timeout);
        auto [rec, rn] = co_await s_.stream_.async_read_some(reader.prepare(), nothrow);
        if (!rec) {
          reader.commit(rn);
          continue;
        }
        if (rec != asio::error::eof) {
          ec = rec;
          co_return 0;
        }
        step = reader.end_of_input();
      }
      // The body broke a limit or the framing: whatever the handler does
      // with the error, the client is answered with this refusal
      // (send_error_page) unless a response has already started.
      refused_ = reader.why();
      refused_error_ = ec = reader.error();
      keep_alive_ = false;
      co_return 0;
    }
  }

  asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) override {
    co_await write_response(head, asio::const_buffer{}, ec);
  }

  asio::awaitable<void> write_response(http::response_header<>& head, asio::const_buffer first,
                                       error_code& ec) override {
    ec = {};
    const auto& req = request();
    head.version(req.version == 10 ? 10 : 11);
    head.set(http::field::server, "cgihost/" CGIHOST_VERSION);
    head.set(http::field::date, current_http_date());
    head.erase(http::field::transfer_encoding);
    if (auto cl = head.find(http::field::content_length); cl != head.end()) {
      std::uint64_t n = 0;
      auto v = cl->value();
      if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc{}) expected_ = n;
    }
    auto status = head.result_int();
    bool bodyless = status == 304 || status == 204 || status < 200;
    if (bodyless) {
      expected_ = 0;
      head.erase(http::field::content_length);
    }
    head_only_ = req.is_head() || bodyless;
    // Without a length: chunked on HTTP/1.1, the end of the connection on 1.0.
    if (!expected_ && !bodyless && head.version() == 11) {
      chunked_ = true;
      head.set(http::field::transfer_encoding, "chunked");
    }
    keep_alive_ = keep_alive_ && s_.reader_.parser().keep_alive() && !s_.stop_requested_ &&
                  !s_.server_.stopping() && s_.requests_ < settings().http.max_keepalive_requests &&
                  (expected_.has_value() || bodyless || chunked_);
    set_connection(head, keep_alive_);
    status_ = status;
    head_sent_ = true;

    const std::string text = serialize_head(head);
    if (head_only_ || first.size() == 0) {
      co_await send(std::array<asio::const_buffer, 1>{asio::buffer(text)}, ec);
      co_return;
    }
    if (!check_length(first.size(), ec)) co_return;
    // Head and first bytes in one gather write: one system call for a small response.
    char size_line[24];
    std::array<asio::const_buffer, 4> parts{
        asio::buffer(text), chunk_prefix(first.size(), size_line), first, chunk_suffix()};
    co_await send(parts, ec);
    if (!ec) written_ += first.size();
  }

  asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) override {
    ec = {};
    if (!head_sent_ || failed_ || raw_) {
      ec = asio::error::not_connected;
      co_return;
    }
    if (head_only_ || data.size() == 0) co_return;
    if (!check_length(data.size(), ec)) co_return;
    char size_line[24];
    std::array<asio::const_buffer, 3> parts{chunk_prefix(data.size(), size_line), data,
                                            chunk_suffix()};
    co_await send(parts, ec);
    if (!ec) written_ += data.size();
  }

  asio::awaitable<void> write_last(asio::const_buffer data, error_code& ec) override {
    ec = {};
    if (!chunked_ || head_only_ || data.size() == 0 || !head_sent_ || failed_ || raw_) {
      co_await write_body(data, ec);
      if (!ec) co_await finish_body(ec);
      co_return;
    }
    char size_line[24];
    static constexpr std::string_view kLast =
        "\r\n0\r\n\r\n";  // the chunk's CRLF, then the last chunk
    std::array<asio::const_buffer, 3> parts{chunk_prefix(data.size(), size_line), data,
                                            asio::buffer(kLast)};
    co_await send(parts, ec);
    if (!ec) {
      written_ += data.size();
      finished_ = true;
    }
  }

  asio::awaitable<void> finish_body(error_code& ec) override {
    ec = {};
    if (failed_) {
      ec = asio::error::not_connected;
      co_return;
    }
    if (chunked_ && !finished_ && !head_only_) {
      static constexpr std::string_view kLast = "0\r\n\r\n";
      co_await send(std::array<asio::const_buffer, 1>{asio::buffer(kLast)}, ec);
    }
    if (!ec) finished_ = true;
  }

  asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) override {
    ec = {};
    if (head_sent_ && !raw_) {
      ec = asio::error::already_connected;
      co_return;
    }
    if (!raw_) {
      raw_ = true;
      head_sent_ = true;
      keep_alive_ = false;
      status_ = 200;  // nph: the script's own status line is not parsed
    }
    if (data.size() == 0) co_return;
    co_await send(std::array<asio::const_buffer, 1>{data}, ec);
    if (!ec) written_ += data.size();
  }

  asio::awaitable<void> send_error(http::status status, std::string_view reason) override {
    co_await send_error(status, reason, {});
  }

  asio::awaitable<void> send_error(http::status status, std::string_view reason,
                                   std::string_view dev_detail) override {
    co_await send_error_page(status, reason, dev_detail, {}, std::nullopt);
  }

  asio::awaitable<void> send_gateway_error(
      http::status status, std::string_view phase, std::string_view reason,
      std::string_view dev_detail, std::optional<std::chrono::seconds> retry_after) override {
    co_await send_error_page(status, reason, dev_detail, phase, retry_after);
  }

  asio::awaitable<void> send_error_page(http::status status, std::string_view reason,
                                        std::string_view dev_detail, std::string_view phase,
                                        std::optional<std::chrono::seconds> retry_after) {
    if (refused_) {
      // The request body was refused (read_body): that is the answer, not
      // the handler's view of the failed read.
      status = refused_->status;
      reason = refused_->reason;
      dev_detail = phase = {};
    }
    auto code = static_cast<unsigned>(status);
    auto& lg = log();
    auto level = code >= 500   ? spdlog::level::warn
                 : code == 404 ? spdlog::level::debug
                               : spdlog::level::info;
    lg.log(level, "[http] rid={} {} {} {}: {}", id().str(), code, request().method, target().path,
           reason);
    if (head_sent_) {
      failed_ = true;
      co_return;
    }
    std::string body =
        error_page(status, settings().dev_mode ? dev_detail : std::string_view{}, phase);
    http::response_header<> head;
    head.result(status);
    head.set(http::field::content_type, "text/html; charset=utf-8");
    head.set(http::field::content_length, std::to_string(body.size()));
    if (status == http::status::method_not_allowed) head.set(http::field::allow, "GET, HEAD");
    if (status == http::status::service_unavailable)
      head.set(http::field::retry_after, std::to_string(retry_after ? retry_after->count() : 5));
    error_code ec;
    co_await write_response(head, asio::buffer(body), ec);
  }

  asio::awaitable<bool> client_gone() override {
    auto& sock = s_.stream_.socket();
    if (s_.reader_.buffered() == 0) {
      auto [ec] = co_await sock.async_wait(asio::ip::tcp::socket::wait_read, nothrow);
      if (ec == asio::error::operation_aborted) co_return false;
      char probe;
      ssize_t n = ::recv(sock.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      if (ec || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) co_return true;
    }
    // Bytes of a next request are waiting: the client is there. Wait until cancelled.
    asio::steady_timer forever(s_.stream_.get_executor(), clock::time_point::max());
    co_await forever.async_wait(nothrow);
    co_return false;
  }

  // True when the response went out whole and the connection may carry another.
  bool complete() const {
    if (!head_sent_ || failed_) return false;
    if (raw_) return true;
    if (head_only_) return true;
    if (expected_) return written_ == *expected_;
    return finished_;
  }
  bool keep_alive() const { return keep_alive_ && !raw_; }
  // True when the client waits for "100 Continue" that was never sent: its
  // body will not come, so the connection cannot be reused.
  bool awaiting_continue() const {
    const auto& req = s_.reader_.parser().get();
    return !continue_sent_ && req.version() == 11 &&
           iequals(req[http::field::expect], "100-continue");
  }

  void log_access() const {
    auto& acc = s_.server_.log().access;
    if (!acc) return;
    const auto& req = s_.reader_.parser().get();
    access_record r;
    r.peer = s_.peer_;
    r.time = arrived_;
    r.request_line = request_line_of(req);
    r.status = status_;
    r.body_bytes = written_;
    r.referer = std::string(req[http::field::referer]);
    r.user_agent = std::string(req[http::field::user_agent]);
    r.id = id();
    r.identity = identity_;
    r.micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started_).count());
    acc->info(format_access_line(r));
  }

 private:
  template <class Buffers>
  asio::awaitable<void> send(const Buffers& buffers, error_code& ec) {
    // What the socket takes at once goes without a timer or a trip through
    // the scheduler (nearly every response); only the rest is written async.
    auto& sock = s_.stream_.socket();
    error_code wec;
    if (!sock.non_blocking()) sock.non_blocking(true, wec);  // kept with the connection
    std::size_t done = wec ? 0 : sock.write_some(buffers, wec);
    if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
    if (!wec && done < asio::buffer_size(buffers)) {
      beast::buffers_suffix<Buffers> rest(buffers);
      rest.consume(done);
      s_.stream_.expires_after(settings().http.send_timeout);
      std::tie(wec, std::ignore) = co_await asio::async_write(s_.stream_, rest, nothrow);
    }
    if (wec) {
      failed_ = true;
      ec = wec;
    }
  }

  // The chunk framing around `n` bytes when the response is chunked; empty otherwise.
  asio::const_buffer chunk_prefix(std::size_t n, char (&buf)[24]) const {
    if (!chunked_) return {};
    int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
    return asio::buffer(buf, static_cast<std::size_t>(len));
  }
  asio::const_buffer chunk_suffix() const {
    return chunked_ ? asio::buffer("\r\n", 2) : asio::const_buffer{};
  }

  // Never send more than the head announced: that would corrupt the next response.
  bool check_length(std::size_t more, error_code& ec) {
    if (expected_ && written_ + more > *expected_) {
      log().error("[http] rid={} handler wrote past Content-Length {}", id().str(), *expected_);
      failed_ = true;
      ec = http::error::body_limit;
      return false;
    }
    return true;
  }

  http_session& s_;
  clock::time_point started_;
  std::int64_t arrived_;
  std::string identity_;
  std::optional<head_refusal> refused_;
  error_code refused_error_;
  bool continue_sent_ = false;
  bool head_sent_ = false;
  bool head_only_ = false;
  bool failed_ = false;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool finished_ = false;
  bool raw_ = false;
  unsigned status_ = 0;
  std::optional<std::uint64_t> expected_;
  std::uint64_t written_ = 0;
};

http_session::http_session(session_host& srv, asio::ip::tcp::socket socket, std::uint64_t id)
    : server_(srv), stream_(std::move(socket)), reader_(srv.settings().http), id_(id) {
  auto unmapped = [](asio::ip::address a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
      return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
    return a;
  };
  error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  peer_ = ec ? "-" : unmapped(remote.address()).to_string();
  peer_port_ = ec ? 0 : remote.port();
  auto local = stream_.socket().local_endpoint(ec);
  local_ = ec ? "-" : unmapped(local.address()).to_string();
  local_port_ = ec ? 0 : local.port();
}

http_session::~http_session() { server_.session_ended(id_); }

void http_session::request_stop() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    if (self->state_ == state::idle) self->stream_.cancel();
  });
}

asio::awaitable<void> http_session::run() {
  try {
    bool first = true;
    while (co_await serve_one(first)) first = false;
  } catch (const std::exception& e) {
    server_.log().error->error("[http] connection from {} failed: {}", peer_, e.what());
  }
  // Lingering close (RFC 9112 §9.6): stop sending, then read and drop what the
  // client still sends for a moment, so that our last response is not lost
  // to a reset caused by unread data.
  // Only needed when input may be left unread; a clean close needs no wait.
  error_code ec;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  bool unread =
      reader_.buffered() > 0 || (reader_.started() && !reader_.parser().is_done()) || linger_;
  if (!ec && unread) {
    char scratch[4096];
    stream_.expires_after(server_.stopping() ? std::chrono::milliseconds(250)
                                             : std::chrono::milliseconds(2000));
    for (int i = 0; i < 256; ++i) {
      auto [rec, n] = co_await stream_.async_read_some(asio::buffer(scratch), nothrow);
      if (rec) break;
    }
  }
  stream_.close();
}

asio::awaitable<void> http_session::send_simple(http::status status, bool close,
                                                std::string_view reason, const request_start& at,
                                                const std::string& request_line) {
  const auto& cfg = server_.settings();
  auto code = static_cast<unsigned>(status);
  server_.log().error->log(code >= 500 ? spdlog::level::warn : spdlog::level::info,
                           "[http] rid={} {} from {}: {}", at.id.str(), code, peer_, reason);
  linger_ = linger_ || close;
  std::string body = error_page(status);
  http::response_header<> msg;
  msg.version(11);
  msg.result(status);
  msg.set(http::field::server, "cgihost/" CGIHOST_VERSION);
  msg.set(http::field::date, current_http_date());
  msg.set(http::field::content_type, "text/html; charset=utf-8");
  msg.set(http::field::content_length, std::to_string(body.size()));
  set_connection(msg, !close);
  const std::string head = serialize_head(msg);
  std::array<asio::const_buffer, 2> both{asio::buffer(head), asio::buffer(body)};
  stream_.expires_after(cfg.http.send_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, both, nothrow);
  if (auto& acc = server_.log().access) {
    access_record r;
    r.peer = peer_;
    r.time = unix_now();
    r.request_line = request_line;
    r.status = code;
    r.body_bytes = ec ? 0 : body.size();
    r.id = at.id;
    r.micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - at.started).count());
    acc->info(format_access_line(r));
  }
}

asio::awaitable<bool> http_session::serve_one(bool first) {
  state_ = state::idle;
  if (!co_await await_request(first)) co_return false;
  state_ = state::reading_head;
  request_start at{clock::now(), unix_now(), request_id::next()};
  ++requests_;
  auto target = co_await read_head(at);
  if (!target) co_return false;
  state_ = state::busy;
  session_exchange ex(*this, server_.dispatch(), std::move(*target), at.id, at.started, at.arrived);
  co_await dispatch(ex);
  ex.log_access();
  if (!ex.complete() || !ex.keep_alive()) co_return false;
  co_return co_await drain(ex);
}

asio::awaitable<bool> http_session::await_request(bool first) {
  if (reader_.buffered() > 0) co_return true;  // pipelined: already here
  if (stop_requested_ || server_.stopping()) co_return false;
  const auto& limits = server_.settings().http;
  stream_.expires_after(first ? limits.header_timeout : limits.keepalive_timeout);
  auto [ec, n] = co_await stream_.async_read_some(reader_.prepare(), nothrow);
  if (ec) co_return false;  // idle timeout, client gone, or stop
  reader_.commit(n);
  co_return true;
}

asio::awaitable<std::optional<protocol::normalized_target>> http_session::read_head(
    const request_start& at) {
  const auto& limits = server_.settings().http;
  reader_.start();
  // The head must be complete within header_timeout, however slowly it
  // trickles in (slowloris). Our own timer cancels the read rather than the
  // stream's, which would close the socket before the 408 could be sent.
  stream_.expires_never();
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(stream_.get_executor(), limits.header_timeout);
  deadline.async_wait([timed_out, this](const error_code& tec) {
    if (tec) return;
    *timed_out = true;
    error_code cec;
    stream_.socket().cancel(cec);
  });
  // Parsing happens here, in this coroutine, not inside a composed read
  // operation: nothing the parser does can escape past run()'s handler.
  auto step = reader_.parse_head();
  while (step == request_reader::step::need_more) {
    auto [ec, n] = co_await stream_.async_read_some(reader_.prepare(), nothrow);
    if (ec && *timed_out) {
      deadline.cancel();
      co_await send_simple(http::status::request_timeout, true,
                           "request head not complete within http.header_timeout (" +
                               std::to_string(limits.header_timeout.count()) + " ms)",
                           at, "-");
      co_return std::nullopt;
    }
    if (ec == asio::error::eof && reader_.parser().got_some()) {
      step = reader_.end_of_input();
      break;
    }
    if (ec) co_return std::nullopt;  // client gone, reset, or stop
    reader_.commit(n);
    step = reader_.parse_head();
  }
  deadline.cancel();
  co_return co_await validate_head(step, at);
}

asio::awaitable<std::optional<protocol::normalized_target>> http_session::validate_head(
    request_reader::step step, const request_start& at) {
  const bool head_parsed = reader_.parser().is_header_done();
  const std::string request_line =
      head_parsed ? request_line_of(reader_.parser().get()) : std::string("-");
  if (step == request_reader::step::refused) {
    co_await send_simple(reader_.why().status, true, reader_.why().reason, at, request_line);
    co_return std::nullopt;
  }
  auto normalized = protocol::normalize_target(reader_.parser().get().target());
  if (!normalized) {
    co_await send_simple(http::status::bad_request, true,
                         "request target refused: " + normalized.error().message(), at,
                         request_line);
    co_return std::nullopt;
  }
  co_return std::move(*normalized);
}

asio::awaitable<void> http_session::dispatch(session_exchange& ex) {
  std::string failure;
  try {
    co_await server_.dispatch().serve(ex);
  } catch (const std::exception& e) {
    server_.log().error->error("[http] rid={} handler failed: {}", ex.id().str(), e.what());
    failure = e.what();
  }
  if (!failure.empty() && !ex.head_sent())
    co_await ex.send_error(http::status::internal_server_error, failure);
}

asio::awaitable<bool> http_session::drain(session_exchange& ex) {
  // Drop the rest of a body the handler did not read, within bounds, so the
  // next request on this connection starts at the right byte.
  if (reader_.parser().is_done()) co_return true;
  if (ex.awaiting_continue()) co_return false;
  static constexpr std::size_t kDrainMax = 1024 * 1024;
  std::size_t drained = 0;
  char scratch[8192];
  while (!reader_.parser().is_done() && drained < kDrainMax) {
    error_code dec;
    std::size_t n = co_await ex.read_body(scratch, sizeof scratch, dec);
    if (dec) co_return false;
    drained += n;
  }
  co_return reader_.parser().is_done();
}

}  // namespace cgihost::host
