#include "host/http/http_session.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>

#include "host/dispatch/refusal.hpp"
#include "host/http/response_head.hpp"
#include "host/http/session_exchange.hpp"

namespace cgihost::host {
namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;

}  // namespace

connection_end describe_end(const stream_socket::endpoint_type& ep) {
  connection_end out;
  const int family = ep.protocol().family();
  if (family == AF_INET || family == AF_INET6) {
    // The address's own size, not ep.size(): on Windows an accepted socket's
    // cached peer, moved into a generic socket, reports sockaddr_storage's.
    const std::size_t size = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    asio::ip::tcp::endpoint ip;
    if (ep.size() < size) return out;
    std::memcpy(ip.data(), ep.data(), size);
    ip.resize(size);
    auto a = ip.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
      a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    out.address = a.to_string();
    out.port = ip.port();
  } else {
    out.address = "unix:";
  }
  return out;
}

connection_end peer_end(const stream_socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? connection_end{} : describe_end(ep);
}

connection_end local_end(const stream_socket& s) {
  error_code ec;
  auto ep = s.local_endpoint(ec);
  return ec ? connection_end{} : describe_end(ep);
}

http_session::http_session(session_host& srv, stream_socket socket, std::uint64_t id)
    : server_(srv),
      accepted_under_(srv.current()),
      gen_(accepted_under_),
      socket_(std::move(socket)),
      deadline_(socket_.get_executor(), [this] { alarm_rang(); }),
      reader_(accepted_under_->settings.http),
      id_(id) {
  auto peer = peer_end(socket_);
  peer_ = std::move(peer.address);
  peer_port_ = peer.port;
  auto local = local_end(socket_);
  local_ = std::move(local.address);
  local_port_ = local.port;
}

http_session::~http_session() { server_.session_ended(id_); }

void http_session::alarm_rang() {
  alarm_rang_ = true;
  error_code ec;
  if (close_on_alarm_)
    socket_.close(ec);
  else
    socket_.cancel(ec);
}

void http_session::request_stop() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    if (self->state_ != state::idle) return;
    if (self->requests_ == 0) {
      // Not a request yet: its first one may still come (kFirstRequestAtStop).
      self->within(std::min<std::chrono::steady_clock::duration>(
          kFirstRequestAtStop, self->accepted_under_->settings.http.header_timeout));
      return;
    }
    error_code ec;
    self->socket_.cancel(ec);
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
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  bool unread =
      reader_.buffered() > 0 || (reader_.started() && !reader_.parser().is_done()) || linger_;
  if (!ec && unread) {
    char scratch[4096];
    within(server_.stopping() ? std::chrono::milliseconds(250) : std::chrono::milliseconds(2000));
    for (int i = 0; i < 256; ++i) {
      auto [rec, n] = co_await socket_.async_read_some(asio::buffer(scratch), nothrow);
      if (rec) break;
    }
    done_waiting();
  }
  socket_.close(ec);
}

asio::awaitable<void> http_session::send_simple(http::status status, bool close,
                                                std::string_view reason, const request_start& at,
                                                const std::string& request_line) {
  const auto& cfg = gen_->settings;
  auto code = static_cast<unsigned>(status);
  server_.log().error->log(code >= 500 ? spdlog::level::warn : spdlog::level::info,
                           "[http] rid={} {} from {}: {}", at.id.str(), code, peer_, reason);
  linger_ = linger_ || close;
  const auto page = gen_->pages.render(status, {}, {});
  const std::string& body = page.body;
  http::response_header<> msg;
  msg.version(11);
  msg.result(status);
  msg.set(http::field::server, "cgihost/" CGIHOST_VERSION);
  msg.set(http::field::date, current_http_date());
  msg.set(http::field::content_type, page.content_type);
  msg.set(http::field::content_length, std::to_string(body.size()));
  set_connection(msg, !close);
  const std::string head = serialize_head(msg);
  std::array<asio::const_buffer, 2> both{asio::buffer(head), asio::buffer(body)};
  within(cfg.http.send_timeout);
  auto [ec, n] = co_await asio::async_write(socket_, both, nothrow);
  done_waiting();
  if (auto& acc = server_.log().access) {
    access_record r;
    r.peer = peer_;
    r.time = unix_now();
    r.request_line = request_line;
    r.status = code;
    r.body_bytes = ec ? 0 : body.size();
    r.id = at.id;
    r.started = at.started;
    r.ended = clock::now();
    r.micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(r.ended - at.started).count());
    acc->info(format_access(server_.log(), r));
  }
}

