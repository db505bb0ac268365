#include "host/fastcgi/fcgi_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "protocol/cgi_response.hpp"

namespace cgihost::host {
namespace {

using namespace asio::experimental::awaitable_operators;
namespace fcgi = protocol::fcgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;

// A request without a body watches its client only once it has run this long:
// the short ones, nearly all, pay nothing for it.
constexpr auto kWatchClientAfter = std::chrono::milliseconds(500);

}  // namespace

fastcgi_pool::outcome outcome_of(const fcgi_end& end) {
  using outcome = fastcgi_pool::outcome;
  if (end.end_request) return outcome::ok;
  if (end.how == ending::timed_out || end.how == ending::client_left) return outcome::timed_out;
  return !end.got_bytes && end.reset ? outcome::refused : outcome::broken;
}

fcgi_exchange::fcgi_exchange(exchange& ex, lease& l, const spawner::spool_file& spool,
                             bool empty_body, std::string script, std::string pool,
                             clock::time_point arrived)
    : ex_(ex),
      lease_(l),
      sock_(l.sock()),
      spool_(spool),
      empty_body_(empty_body),
      script_(std::move(script)),
      pool_(std::move(pool)),
      relay_(ex, script_, false),
      activity_timeout_(l.pool().settings().activity_timeout),
      arrived_(arrived),
      slow_at_(l.pool().settings().slow_request_log.count()
                   ? arrived + l.pool().settings().slow_request_log
                   : clock::time_point::max()),
      alarm_(sock_.get_executor(), [this] {
        (alarm_watches_ ? rang_watch_ : rang_timeout_) = true;
        read_cancel_.emit(asio::cancellation_type::terminal);
      }) {
  decoder_.begin(kFcgiRequestId);
  show_phase();
}

fcgi_end fcgi_exchange::end() const {
  fcgi_end e = end_;
  e.how = client_left_       ? ending::client_left
          : timed_out_       ? ending::timed_out
          : end_.end_request ? ending::complete
                             : ending::broken;
  return e;
}

asio::awaitable<void> fcgi_exchange::run(const std::string& head_records,
                                         clock::time_point deadline) {
  head_ = head_records;  // a member, not a coroutine parameter: g++ 12 mishandles string
                         // parameters of nested coroutines
  asio::steady_timer timer(sock_.get_executor(), deadline);
  if (empty_body_) {
    // The path most requests take, kept free of parallel coroutines (and of
    // a coroutine frame of its own): one write, then the reads, which one
    // alarm cuts at the deadline or after kWatchClientAfter to start
    // watching the client.
    co_await send_stdin();
    // activity_timeout is watched on the slow path: reached sooner than it.
    auto watch_at = clock::now() + kWatchClientAfter;
    if (activity_timeout_.count())
      watch_at = std::min(watch_at, last_activity_ + activity_timeout_);
    watch_at = std::min(watch_at, slow_at_);
    alarm_watches_ = deadline > watch_at;
    alarm_.set(alarm_watches_ ? watch_at : deadline);
    cancellable_reads_ = true;
    co_await read_records();
    cancellable_reads_ = false;
    alarm_.clear();
    timed_out_ = rang_timeout_;
    if (end_.end_request || timed_out_ || !end_.failure.empty()) co_return;
    // A slow request: from now on the client is watched.
    timer.expires_at(deadline);
    co_await ((read_records() || watch_client()) || wait_deadline_or_idle(timer));
  } else {
    co_await ((read_records() || send_stdin_then_watch()) || wait_deadline_or_idle(timer));
  }
  if (!client_left_ || end_.end_request || timed_out_ || !end_.failure.empty()) co_return;
  co_await abort(timer);
}

// ABORT_REQUEST, then a short wait for the instance to end the request.
asio::awaitable<void> fcgi_exchange::abort(asio::steady_timer& timer) {
  std::string abort;
  fcgi::append_abort_request(abort, kFcgiRequestId);
  auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(abort), nothrow);
  if (ec) co_return;
  // After ABORT_REQUEST, the pool's stop_grace before the instance is killed.
  timer.expires_after(lease_.pool().settings().stop_grace);
  co_await (read_records() || wait_timeout(timer));
}

