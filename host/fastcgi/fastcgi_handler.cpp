#include "host/fastcgi/fastcgi_handler.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "host/dispatch/checks.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/gateway/gateway.hpp"
#include "host/gateway/response_relay.hpp"
#include "protocol/cgi_response.hpp"
#include "protocol/fcgi.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {
namespace {

using namespace asio::experimental::awaitable_operators;
namespace fcgi = protocol::fcgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;
constexpr std::uint16_t kRequestId = 1;  // one request per connection: php-cgi does not multiplex

// After ABORT_REQUEST, before the instance is killed.
constexpr auto kAbortGrace = std::chrono::seconds(2);
// A request without a body watches its client only once it has run this long:
// the short ones, nearly all, pay nothing for it.
constexpr auto kWatchClientAfter = std::chrono::milliseconds(500);

bool idempotent(http::verb v) {
  // RFC 9110 §9.2.2
  return v == http::verb::get || v == http::verb::head || v == http::verb::options ||
         v == http::verb::trace || v == http::verb::put || v == http::verb::delete_;
}

// One FastCGI request on one connection to an instance.
class fcgi_run {
 public:
  using socket = fastcgi_pool::socket;
  fcgi_run(exchange& ex, socket& sock, int spool_fd, bool empty_body, std::string script,
           std::string pool)
      : ex_(ex),
        sock_(sock),
        spool_fd_(spool_fd),
        empty_body_(empty_body),
        script_(std::move(script)),
        pool_(std::move(pool)),
        relay_(ex, script_, false) {
    decoder_.begin(kRequestId);
  }

  // Sends the request and relays the answer until END_REQUEST, the deadline,
  // a failure, or the client leaving (then ABORT_REQUEST, and a short wait
  // for the instance to end the request).
  // `head_records`: BEGIN_REQUEST and PARAMS, encoded.
  asio::awaitable<void> run(const std::string& head_records, clock::time_point deadline) {
    head_ = head_records;  // a member, not a coroutine parameter: g++ 12 mishandles string
                           // parameters of nested coroutines
    asio::steady_timer timer(sock_.get_executor(), deadline);
    if (empty_body_) {
      // The path most requests take, kept free of parallel coroutines: one
      // write, then the reads, which one alarm cuts at the deadline or after
      // kWatchClientAfter to start watching the client.
      co_await send_stdin();
      auto alarm = alarm_ = std::make_shared<alarm_state>();
      alarm->cancel = &read_cancel_;
      const bool watch_later = deadline > clock::now() + kWatchClientAfter;
      timer.expires_at(watch_later ? clock::now() + kWatchClientAfter : deadline);
      timer.async_wait([alarm, watch_later](error_code ec) {
        if (ec || alarm->done) return;
        (watch_later ? alarm->watch : alarm->timed_out) = true;
        alarm->cancel->emit(asio::cancellation_type::terminal);
      });
      cancellable_reads_ = true;
      co_await read_records();
      cancellable_reads_ = false;
      alarm->done = true;
      timer.cancel();
      timed_out_ = alarm->timed_out;
      if (ended_ || timed_out_ || !failure_.empty()) co_return;
      // A slow request: from now on the client is watched.
      timer.expires_at(deadline);
      co_await ((read_records() || watch_client()) || wait_timeout(timer));
    } else {
      co_await ((read_records() || send_stdin_then_watch()) || wait_timeout(timer));
    }
    if (!client_left_ || ended_ || timed_out_ || !failure_.empty()) co_return;
    std::string abort;
    fcgi::append_abort_request(abort, kRequestId);
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(abort), nothrow);
    if (ec) co_return;
    timer.expires_after(kAbortGrace);
    co_await (read_records() || wait_timeout(timer));
  }

  // Called once, when END_REQUEST ends a clean exchange (our STDIN sent whole,
  // nothing after END_REQUEST): the socket is not touched after it.
  void on_clean_end(std::function<void()> f) { on_clean_end_ = std::move(f); }

  bool timed_out() const { return timed_out_; }
  bool client_left() const { return client_left_; }
  bool stdin_done() const { return stdin_done_; }
  bool clean_end() const { return clean_end_; }  // END_REQUEST was the last byte read
  bool ended() const { return ended_; }          // END_REQUEST arrived
  bool got_bytes() const { return got_bytes_; }  // anything came from the instance
  bool reset() const { return reset_; }          // the connection was reset (not an orderly end)
  const std::string& failure() const { return failure_; }
  response_relay& relay() { return relay_; }

