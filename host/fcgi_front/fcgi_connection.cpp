#include "host/fcgi_front/fcgi_connection.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace cgihost::host {
namespace {

namespace fcgi = protocol::fcgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;

fcgi::limits limits_for(const config::config& cfg) {
  fcgi::limits l;
  // PARAMS carry the header fields and the CGI variables the web server adds.
  l.max_params_bytes = std::max<std::size_t>(64 * 1024, 2 * cfg.http.max_header_bytes);
  return l;
}

}  // namespace

fcgi_connection::fcgi_connection(session_host& srv, stream_socket socket, std::uint64_t id)
    : server_(srv),
      socket_(std::move(socket)),
      id_(id),
      peer_(peer_end(socket_)),
      local_(local_end(socket_)),
      decoder_(limits_for(srv.current()->settings)),
      room_(socket_.get_executor(), clock::time_point::max()),
      writer_free_(socket_.get_executor(), clock::time_point::max()),
      idle_(socket_.get_executor(), [this] {
        idle_rang_ = true;
        error_code ec;
        socket_.cancel(ec);
      }) {}

fcgi_connection::~fcgi_connection() { server_.session_ended(id_); }

void fcgi_connection::request_stop() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    if (!self->started_any_) {
      // Not a request yet: its first may still come (kFirstRequestAtStop).
      if (!self->lingering_) self->idle_.set_after(self->first_request_wait());
      return;
    }
    self->drop_unstarted();
    if (self->requests_.empty()) self->close();
  });
}

std::chrono::steady_clock::duration fcgi_connection::first_request_wait() const {
  return std::min<std::chrono::steady_clock::duration>(
      kFirstRequestAtStop, server_.current()->settings.http.header_timeout);
}

void fcgi_connection::drop_unstarted() {
  std::erase_if(requests_, [](const auto& r) { return !r.second->started(); });
}

void fcgi_connection::close() {
  closing_ = true;
  room_.cancel();
  error_code ec;
  socket_.close(ec);
}

asio::awaitable<void> fcgi_connection::run() {
  auto self = shared_from_this();
  try {
    co_await read_records();
  } catch (const std::exception& e) {
    server_.log().error->error("[fastcgi] connection from {} failed: {}", peer_.address, e.what());
  }
  // The web server is gone (or sent garbage, or we stop): every request
  // still running is aborted (its CGI child ended, its pool request
  // aborted); each ends on its own coroutine, holding this connection.
  reader_done_ = true;
  drop_unstarted();
  for (auto& [id, req] : requests_) req->abort();
  room_.cancel();
  if (requests_.empty()) close();
}

asio::awaitable<void> fcgi_connection::read_records() {
  const auto current = server_.current();
  const auto& limits = current->settings.http;
  std::string in(64 * 1024, '\0');
  bool first = true;
  while (!closing_) {
    const bool idle = requests_.empty();
    const bool awaiting_params = std::any_of(requests_.begin(), requests_.end(),
                                             [](const auto& r) { return !r.second->started(); });
    // Idle: the first request within header_timeout, later ones within
    // keepalive_timeout; a begun request's PARAMS within header_timeout.
    // The alarm costs no timer operation (alarm_clock.hpp).
    if (lingering_)
      idle_.set_after(kLinger);
    else if ((idle || awaiting_params) && (stop_requested_ || server_.stopping()))
      idle_.set_after(first_request_wait());
    else if (idle || awaiting_params)
      idle_.set_after(first || !idle ? limits.header_timeout : limits.keepalive_timeout);
    idle_rang_ = false;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in), nothrow);
    idle_.clear();
    if (ec && idle_rang_ && awaiting_params)
      server_.log().error->info(
          "[fastcgi] connection from {} closed: PARAMS not complete within http.header_timeout",
          peer_.address);
    if (ec) co_return;
    first = false;
    std::string_view rest(in.data(), n);
    while (!rest.empty() && !closing_) {
      fcgi::server_event ev;
      std::error_code perr;
      const std::size_t used = decoder_.feed(rest, ev, perr);
      rest.remove_prefix(used);
      if (perr == fcgi::error::unknown_request_id && ended_.contains(ev.request_id))
        continue;  // a record of a request we answered, sent before our END_REQUEST reached it
      if (lingering_) {
        if (perr) co_return;  // what the web server still sends is read and dropped
        continue;
      }
      if (perr) {
        server_.log().error->warn("[fastcgi] connection from {} closed: malformed record: {}",
                                  peer_.address, perr.message());
        close();
        co_return;
      }
      if (!co_await on_event(ev)) co_return;
    }
  }
}

asio::awaitable<bool> fcgi_connection::on_event(fcgi::server_event& ev) {
  using kind = fcgi::server_event::kind;
  auto it = requests_.find(ev.request_id);
  fcgi_request* req = it == requests_.end() ? nullptr : it->second.get();
  switch (ev.what) {
    case kind::none:
    case kind::data:
    case kind::data_end:
      break;
    case kind::get_values: {
      std::string out;
      fcgi::append_get_values_result(
          out, fcgi::answer_get_values(ev.names, kMaxConnections, kMaxRequests, true));
      error_code ec;
      co_await send(std::move(out), ec);
      co_return !ec;
    }
    case kind::unknown_type: {
      std::string out;
      fcgi::append_unknown_type(out, ev.unknown_type);
      error_code ec;
      co_await send(std::move(out), ec);
      co_return !ec;
    }
    case kind::begin_request:
      begin(ev);
      break;
    case kind::params:
      if (req && !req->started()) {
        req->mark_started();
        started_any_ = true;
        asio::co_spawn(socket_.get_executor(), serve(ev.request_id, std::move(ev.params)),
                       asio::detached);
      }
      break;
    case kind::stdin_data:
      if (req) {
        req->stdin_data(ev.data, requests_.size() > 1);
        co_await hold_back(*req);
      }
      break;
    case kind::stdin_end:
      if (req) req->stdin_end();
      break;
    case kind::abort_request:
      if (req && req->started())
        req->abort();
      else if (req)
        end_request_now(ev.request_id, fcgi::protocol_status::request_complete);
      break;
  }
  co_return true;
}

