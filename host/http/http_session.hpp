#pragma once
// One client connection: HTTP/1.x keep-alive and pipelining, with every
// limit of [http] enforced and each violation answered with its status.

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "host/dispatch/alarm_clock.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/http/http_request.hpp"
#include "host/http/session_host.hpp"

namespace cgihost::host {

class session_exchange;

// A front's connection: a TCP or a Unix-domain stream socket.
using stream_socket = asio::generic::stream_protocol::socket;

// One end of a connection as logs and scripts see it: the numeric address
// (IPv4-mapped IPv6 unmapped) and port; "unix:" and 0 for a Unix socket (as
// nginx's $remote_addr); "-" when it cannot be read.
struct connection_end {
  std::string address = "-";
  std::uint16_t port = 0;
};
connection_end describe_end(const stream_socket::endpoint_type& ep);
connection_end peer_end(const stream_socket& s);
connection_end local_end(const stream_socket& s);

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(session_host& srv, stream_socket socket, std::uint64_t id);
  ~http_session();

  // Serves requests until the client leaves, a limit closes the connection,
  // or the server stops. Runs on the socket's strand.
  asio::awaitable<void> run();

  // Asks the session to end: now if it is waiting for a request, after the
  // current response otherwise. Thread-safe.
  void request_stop();

  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  friend class session_exchange;

  enum class state { idle, reading_head, busy };

  // When a request's first byte arrived, and its id.
  struct request_start {
    std::chrono::steady_clock::time_point started;
    std::int64_t arrived;  // unix seconds, for the access log
    request_id id;
  };

  // One request: read → validate the head → dispatch → drain. False when the
  // connection is to close.
  asio::awaitable<bool> serve_one(bool first);
  // Waits for a request's first bytes (within the idle timeouts).
  asio::awaitable<bool> await_request(bool first);
  // Reads and parses the head within http.header_timeout; the target, or
  // nullopt after answering (408, the parser's refusals, 400) or when the
  // client left.
  asio::awaitable<std::optional<protocol::normalized_target>> read_head(const request_start& at);
  asio::awaitable<std::optional<protocol::normalized_target>> checked_target(
      request_reader::step step, const request_start& at);
  // The request through the one dispatch; a handler's exception is logged and answered 500.
  asio::awaitable<void> dispatch(session_exchange& ex);
  // Reads what the handler left of the body (at most 1 MiB); false when the
  // connection cannot carry another request.
  asio::awaitable<bool> drain(session_exchange& ex);
  // A complete error response outside any exchange (the head was refused).
  asio::awaitable<void> send_simple(http::status status, bool close, std::string_view reason,
                                    const request_start& at, const std::string& request_line);

  // The one deadline of the connection's current wait (idle, head, body,
  // send): set before a wait, cleared after it. When it rings the socket is
  // closed (every wait then fails), or for the head only cancelled, so that
  // the 408 can still be sent.
  void within(std::chrono::steady_clock::duration d) {
    close_on_alarm_ = true;
    deadline_.set_after(d);
  }
  void within_until(std::chrono::steady_clock::time_point at) {
    close_on_alarm_ = false;
    deadline_.set(at);
  }
  void done_waiting() { deadline_.clear(); }
  void alarm_rang();

  session_host& server_;
  // The config the connection was accepted under: its head limits (reader_).
  std::shared_ptr<const served> accepted_under_;
  // The config of the request being read or served (refreshed per request).
  std::shared_ptr<const served> gen_;
  stream_socket socket_;
  alarm deadline_;
  bool close_on_alarm_ = true;
  bool alarm_rang_ = false;
  request_reader reader_;
  std::uint64_t id_;
  std::string peer_;
  std::uint16_t peer_port_ = 0;
  std::string local_;
  std::uint16_t local_port_ = 0;
  state state_ = state::idle;
  bool stop_requested_ = false;  // strand only
  bool linger_ = false;          // a rejection was sent: the client may still be sending
  std::uint32_t requests_ = 0;
};

}  // namespace cgihost::host
