#pragma once
// cgihost as a FastCGI server: one connection from a web server (nginx
// fastcgi_pass, Apache mod_proxy_fcgi), its records decoded by the responder
// decoder, each request (several at once when the web server multiplexes)
// dispatched as an HTTP request is, and answered in STDOUT records and
// END_REQUEST.

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "host/dispatch/alarm_clock.hpp"
#include "host/fcgi_front/fcgi_request.hpp"
#include "host/http/http_session.hpp"
#include "host/http/session_host.hpp"
#include "protocol/fcgi.hpp"

namespace cgihost::host {

class fcgi_connection : public std::enable_shared_from_this<fcgi_connection> {
 public:
  // What GET_VALUES answers (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS):
  // the server closes FastCGI connections past kMaxConnections at accept; a
  // BEGIN_REQUEST past kMaxRequestsPerConnection live on one connection is
  // answered FCGI_OVERLOADED.
  static constexpr unsigned kMaxConnections = 1024;
  static constexpr unsigned kMaxRequestsPerConnection = 64;
  static constexpr unsigned kMaxRequests = kMaxConnections * kMaxRequestsPerConnection;
  // STDIN bytes held in memory for one request. Past them, reading stops
  // until its handler takes some while it is alone on the connection; with
  // other requests live the rest goes to a temporary file (hold_back).
  static constexpr std::size_t kStdinWindow = 256 * 1024;
  // How long a finished connection reads what the web server still sends
  // before it is closed (linger_close).
  static constexpr std::chrono::seconds kLinger{2};

  fcgi_connection(session_host& srv, stream_socket socket, std::uint64_t id);
  ~fcgi_connection();

  // Serves the connection until the web server closes it, a request without
  // FCGI_KEEP_CONN ends, a record is malformed, or the server stops.
  asio::awaitable<void> run();

  // Asks the connection to end once its requests are answered; new ones are
  // answered FCGI_OVERLOADED. Thread-safe.
  void request_stop();

  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  friend class fcgi_request;

  asio::awaitable<void> read_records();
  // One decoded event; false to close the connection.
  asio::awaitable<bool> on_event(protocol::fcgi::server_event& ev);
  void begin(const protocol::fcgi::server_event& ev);
  asio::awaitable<void> hold_back(fcgi_request& req);
  asio::awaitable<void> serve(std::uint16_t id, protocol::fcgi::name_values params);
  asio::awaitable<void> dispatch(fcgi_request& req);
  void ended(std::uint16_t id);
  // Whole records to the web server, one writer at a time, within http.send_timeout.
  asio::awaitable<void> send(std::string bytes, error_code& ec);
  void end_request_now(std::uint16_t id, protocol::fcgi::protocol_status why);
  void close();
  void linger_close();
  // Requests whose PARAMS never came: nothing runs for them; forgotten.
  void drop_unstarted();
  // How long a new connection may still take to send its first request at a stop.
  std::chrono::steady_clock::duration first_request_wait() const;

  session_host& server_;
  stream_socket socket_;
  std::uint64_t id_;
  connection_end peer_, local_;
  protocol::fcgi::responder_decoder decoder_;
  std::map<std::uint16_t, std::unique_ptr<fcgi_request>> requests_;
  std::set<std::uint16_t> ended_;  // answered: their late records are dropped
  asio::steady_timer room_;        // cancelled when a request takes STDIN or ends
  asio::steady_timer writer_free_;
  alarm idle_;  // the idle or PARAMS deadline of the current read: cancels it
  bool idle_rang_ = false;
  bool writing_ = false;
  bool stop_requested_ = false;
  bool started_any_ = false;  // a request's PARAMS came: not a new connection any more
  bool closing_ = false;
  bool lingering_ = false;    // our side is shut down: records are read and dropped
  bool reader_done_ = false;  // no more records will be read
};

}  // namespace cgihost::host