asio::awaitable<bool> http_session::serve_one(bool first) {
  state_ = state::idle;
  if (!co_await await_request(first)) co_return false;
  state_ = state::reading_head;
  gen_ = server_.current();  // a reload since the last request applies from this one
  request_start at{clock::now(), unix_now(), request_id::next()};
  ++requests_;
  auto target = co_await read_head(at);
  if (!target) co_return false;
  state_ = state::busy;
  session_exchange ex(*this, gen_, std::move(*target), at.id, at.started, at.arrived);
  co_await dispatch(ex);
  ex.log_access();
  if (!ex.complete() || !ex.keep_alive()) co_return false;
  co_return co_await drain(ex);
}

asio::awaitable<bool> http_session::await_request(bool first) {
  if (reader_.buffered() > 0) co_return true;  // pipelined: already here
  const bool stopping = stop_requested_ || server_.stopping();
  if (stopping && !first) co_return false;
  const auto& limits = server_.current()->settings.http;
  if (stopping)
    within(
        std::min<std::chrono::steady_clock::duration>(kFirstRequestAtStop, limits.header_timeout));
  else
    within(first ? limits.header_timeout : limits.keepalive_timeout);
  auto [ec, n] = co_await socket_.async_read_some(reader_.prepare(), nothrow);
  done_waiting();
  if (ec) co_return false;  // idle timeout, client gone, or stop
  reader_.commit(n);
  co_return true;
}

asio::awaitable<std::optional<protocol::normalized_target>> http_session::read_head(
    const request_start& at) {
  const auto& limits = gen_->settings.http;
  reader_.start();
  // The head must be complete within header_timeout, however slowly it
  // trickles in (slowloris). Our own timer cancels the read rather than the
  // stream's, which would close the socket before the 408 could be sent.
  // Parsing happens here, in this coroutine, not inside a composed read
  // operation: nothing the parser does can escape past run()'s handler.
  auto step = reader_.parse_head();
  if (step != request_reader::step::need_more) co_return co_await checked_target(step, at);
  // The head is not all here yet (nearly always it is, and no alarm is set).
  alarm_rang_ = false;
  within_until(at.started + limits.header_timeout);
  while (step == request_reader::step::need_more) {
    auto [ec, n] = co_await socket_.async_read_some(reader_.prepare(), nothrow);
    if (ec && alarm_rang_) {
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
    if (ec) {
      done_waiting();
      co_return std::nullopt;  // client gone, reset, or stop
    }
    reader_.commit(n);
    step = reader_.parse_head();
  }
  done_waiting();
  co_return co_await checked_target(step, at);
}

asio::awaitable<std::optional<protocol::normalized_target>> http_session::checked_target(
    request_reader::step step, const request_start& at) {
  const bool head_parsed = reader_.parser().is_header_done();
  const std::string request_line =
      head_parsed ? request_line_of(reader_.parser().get()) : std::string("-");
  auto valid = validate_head(step, reader_);
  if (auto* no = std::get_if<head_refusal>(&valid)) {
    co_await send_simple(no->status, true, no->reason, at, request_line);
    co_return std::nullopt;
  }
  co_return std::get<protocol::normalized_target>(std::move(valid));
}

asio::awaitable<void> http_session::dispatch(session_exchange& ex) {
  std::string failure;
  try {
    co_await ex.served_by().dispatch.serve(ex);
  } catch (const std::exception& e) {
    server_.log().error->error("[http] rid={} handler failed: {}", ex.id().str(), e.what());
    failure = e.what();
  }
  if (!failure.empty() && !ex.head_sent())
    co_await answer(ex,
                    make_refusal(http::status::internal_server_error, "handler.threw", failure));
}

asio::awaitable<bool> http_session::drain(session_exchange& ex) {
  // Drop the rest of a body the handler did not read, within bounds, so the
  // next request on this connection starts at the right byte.
  if (reader_.parser().is_done()) co_return true;
  // After a local redirect the exchange gives no more of the body; a body
  // the client has not sent yet, nobody waits for: the connection closes.
  if (ex.awaiting_continue() || ex.redirected()) co_return false;
  static constexpr std::size_t kDrainMax = 1024 * 1024;
  std::size_t drained = 0;
  char scratch[8192];
  while (!reader_.parser().is_done() && drained < kDrainMax) {
    error_code dec;
    std::size_t n = co_await ex.read_body(scratch, sizeof scratch, dec);
    if (dec || n == 0) co_return false;
    drained += n;
  }
  co_return reader_.parser().is_done();
}

}  // namespace cgihost::host
