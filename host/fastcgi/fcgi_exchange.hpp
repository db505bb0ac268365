#pragma once
// One FastCGI request on one leased connection: BEGIN_REQUEST, PARAMS and the
// body as STDIN out; STDOUT through the strict relay to the client, STDERR to
// the log; the client watched, and the request aborted when it leaves.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "host/dispatch/alarm_clock.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/fastcgi/lease.hpp"
#include "host/gateway/gateway.hpp"
#include "host/gateway/response_relay.hpp"
#include "host/gateway/stderr_lines.hpp"
#include "host/gateway/verdict.hpp"
#include "protocol/fcgi.hpp"

namespace cgihost::host {

inline constexpr std::uint16_t kFcgiRequestId = 1;  // one request per connection: php-cgi
                                                    // does not multiplex

// How a FastCGI exchange ended: the facts the verdict, the pool's outcome and
// the log lines are made of.
struct fcgi_end {
  ending how = ending::complete;
  bool end_request = false;  // END_REQUEST arrived (also after a timeout or an abort)
  bool got_bytes = false;    // anything came from the instance
  bool reset = false;        // the connection was reset or refused (not an orderly end)
  std::string failure;       // for `broken`: what failed
  // Set when activity_timeout ended it: "waiting for the head" or "streaming the body".
  std::string inactive_phase;
};

// The pool's outcome of an exchange: ok once END_REQUEST came; a timeout or
// an abort ends the instance as timed out; a connection reset before any
// byte is a refusal; anything else broke it.
fastcgi_pool::outcome outcome_of(const fcgi_end& end);

class fcgi_exchange {
 public:
  using clock = std::chrono::steady_clock;

  // `spool`: the spooled body, or one not open (read from `ex`); `empty_body`: no
  // body at all. `script` and `pool` name the request in log lines. The
  // instance goes back through `l` (keep()) the moment END_REQUEST ends a
  // clean exchange: our STDIN sent whole, nothing after END_REQUEST.
  // `arrived`: when the request came (slow_request_log counts from it).
  fcgi_exchange(exchange& ex, lease& l, const spawner::spool_file& spool, bool empty_body,
                std::string script, std::string pool, clock::time_point arrived = clock::now());

  // Sends the request and relays the answer until END_REQUEST, the deadline,
  // a failure, or the client leaving (then ABORT_REQUEST, and a short wait
  // for the instance to end the request).
  // `head_records`: BEGIN_REQUEST and PARAMS, encoded.
  asio::awaitable<void> run(const std::string& head_records, clock::time_point deadline);

  fcgi_end end() const;
  response_relay& relay() { return relay_; }

 private:
  asio::awaitable<void> abort(asio::steady_timer& timer);
  asio::awaitable<void> wait_timeout(asio::steady_timer& timer);
  // Until `timer`'s expiry (the deadline) or activity_timeout without a byte
  // either way; both time the exchange out.
  asio::awaitable<void> wait_deadline_or_idle(asio::steady_timer& timer);
  asio::awaitable<void> watch_client();
  asio::awaitable<void> send_stdin_then_watch();
  asio::awaitable<bool> send_stdin();
  asio::awaitable<void> read_records();
  // One read's records, from `in` (advanced past what was taken); false once
  // the reading stops (a protocol error). Stops early after the first STDERR
  // record under stderr_mode = "log_and_500" (stderr_check_ is then set).
  bool take_records(std::string_view& in, std::string& batch);
  // STDERR bytes, as the pool's stderr_mode says.
  void on_stderr(std::string_view data);
  void log_stderr(std::string_view line);
  // log_and_500: a 500 when no response went out yet, else a log line.
  void stderr_verdict();
  // slow_request_log: the one line of a request still running.
  void log_slow(clock::time_point now);
  // What the request is doing, for the slow-request and activity lines and
  // the status page (show_phase: on the pool's board, through the lease).
  run_phase phase() const { return phase_of(!empty_body_ && !stdin_done_, ex_.head_sent()); }
  void show_phase() { lease_.set_phase(phase()); }

  exchange& ex_;
  lease& lease_;
  lease::socket& sock_;
  const spawner::spool_file& spool_;
  bool empty_body_;
  std::string script_;
  std::string pool_;
  response_relay relay_;
  std::string head_;
  std::chrono::milliseconds activity_timeout_;  // the pool's; 0: none
  clock::time_point last_activity_ = clock::now();
  clock::time_point arrived_;
  clock::time_point slow_at_;  // when slow_request_log is due; max once logged or without one
  asio::cancellation_signal read_cancel_;
  // run()'s plain path: rings after kWatchClientAfter (then the client is
  // watched) or at the deadline, and cuts the read.
  alarm alarm_;
  bool alarm_watches_ = false;  // what the alarm means when it rings
  bool rang_watch_ = false;
  bool rang_timeout_ = false;
  bool cancellable_reads_ = false;
  protocol::fcgi::client_decoder decoder_;
  gateway_buffer buf_;
  stderr_lines stderr_;
  bool want_stdout_ = true;
  // What the parallel flows saw (both may hold): end() orders them.
  bool timed_out_ = false;
  bool client_left_ = false;
  // Whether the connection may be kept: our STDIN went whole, and nothing
  // came after END_REQUEST.
  bool stdin_done_ = false;
  bool clean_end_ = false;
  fcgi_end end_;  // the facts as they come (its `how` is made by end())
  std::size_t stderr_lines_ = 0;
  bool stderr_seen_ = false;
  bool stderr_check_ = false;  // the first STDERR came: judged after the STDOUT before it
};

}  // namespace cgihost::host