 private:
  asio::awaitable<void> wait_timeout(asio::steady_timer& timer) {
    auto [ec] = co_await timer.async_wait(nothrow);
    if (!ec) timed_out_ = true;
  }

  // What the alarm of run()'s plain path may touch, even after run() ended.
  struct alarm_state {
    bool done = false;
    bool watch = false;
    bool timed_out = false;
    asio::cancellation_signal* cancel = nullptr;
  };

  // Ends only when the client leaves: the request is then aborted.
  asio::awaitable<void> watch_client() {
    bool gone = co_await ex_.client_gone();
    if (gone) client_left_ = true;
  }

  // Ends only when the client leaves: the request is then aborted.
  asio::awaitable<void> send_stdin_then_watch() {
    bool sent = co_await send_stdin();
    if (!sent) {
      client_left_ = true;
      co_return;
    }
    bool gone = co_await ex_.client_gone();
    if (gone) client_left_ = true;
  }

  // BEGIN_REQUEST and PARAMS, then the body as STDIN records, then the empty
  // one (in the same write when there is no body: one wake-up of the
  // instance, not two). False when the client's body stopped coming.
  asio::awaitable<bool> send_stdin() {
    if (empty_body_) fcgi::append_stream_end(head_, fcgi::record_type::stdin_stream, kRequestId);
    // Nearly always the records fit the socket buffer: written at once, with no
    // round trip through the scheduler; async only for what is left.
    error_code ec;
    std::size_t done = 0;
    if (!sock_.non_blocking()) sock_.non_blocking(true, ec);  // kept with the connection
    if (!ec) done = sock_.write_some(asio::buffer(head_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    if (!ec && done < head_.size())
      std::tie(ec, std::ignore) = co_await asio::async_write(
          sock_, asio::buffer(head_.data() + done, head_.size() - done), nothrow);
    if (ec || empty_body_) {
      stdin_done_ = !ec;
      co_return true;  // an instance that stopped reading answers or fails: read_records sees which
    }
    const std::size_t chunk = fcgi::kMaxContent - fcgi::kMaxContent % 8;
    auto buf = std::make_unique_for_overwrite<char[]>(chunk);
    std::uint64_t offset = 0;
    std::string out;
    while (true) {
      std::size_t got = 0;
      if (spool_fd_ >= 0) {
        ssize_t r = ::pread(spool_fd_, buf.get(), chunk, static_cast<off_t>(offset));
        got = r > 0 ? static_cast<std::size_t>(r) : 0;
        offset += got;
      } else {
        error_code rec;
        got = co_await ex_.read_body(buf.get(), chunk, rec);
        if (rec) co_return false;
      }
      out.clear();
      if (got == 0) {
        fcgi::append_stream_end(out, fcgi::record_type::stdin_stream, kRequestId);
      } else {
        fcgi::append_stream(out, fcgi::record_type::stdin_stream, kRequestId,
                            std::string_view(buf.get(), got));
      }
      auto [wec, wn] = co_await asio::async_write(sock_, asio::buffer(out), nothrow);
      if (!wec && got == 0) stdin_done_ = true;
      if (wec || got == 0) co_return true;
    }
  }

  // Until END_REQUEST; may be called again after a cancellation (the decoder
  // and what is wanted of STDOUT are kept here).
  asio::awaitable<void> read_records() {
    std::string batch;
    while (!ended_) {
      // The alarm may ring between two reads, when there is no read to cancel.
      if (cancellable_reads_ && (alarm_->watch || alarm_->timed_out)) co_return;
      auto [ec, n] =
          cancellable_reads_
              ? co_await sock_.async_read_some(
                    asio::buffer(buf_.data(), kGatewayBuffer),
                    asio::bind_cancellation_slot(read_cancel_.slot(), nothrow))
              : co_await sock_.async_read_some(asio::buffer(buf_.data(), kGatewayBuffer), nothrow);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        reset_ = ec == asio::error::connection_reset || ec == asio::error::connection_refused;
        failure_ = "the connection to the instance ended before END_REQUEST: " + ec.message();
        break;
      }
      got_bytes_ = true;
      std::string_view in(buf_.data(), n);
      // STDOUT of one read goes on in one piece, with the end when END_REQUEST came with it.
      batch.clear();
      while (!in.empty() && !ended_) {
        fcgi::client_event ev;
        std::error_code pec;
        std::size_t used = decoder_.feed(in, ev, pec);
        in.remove_prefix(used);
        if (pec) {
          failure_ = "FastCGI protocol error: " + pec.message();
          co_return;
        }
        switch (ev.what) {
          case fcgi::client_event::kind::stdout_data:
            if (want_stdout_ && !client_left_) batch.append(ev.data);
            break;
          case fcgi::client_event::kind::stderr_data:
            stderr_partial_.append(ev.data);
            for (std::size_t nl; (nl = stderr_partial_.find('\n')) != std::string::npos;) {
              log_stderr(std::string_view(stderr_partial_).substr(0, nl));
              stderr_partial_.erase(0, nl + 1);
            }
            break;
          case fcgi::client_event::kind::end_request:
            ended_ = true;
            clean_end_ = in.empty();
            // The instance is done: it goes back before the client has the last bytes.
            if (clean_end_ && stdin_done_ && !timed_out_ && on_clean_end_)
              std::exchange(on_clean_end_, {})();
            break;
          default:
            break;
        }
      }
      if (!batch.empty() && want_stdout_)
        want_stdout_ = co_await relay_.feed(batch, ended_ && clean_end_);
    }
    if (!stderr_partial_.empty()) log_stderr(std::exchange(stderr_partial_, {}));
    if (!relay_.client_failed() && !client_left_) relay_.end();
  }

  void log_stderr(std::string_view line) {
    if (++stderr_lines_ > 200) return;
    ex_.log().warn("[pool {}] rid={} {} stderr: {}", pool_, ex_.id().str(), script_,
                   protocol::cgi::escape_excerpt(line, 16 * 1024));
  }

  exchange& ex_;
  socket& sock_;
  int spool_fd_;
  bool empty_body_;
  std::string script_;
  std::string pool_;
  response_relay relay_;
  std::string head_;
  std::function<void()> on_clean_end_;
  asio::cancellation_signal read_cancel_;
  std::shared_ptr<alarm_state> alarm_;
  bool cancellable_reads_ = false;
  fcgi::client_decoder decoder_;
  gateway_buffer buf_;
  std::string stderr_partial_;
  bool want_stdout_ = true;
  bool timed_out_ = false;
  bool client_left_ = false;
  bool ended_ = false;
  bool stdin_done_ = false;
  bool clean_end_ = false;
  bool got_bytes_ = false;
  bool reset_ = false;
  std::string failure_;
  std::size_t stderr_lines_ = 0;
};

// A kept connection the server has not closed (nothing to read, no EOF).
bool still_open(fastcgi_pool::socket& sock) {
  char c;
  ssize_t n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

long long ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
}

}  // namespace