asio::awaitable<void> fcgi_exchange::wait_deadline_or_idle(asio::steady_timer& timer) {
  const auto deadline = timer.expiry();
  while (true) {
    auto at = std::min(deadline, slow_at_);
    if (activity_timeout_.count()) at = std::min(at, last_activity_ + activity_timeout_);
    timer.expires_at(at);
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) co_return;
    const auto now = clock::now();
    if (now >= slow_at_) {
      slow_at_ = clock::time_point::max();
      log_slow(now);
    }
    if (now >= deadline) {
      timed_out_ = true;
      co_return;
    }
    if (activity_timeout_.count() && now - last_activity_ >= activity_timeout_) {
      timed_out_ = true;
      end_.inactive_phase = phase_name(phase());
      co_return;
    }
  }
}

asio::awaitable<void> fcgi_exchange::wait_timeout(asio::steady_timer& timer) {
  auto [ec] = co_await timer.async_wait(nothrow);
  if (!ec) timed_out_ = true;
}

// Ends only when the client leaves: the request is then aborted.
asio::awaitable<void> fcgi_exchange::watch_client() {
  bool gone = co_await ex_.client_gone();
  if (gone) client_left_ = true;
}

// Ends only when the client leaves: the request is then aborted.
asio::awaitable<void> fcgi_exchange::send_stdin_then_watch() {
  bool sent = co_await send_stdin();
  if (!sent) {
    client_left_ = true;
    co_return;
  }
  auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none) co_return;  // END_REQUEST came first
  bool gone = co_await ex_.client_gone();
  if (gone) client_left_ = true;
}

// BEGIN_REQUEST and PARAMS, then the body as STDIN records, then the empty
// one (in the same write when there is no body: one wake-up of the
// instance, not two). False when the client's body stopped coming.
asio::awaitable<bool> fcgi_exchange::send_stdin() {
  if (empty_body_) fcgi::append_stream_end(head_, fcgi::record_type::stdin_stream, kFcgiRequestId);
  // Nearly always the records fit the socket buffer: written at once, with no
  // round trip through the scheduler; async only for what is left.
  error_code ec;
  const std::size_t done = write_now(sock_, asio::buffer(head_), ec);
  if (!ec && done < head_.size())
    std::tie(ec, std::ignore) = co_await asio::async_write(
        sock_, asio::buffer(head_.data() + done, head_.size() - done), nothrow);
  if (ec || empty_body_) {
    stdin_done_ = !ec;
    co_return true;  // an instance that stopped reading answers or fails: read_records sees which
  }
  const std::size_t chunk = fcgi::kMaxContent - fcgi::kMaxContent % 8;
  auto buf = std::make_unique_for_overwrite<char[]>(chunk);
  body_source body(ex_, spool_);
  std::string out;
  while (true) {
    error_code rec;
    const std::size_t got = co_await body.read(buf.get(), chunk, rec);
    // Cancelled: END_REQUEST came first (the script answered without reading
    // it all); the body's rest is the session's to drain, not a client that left.
    if (rec == asio::error::operation_aborted) co_return true;
    if (rec) co_return false;
    out.clear();
    if (got == 0) {
      fcgi::append_stream_end(out, fcgi::record_type::stdin_stream, kFcgiRequestId);
    } else {
      fcgi::append_stream(out, fcgi::record_type::stdin_stream, kFcgiRequestId,
                          std::string_view(buf.get(), got));
    }
    auto [wec, wn] = co_await asio::async_write(sock_, asio::buffer(out), nothrow);
    last_activity_ = clock::now();
    if (!wec && got == 0) {
      stdin_done_ = true;
      show_phase();
    }
    if (wec || got == 0) co_return true;
  }
}

