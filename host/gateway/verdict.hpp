#pragma once
// How a CGI or FastCGI exchange ended, and what the client gets for it: one
// table for both modules. classify() is pure (no I/O, no logging, no clock);
// carry_out() does what it decided, with the module's own words (its log
// lines, tags and diagnosis texts) supplied by a gateway_voice.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>

#include "host/dispatch/exchange.hpp"
#include "host/dispatch/refusal.hpp"

namespace cgihost::host {

class response_relay;

// How the exchange with the application ended, from the exchange's side; when
// several hold, the first of this order.
enum class ending {
  client_left,  // the client left and the application was told (FastCGI ABORT_REQUEST)
  timed_out,    // the deadline passed first
  complete,     // the application ended its answer (END_REQUEST; the CGI child exited)
  broken,       // the connection to the application failed, or its protocol did
};

// The facts classify() decides on: the ending and the relay's state.
struct exchange_facts {
  ending how = ending::complete;
  // Nothing came from the application (a FastCGI connection reset or closed
  // before answering): with `may_retry`, another instance may have it.
  bool got_bytes = true;
  bool may_retry = false;  // first attempt, and a request safe to send again
  // The relay's state.
  bool rejected = false;        // the output's head was refused by the strict parser
  bool stderr_refused = false;  // stderr_mode = "log_and_500": stderr came before any output went
  bool client_failed = false;   // a write to the client failed, or the client left meanwhile
  bool nph = false;             // the output went to the client unparsed
  bool local_redirect = false;
  bool body_short = false;  // the body ended before its Content-Length
  bool finished = false;    // the relay already ended the response
  bool head_sent = false;   // a response head went out to the client
  unsigned head_status = 0;
  // CGI: the child was killed by a signal after its head (the body may be cut).
  bool killed = false;
};

struct verdict {
  enum class kind {
    ok,              // the response is complete
    finish_body,     // the response is complete once its end goes out
    local_redirect,  // RFC 3875 §6.2.2: the Location is served instead
    retry,           // nothing was answered: another instance gets the request
    client_left,     // the client is gone; nothing more is sent
    refuse,          // an error page with `status` (no head went out yet)
    cut,             // a response already started is cut: the connection closes
  };
  // Why, for refuse, cut and client_left (the module's words depend on it).
  enum class cause {
    none,
    nph,             // ok: the nph output went out as it came
    aborted,         // client_left: the exchange saw it and aborted the request
    client_failed,   // client_left: a write to it failed, or it left while the program ran
    timed_out,       // 504
    rejected,        // 502: the output was refused
    broken,          // 502: the connection or the protocol failed
    body_short,      // 502: the body ended before its Content-Length
    killed,          // 502: the program was killed after its head
    stderr_written,  // 500: stderr_mode = "log_and_500" and the program wrote to stderr
  };
  kind what = kind::ok;
  cause why = cause::none;
  boost::beast::http::status status = boost::beast::http::status::ok;  // refuse and cut
  // What a pool counts for its status page (0: nothing, a retry); 499 for a
  // client that left.
  unsigned counted = 0;
  bool counted_timeout = false;

  friend bool operator==(const verdict&, const verdict&) = default;
};

verdict classify(const exchange_facts& f);

// A module's words for a verdict. Each call may log nothing itself: it
// returns what carry_out() logs and answers.
class gateway_voice {
 public:
  virtual ~gateway_voice() = default;
  // For refuse and cut: the refusal (its module line is logged; for cut,
  // only that line is).
  virtual refusal refusal_for(const verdict& v) = 0;
  // After a verdict that answers nothing more (client_left, ok, finish_body
  // once the end went out): the module's log line, if any.
  virtual void note(const verdict& v) { (void)v; }
};

// True when carrying out `v` sends something to the client (refuse,
// local_redirect, finish_body): only then is carry_out() needed, so the
// quiet verdicts cost no coroutine frame.
bool sends(const verdict& v);

// Carries out a verdict that sends nothing (ok, client_left, cut; retry is
// the caller's): logs the module's line, if any.
void settle(exchange& ex, const verdict& v, gateway_voice& voice);

// Carries out any verdict but retry: answers the module's refusal, redirects
// to the relay's Location, or ends the body (then the module's note).
asio::awaitable<void> carry_out(exchange& ex, const verdict& v, const response_relay& relay,
                                gateway_voice& voice);

// The facts a response_relay knows at the end, into `f`.
void relay_facts(const response_relay& relay, const exchange& ex, exchange_facts& f);

}  // namespace cgihost::host