fastcgi_handler::fastcgi_handler(const config::config& cfg, const config::handler& h,
                                 std::shared_ptr<fastcgi_pool> pool,
                                 std::shared_ptr<pool_family> family)
    : cfg_(cfg),
      h_(h),
      single_(std::move(pool)),
      family_(std::move(family)),
      pass_through_(pass_through_environment()) {
  root_fd_ = ::open(cfg.document_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot open document root " + cfg.document_root.string());
  // A remote server runs as an account of its own, unknown here.
  if (single_ && !single_->remote() && !cfg.identity.process.name.empty())
    instance_account_ = spawner::resolve_identity(os_account(cfg.identity.process));
}

fastcgi_handler::~fastcgi_handler() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

asio::awaitable<std::shared_ptr<fastcgi_pool>> fastcgi_handler::pool_for(exchange& ex,
                                                                         const struct stat& st) {
  if (!family_) {
    // impersonate = false: the instances run as the process identity, which
    // must be able to read the script (else the interpreter would answer a
    // vague 404 or 500); logging in would not change that: 403.
    std::string denied;
    if (instance_account_ &&
        !spawner::may_access(*instance_account_, st.st_uid, st.st_gid, st.st_mode, false, denied)) {
      const std::string what = "script " + ex.route().script_name + ": " + denied +
                               " (fastcgi impersonate=false -> the process identity)";
      ex.log().error("[pool {}] rid={} 403 {}", single_->settings().name, ex.id().str(), what);
      co_await ex.send_error(http::status::forbidden, what);
      co_return nullptr;
    }
    co_return single_;
  }
  // impersonate = true: an instance running as the request's account (the
  // decision table), checked like a CGI spawn before any instance is lent.
  const std::string rid = ex.id().str();
  const auto& name = family_->settings().name;
  auto choice = choose_identity(cfg_, config::module_kind::fastcgi, true, true,
                                ex.authenticated_user(), true);
  const std::string tag = "[pool " + name + "]";
  auto id = co_await checked_identity(ex, cfg_, choice, st, false, tag);
  if (!id) co_return nullptr;
  auto pool = family_->for_account(*id);
  if (!pool) {
    co_await ex.send_gateway_error(http::status::service_unavailable,
                                   "pool " + name + ", phase stopping", "the pool is stopping",
                                   "the pool is stopping", std::nullopt);
    co_return nullptr;
  }
  ex.log().debug("[pool {}] rid={} runs as {}: {}", name, rid, id->describe(), choice.why);
  co_return pool;
}

asio::awaitable<void> fastcgi_handler::handle(exchange& ex) {
  const auto started = clock::now();
  const std::string rid = ex.id().str();
  struct stat st {};
  auto script = co_await resolve_script(ex, root_fd_, cfg_, false, &st);
  if (!script) co_return;
  auto pool = co_await pool_for(ex, st);
  if (!pool) co_return;
  const auto deadline = started + pool->settings().request_timeout;
  const std::string& pool_name = pool->settings().name;
  spawner::unique_fd spool;
  auto length = co_await body_length_or_spool(ex, spool);
  if (!length) co_return;
  auto vars = request_variables(ex, cfg_, *script, *length, ex.authenticated_user(), {});
  std::string head_records;
  fcgi::append_begin_request(head_records, kRequestId, fcgi::role::responder, fcgi::kKeepConn);
  fcgi::append_params(head_records, kRequestId, vars);
  // A request refused or reset before any byte of an answer is tried once more
  // on another instance when doing so is safe: idempotent, and its body can be
  // sent again (none, or spooled).
  const bool may_retry = idempotent(ex.request().method()) && (*length == 0 || spool.get() >= 0);
  auto refuse = [&](http::status status, const std::string& phase, const std::string& reason,
                    std::optional<std::chrono::seconds> retry_after) -> asio::awaitable<void> {
    pool->count_response(static_cast<unsigned>(status), status == http::status::gateway_timeout);
    ex.log().warn("[pool {}] rid={} {} phase {}: {}", pool_name, rid, static_cast<unsigned>(status),
                  phase, reason);
    co_await ex.send_gateway_error(status, "pool " + pool_name + ", phase " + phase, reason,
                                   "pool " + pool_name + ", phase " + phase + ": " + reason,
                                   retry_after);
  };

  for (int attempt = 1;; ++attempt) {
    std::optional<fastcgi_pool::refusal> why;
    auto inst = co_await pool->acquire(why, deadline);
    if (!inst) {
      co_await refuse(why->status, why->phase, why->reason, why->retry_after);
      co_return;
    }
    ex.set_identity(pool->remote() ? pool_name + "@" + pool->settings().remote->text
                                   : pool_name + ":" + std::to_string(inst->pid));

    // The connection the instance kept from its last request (moved to this
    // thread when it was kept on another), or a new one.
    auto my_ex = co_await asio::this_coro::executor;
    std::unique_ptr<fastcgi_pool::socket> sock = std::move(inst->kept);
    if (sock && pool->remote() && !still_open(*sock))
      sock.reset();  // the server closed it meanwhile
    error_code cec;
    if (sock && home_of(sock->get_executor()) != home_of(my_ex)) {
      auto proto = pool->protocol();
      int fd = sock->release(cec);
      sock = std::make_unique<fastcgi_pool::socket>(my_ex);
      if (!cec) sock->assign(proto, fd, cec);
      if (cec) sock.reset();
    }
    const bool reused = sock != nullptr;
    std::string connect_error;
    if (!sock) {
      sock = std::make_unique<fastcgi_pool::socket>(my_ex);
      connect_error = co_await pool->connect(*inst, *sock, deadline);
    }
    if (!connect_error.empty()) {
      pool->release(inst, fastcgi_pool::outcome::refused, nullptr);
      const bool timed_out = clock::now() >= deadline;
      if (attempt == 1 && may_retry && !timed_out) {
        ex.log().warn("[pool {}] rid={} connect to {}; trying again", pool_name, rid,
                      connect_error);
        continue;
      }
      co_await refuse(timed_out ? http::status::gateway_timeout : http::status::service_unavailable,
                      "connect", "connect to " + connect_error, std::nullopt);
      co_return;
    }

    fcgi_run run(ex, *sock, spool.get(), *length == 0, ex.route().script_name, pool_name);
    bool released = false;
    run.on_clean_end([&] {
      // Kept for the next request: this one ended cleanly on both sides.
      released = true;
      pool->release(inst, fastcgi_pool::outcome::ok, std::move(sock));
    });
    co_await run.run(head_records, deadline);
    auto& relay = run.relay();
    const auto how = run.ended()                       ? fastcgi_pool::outcome::ok
                     : run.timed_out()                 ? fastcgi_pool::outcome::timed_out
                     : run.client_left()               ? fastcgi_pool::outcome::timed_out
                     : !run.got_bytes() && run.reset() ? fastcgi_pool::outcome::refused
                                                       : fastcgi_pool::outcome::broken;
    if (!released) {
      error_code ignored;
      sock->close(ignored);
      pool->release(inst, how, nullptr);
    }

    // A kept connection the instance closed meanwhile (it exited, or dropped
    // it), or a fresh one reset at once: nothing was answered, so another try is safe.
    if (attempt == 1 && may_retry && !run.got_bytes() &&
        (how == fastcgi_pool::outcome::broken || how == fastcgi_pool::outcome::refused)) {
      ex.log().warn(
          "[pool {}] rid={} instance pid {} {} before answering ({}); trying another instance",
          pool_name, rid, inst->pid, reused ? "closed its kept connection" : "dropped the request",
          run.failure());
      continue;
    }

    auto diagnosis = [&](const std::string& what, std::string_view sep) {
      std::string d = what;
      d += std::string(sep) + "script: " + ex.route().script_name;
      d +=
          std::string(sep) + "instance: pid " + std::to_string(inst->pid) + " of pool " + pool_name;
      auto at = [&](std::optional<clock::time_point> t) {
        return t ? std::to_string(
                       std::chrono::duration_cast<std::chrono::milliseconds>(*t - started)
                           .count()) +
                       "ms"
                 : std::string("-");
      };
      d += std::string(sep) + "times: first byte " + at(relay.first_byte()) + ", headers " +
           at(relay.headers_at());
      return d;
    };
    if (run.client_left()) {
      pool->count_response(499, false);
      ex.log().info("[pool {}] rid={} the client left after {} ms: ABORT_REQUEST sent; {}",
                    pool_name, rid, ms_since(started),
                    run.ended() ? "the instance ended the request"
                                : "the instance did not end the request within " +
                                      std::to_string(kAbortGrace.count()) + " s and was killed");
      co_return;
    }
    if (run.timed_out()) {
      std::string phase = relay.headers_at() ? "body idle" : "response headers";
      std::string what = "no END_REQUEST within request_timeout (" +
                         std::to_string(pool->settings().request_timeout.count()) +
                         " ms); the instance was killed";
      pool->count_response(504, true);
      ex.log().warn("[pool {}] rid={} 504 phase {}: {}", pool_name, rid, phase,
                    diagnosis(what, "; "));
      if (!ex.head_sent())
        co_await ex.send_gateway_error(http::status::gateway_timeout,
                                       "pool " + pool_name + ", phase " + phase, what,
                                       diagnosis(what, "\n"), std::nullopt);
      co_return;
    }
    if (relay.rejected()) {
      std::string what = relay.rejection_text();
      pool->count_response(502, false);
      ex.log().error("[pool {}] rid={} 502 {}", pool_name, rid, diagnosis(what, "; "));
      co_await ex.send_error(http::status::bad_gateway, "the FastCGI application misbehaved",
                             diagnosis(what, "\n"));
      co_return;
    }
    if (relay.client_failed()) {
      pool->count_response(499, false);
      co_return;
    }
    if (!run.ended() || relay.body_short()) {
      std::string what =
          run.failure().empty() ? "body shorter than its Content-Length" : run.failure();
      pool->count_response(502, false);
      ex.log().error("[pool {}] rid={} {}", pool_name, rid, diagnosis(what, "; "));
      if (!ex.head_sent())
        co_await ex.send_error(http::status::bad_gateway, "pool " + pool_name + ": " + what,
                               diagnosis(what, "\n"));
      co_return;  // a started response is cut: the connection closes
    }
    pool->count_response(relay.head().status, false);
    if (relay.head().kind == protocol::cgi::response_kind::local_redirect) {
      co_await ex.redispatch(relay.head().location);
      co_return;
    }
    if (!relay.finished()) {
      error_code ec;
      co_await ex.finish_body(ec);
    }
    co_return;
  }
}

}  // namespace cgihost::host