// Until END_REQUEST; may be called again after a cancellation (the decoder
// and what is wanted of STDOUT are kept in the exchange).
asio::awaitable<void> fcgi_exchange::read_records() {
  std::string batch;
  while (!end_.end_request) {
    // The alarm may ring between two reads, when there is no read to cancel.
    if (cancellable_reads_ && (rang_watch_ || rang_timeout_)) co_return;
    auto [ec, n] =
        cancellable_reads_
            ? co_await sock_.async_read_some(
                  asio::buffer(buf_.data(), kGatewayBuffer),
                  asio::bind_cancellation_slot(read_cancel_.slot(), nothrow))
            : co_await sock_.async_read_some(asio::buffer(buf_.data(), kGatewayBuffer), nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      end_.reset = ec == asio::error::connection_reset || ec == asio::error::connection_refused;
      end_.failure = "the connection to the instance ended before END_REQUEST: " + ec.message();
      break;
    }
    end_.got_bytes = true;
    last_activity_ = clock::now();
    // STDOUT of one read goes on in one piece, with the end when END_REQUEST
    // came with it; cut where a STDERR record needs a decision on what went before.
    std::string_view in(buf_.data(), n);
    do {
      batch.clear();
      if (!take_records(in, batch)) co_return;
      if (!batch.empty() && want_stdout_) {
        want_stdout_ = co_await relay_.feed(batch, end_.end_request && clean_end_);
        show_phase();
      }
      if (std::exchange(stderr_check_, false)) stderr_verdict();
    } while (!in.empty() && !end_.end_request);
  }
  if (!stderr_.empty()) log_stderr(stderr_.take_rest());  // empty under stderr_mode = "ignore"
  if (!relay_.client_failed() && !client_left_) relay_.end();
}

bool fcgi_exchange::take_records(std::string_view& in, std::string& batch) {
  while (!in.empty() && !end_.end_request) {
    fcgi::client_event ev;
    std::error_code pec;
    std::size_t used = decoder_.feed(in, ev, pec);
    in.remove_prefix(used);
    if (pec) {
      end_.failure = "FastCGI protocol error: " + pec.message();
      return false;
    }
    switch (ev.what) {
      case fcgi::client_event::kind::stdout_data:
        if (want_stdout_ && !client_left_) batch.append(ev.data);
        break;
      case fcgi::client_event::kind::stderr_data:
        on_stderr(ev.data);
        if (stderr_check_) return true;  // the STDOUT before it goes to the relay first
        break;
      case fcgi::client_event::kind::end_request:
        end_.end_request = true;
        clean_end_ = in.empty();
        // The instance is done: it goes back before the client has the last bytes.
        if (clean_end_ && stdin_done_ && !timed_out_) lease_.keep();
        break;
      default:
        break;
    }
  }
  return true;
}

void fcgi_exchange::on_stderr(std::string_view data) {
  using mode = config::stderr_handling;
  const mode m = lease_.pool().settings().stderr_mode;
  if (m == mode::ignore || data.empty()) return;
  // log_and_500: the first STDERR bytes are judged once the STDOUT before them is relayed.
  if (m == mode::log_and_500 && !std::exchange(stderr_seen_, true)) stderr_check_ = true;
  stderr_.feed(data, [this](std::string_view line, bool) { log_stderr(line); });
}

void fcgi_exchange::log_slow(clock::time_point now) {
  const auto& rq = ex_.request();
  ex_.log().warn(
      "[pool {}] rid={} slow request: pid {} account {} {} {} running for {} ms "
      "(slow_request_log {} ms), phase {}",
      pool_, ex_.id().str(), lease_.instance().pid, lease_.pool().account_name(), rq.method,
      rq.target, std::chrono::duration_cast<std::chrono::milliseconds>(now - arrived_).count(),
      lease_.pool().settings().slow_request_log.count(), phase_name(phase()));
}

void fcgi_exchange::stderr_verdict() {
  // Nothing went to the client yet: the answer is a 500. Else the response stands.
  if (relay_.refuse_for_stderr()) return;
  ex_.log().warn(
      "[pool {}] rid={} {} wrote to stderr after its response began: the response stands "
      "(stderr_mode = \"log_and_500\")",
      pool_, ex_.id().str(), script_);
}

void fcgi_exchange::log_stderr(std::string_view line) {
  if (++stderr_lines_ > 200) return;
  ex_.log().warn("[pool {}] rid={} {} stderr: {}", pool_, ex_.id().str(), script_,
                 protocol::cgi::escape_excerpt(line, 16 * 1024));
}

}  // namespace cgihost::host