void fcgi_connection::begin(const fcgi::server_event& ev) {
  ended_.erase(ev.request_id);
  if (ev.role != fcgi::role::responder)
    return end_request_now(ev.request_id, fcgi::protocol_status::unknown_role);
  // At a stop, only a new connection's first requests are still taken.
  if (((stop_requested_ || server_.stopping()) && started_any_) ||
      requests_.size() >= kMaxRequestsPerConnection)
    return end_request_now(ev.request_id, fcgi::protocol_status::overloaded);
  requests_.emplace(ev.request_id, std::make_unique<fcgi_request>(
                                       *this, ev.request_id, (ev.flags & fcgi::kKeepConn) != 0));
}

// Back-pressure: while a request holds kStdinWindow bytes its handler has not
// taken, no more records are read (TCP's window then stops the web server),
// as long as it is the only request on the connection. With others live, its
// handler may wait for theirs (a pool's queue, a script that reads late): the
// reader goes on and the request's excess STDIN goes to a temporary file
// (fcgi_request::stdin_data), as nginx does with request bodies.
asio::awaitable<void> fcgi_connection::hold_back(fcgi_request& req) {
  const std::uint16_t id = req.fcgi_id();
  while (!closing_ && requests_.size() == 1) {
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second->pending() < kStdinWindow || it->second->aborted())
      co_return;
    co_await room_.async_wait(nothrow);
  }
}

void fcgi_connection::end_request_now(std::uint16_t id, fcgi::protocol_status why) {
  requests_.erase(id);
  decoder_.end(id);
  ended_.insert(id);
  auto out = std::make_shared<std::string>();
  fcgi::append_end_request(*out, id, 0, why);
  asio::co_spawn(
      socket_.get_executor(),
      [self = shared_from_this(), out]() -> asio::awaitable<void> {
        error_code ec;
        co_await self->send(std::move(*out), ec);
      },
      asio::detached);
}

asio::awaitable<void> fcgi_connection::serve(std::uint16_t id, fcgi::name_values params) {
  auto self = shared_from_this();
  auto& req = *requests_.at(id);
  if (auto no = req.take_params(params))
    co_await answer(req, *no);
  else
    co_await dispatch(req);
  // The id is free before END_REQUEST leaves: the web server may send its
  // next BEGIN_REQUEST with it (nginx does) as soon as it has read ours.
  std::unique_ptr<fcgi_request> done = std::move(requests_.at(id));
  ended(id);
  error_code ec;
  co_await done->finish(ec);
  done->log_access();
  if ((!done->keep_conn() || stop_requested_ || server_.stopping() || reader_done_) &&
      requests_.empty())
    linger_close();
}

// Our side is done; the web server may still be sending (Apache writes the
// empty STDIN after a response that came before it, and answers 503 when
// that write breaks): the sending side is shut down and what comes is read
// and dropped until it closes, or for kLinger at most.
void fcgi_connection::linger_close() {
  if (reader_done_ || closing_) return close();
  lingering_ = true;
  error_code ec;
  socket_.shutdown(stream_socket::shutdown_send, ec);
  if (ec) return close();
  idle_.set_after(kLinger);
}

asio::awaitable<void> fcgi_connection::dispatch(fcgi_request& req) {
  std::string failure;
  try {
    co_await req.served_by().dispatch.serve(req);
  } catch (const std::exception& e) {
    server_.log().error->error("[fastcgi] rid={} handler failed: {}", req.id().str(), e.what());
    failure = e.what();
  }
  if (!failure.empty() && !req.head_sent())
    co_await answer(req,
                    make_refusal(http::status::internal_server_error, "handler.threw", failure));
}

void fcgi_connection::ended(std::uint16_t id) {
  requests_.erase(id);
  decoder_.end(id);
  ended_.insert(id);
  room_.cancel();
}

asio::awaitable<void> fcgi_connection::send(std::string bytes, error_code& ec) {
  using namespace asio::experimental::awaitable_operators;
  ec = {};
  while (writing_) co_await writer_free_.async_wait(nothrow);
  if (!socket_.is_open()) {
    ec = asio::error::not_connected;
    co_return;
  }
  // What the socket takes at once goes without a timer (nearly every
  // response); only the rest waits, within http.send_timeout.
  error_code wec;
  if (!socket_.non_blocking()) socket_.non_blocking(true, wec);
  std::size_t done = wec ? 0 : socket_.write_some(asio::buffer(bytes), wec);
  if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
  if (wec || done == bytes.size()) {
    ec = wec;
    co_return;
  }
  writing_ = true;
  asio::steady_timer limit(socket_.get_executor(), server_.current()->settings.http.send_timeout);
  auto r = co_await (asio::async_write(socket_, asio::buffer(bytes) + done, nothrow) ||
                     limit.async_wait(nothrow));
  writing_ = false;
  writer_free_.cancel();
  if (r.index() == 1) {
    ec = asio::error::timed_out;
    close();
  } else {
    ec = std::get<0>(std::get<0>(r));
  }
}

}  // namespace cgihost::host
