#include "host/fastcgi_handler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "host/gateway.hpp"
#include "host/response_relay.hpp"
#include "protocol/cgi_response.hpp"
#include "protocol/fcgi.hpp"

namespace cgihost::host {
namespace {

using namespace asio::experimental::awaitable_operators;
namespace fcgi = protocol::fcgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;
constexpr std::uint16_t kRequestId = 1;  // one request per connection: php-cgi does not multiplex

// One FastCGI request on one connection to an instance.
class fcgi_run {
 public:
  fcgi_run(exchange& ex, asio::local::stream_protocol::socket& sock, int spool_fd, std::string script, std::string pool)
      : ex_(ex), sock_(sock), spool_fd_(spool_fd), script_(std::move(script)), pool_(std::move(pool)),
        relay_(ex, script_, false) {}

  // Sends the request and relays the answer until END_REQUEST, the timeout or a failure.
  asio::awaitable<void> run(std::string head_records, std::chrono::milliseconds timeout) {
    asio::steady_timer timer(sock_.get_executor(), timeout);
    auto both = [&]() -> asio::awaitable<void> { co_await (read_records() && send_stdin(std::move(head_records))); };
    co_await (both() || wait_timeout(timer));
  }

  bool timed_out() const { return timed_out_; }
  bool stdin_done() const { return stdin_done_; }
  bool clean_end() const { return clean_end_; }  // END_REQUEST was the last byte read
  bool ended() const { return ended_; }  // END_REQUEST arrived
  const std::string& failure() const { return failure_; }
  response_relay& relay() { return relay_; }
  std::uint32_t app_status() const { return app_status_; }

 private:
  asio::awaitable<void> wait_timeout(asio::steady_timer& timer) {
    auto [ec] = co_await timer.async_wait(nothrow);
    if (!ec) timed_out_ = true;
  }

  // BEGIN_REQUEST and PARAMS, then the body as STDIN records, then the empty one.
  asio::awaitable<void> send_stdin(std::string records) {
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(records), nothrow);
    if (ec) co_return;
    auto buf = std::make_unique_for_overwrite<char[]>(fcgi::kMaxContent - fcgi::kMaxContent % 8);
    const std::size_t chunk = fcgi::kMaxContent - fcgi::kMaxContent % 8;
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
        if (rec) co_return;  // the client's body stopped: the application sees a short STDIN
      }
      out.clear();
      if (got == 0) {
        fcgi::append_stream_end(out, fcgi::record_type::stdin_stream, kRequestId);
      } else {
        fcgi::append_stream(out, fcgi::record_type::stdin_stream, kRequestId, std::string_view(buf.get(), got));
      }
      auto [wec, wn] = co_await asio::async_write(sock_, asio::buffer(out), nothrow);
      if (!wec && got == 0) stdin_done_ = true;
      if (wec || got == 0) co_return;  // an application that answered early stops reading: fine
    }
  }

  asio::awaitable<void> read_records() {
    fcgi::client_decoder decoder;
    decoder.begin(kRequestId);
    auto buf = std::make_unique_for_overwrite<char[]>(kGatewayBuffer);
    std::string stderr_partial;
    std::string batch;
    bool want_stdout = true;
    while (!ended_) {
      auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf.get(), kGatewayBuffer), nothrow);
      if (ec) {
        if (!ended_) failure_ = "the connection to the instance ended before END_REQUEST: " + ec.message();
        break;
      }
      std::string_view in(buf.get(), n);
      // STDOUT of one read goes on in one piece, with the end when END_REQUEST came with it.
      batch.clear();
      while (!in.empty() && !ended_) {
        fcgi::client_event ev;
        std::error_code pec;
        std::size_t used = decoder.feed(in, ev, pec);
        in.remove_prefix(used);
        if (pec) {
          failure_ = "FastCGI protocol error: " + pec.message();
          co_return;
        }
        switch (ev.what) {
          case fcgi::client_event::kind::stdout_data:
            if (want_stdout) batch.append(ev.data);
            break;
          case fcgi::client_event::kind::stderr_data:
            stderr_partial.append(ev.data);
            for (std::size_t nl; (nl = stderr_partial.find('\n')) != std::string::npos;) {
              log_stderr(std::string_view(stderr_partial).substr(0, nl));
              stderr_partial.erase(0, nl + 1);
            }
            break;
          case fcgi::client_event::kind::end_request:
            ended_ = true;
            app_status_ = ev.app_status;
            clean_end_ = in.empty();
            break;
          default: break;
        }
      }
      if (!batch.empty() && want_stdout) want_stdout = co_await relay_.feed(batch, ended_ && clean_end_);
    }
    if (!stderr_partial.empty()) log_stderr(stderr_partial);
    if (!relay_.client_failed()) relay_.end();
  }

  void log_stderr(std::string_view line) {
    if (++stderr_lines_ > 200) return;
    ex_.log().warn("[pool {}] rid={} {} stderr: {}", pool_, ex_.id().str(), script_,
                   protocol::cgi::escape_excerpt(line, 16 * 1024));
  }

  exchange& ex_;
  asio::local::stream_protocol::socket& sock_;
  int spool_fd_;
  std::string script_;
  std::string pool_;
  response_relay relay_;
  bool timed_out_ = false;
  bool ended_ = false;
  bool stdin_done_ = false;
  bool clean_end_ = false;
  std::uint32_t app_status_ = 0;
  std::string failure_;
  std::size_t stderr_lines_ = 0;
};

}  // namespace

fastcgi_handler::fastcgi_handler(const config::config& cfg, const config::handler& h,
                                 std::shared_ptr<fastcgi_pool> pool)
    : cfg_(cfg), h_(h), pool_(std::move(pool)), pass_through_(pass_through_environment()) {
  root_fd_ = ::open(cfg.document_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "cannot open document root " + cfg.document_root.string());
}

fastcgi_handler::~fastcgi_handler() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

asio::awaitable<void> fastcgi_handler::handle(exchange& ex) {
  const auto started = clock::now();
  const std::string rid = ex.id().str();
  const std::string& pool_name = pool_->settings().name;
  auto script = co_await resolve_script(ex, root_fd_, cfg_.document_root.string(), false);
  if (!script) co_return;
  fd_guard spool;
  auto length = co_await body_length_or_spool(ex, spool);
  if (!length) co_return;
  auto vars = request_variables(ex, cfg_, *script, *length, ex.authenticated_user(), {});

  std::optional<fastcgi_pool::refusal> why;
  auto inst = co_await pool_->acquire(why);
  if (!inst) {
    ex.log().warn("[pool {}] rid={} {} {}: {}", pool_name, rid, static_cast<unsigned>(why->status), why->phase,
                  why->reason);
    co_await ex.send_error(why->status, "pool " + pool_name + ", " + why->phase + ": " + why->reason,
                           "pool " + pool_name + ", phase " + why->phase + ": " + why->reason);
    co_return;
  }
  ex.set_identity(pool_name + ":" + std::to_string(inst->pid));

  // The connection the instance kept open from its last request, or a new one.
  asio::local::stream_protocol::socket sock(co_await asio::this_coro::executor);
  error_code cec;
  if (inst->kept_fd >= 0) {
    sock.assign(asio::local::stream_protocol(), std::exchange(inst->kept_fd, -1), cec);
  } else {
    std::tie(cec) = co_await sock.async_connect(asio::local::stream_protocol::endpoint(inst->socket_path), nothrow);
  }
  if (cec) {
    pool_->release(inst, false);
    std::string what = "connect to instance pid " + std::to_string(inst->pid) + ": " + cec.message();
    ex.log().error("[pool {}] rid={} 502 {}", pool_name, rid, what);
    co_await ex.send_error(http::status::bad_gateway, "pool " + pool_name + ", connect: " + what, what);
    co_return;
  }
  std::string head_records;
  fcgi::append_begin_request(head_records, kRequestId, fcgi::role::responder, fcgi::kKeepConn);
  fcgi::append_params(head_records, kRequestId, vars);

  fcgi_run run(ex, sock, spool.fd, ex.route().script_name, pool_name);
  co_await run.run(std::move(head_records), pool_->settings().request_timeout);
  auto& relay = run.relay();
  const bool healthy = run.ended() && !run.timed_out();
  // Kept for the next request only when this one ended cleanly on both sides:
  // END_REQUEST read and our STDIN sent whole, nothing left in between.
  if (healthy && run.stdin_done() && run.clean_end()) {
    inst->kept_fd = sock.release(cec);
    if (cec) inst->kept_fd = -1;
  } else {
    error_code ignored;
    sock.close(ignored);
  }
  pool_->release(inst, healthy);

  auto diagnosis = [&](const std::string& what, std::string_view sep) {
    std::string d = what;
    d += std::string(sep) + "script: " + ex.route().script_name;
    d += std::string(sep) + "instance: pid " + std::to_string(inst->pid) + " of pool " + pool_name;
    auto ms = [&](std::optional<clock::time_point> t) {
      return t ? std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(*t - started).count()) + "ms"
               : std::string("-");
    };
    d += std::string(sep) + "times: first byte " + ms(relay.first_byte()) + ", headers " + ms(relay.headers_at());
    return d;
  };
  if (run.timed_out()) {
    std::string phase = relay.head_complete() ? "body" : "response headers";
    std::string what = "no END_REQUEST within request_timeout (" +
                       std::to_string(pool_->settings().request_timeout.count()) + " ms), phase " + phase +
                       "; the instance was ended";
    ex.log().warn("[pool {}] rid={} 504 {}", pool_name, rid, diagnosis(what, "; "));
    if (!ex.head_sent()) co_await ex.send_error(http::status::gateway_timeout, "pool " + pool_name + ": " + what, diagnosis(what, "\n"));
    co_return;
  }
  if (relay.rejected()) {
    std::string what = relay.rejection_text();
    ex.log().error("[pool {}] rid={} 502 {}", pool_name, rid, diagnosis(what, "; "));
    co_await ex.send_error(http::status::bad_gateway, "the FastCGI application misbehaved", diagnosis(what, "\n"));
    co_return;
  }
  if (relay.client_failed()) co_return;
  if (!run.ended() || relay.body_short()) {
    std::string what = run.failure().empty() ? "body shorter than its Content-Length" : run.failure();
    ex.log().error("[pool {}] rid={} {}", pool_name, rid, diagnosis(what, "; "));
    if (!ex.head_sent()) co_await ex.send_error(http::status::bad_gateway, "pool " + pool_name + ": " + what, diagnosis(what, "\n"));
    co_return;  // a started response is cut: the connection closes
  }
  if (relay.head().kind == protocol::cgi::response_kind::local_redirect) {
    co_await ex.redispatch(relay.head().location);
    co_return;
  }
  if (!relay.finished()) {
    error_code ec;
    co_await ex.finish_body(ec);
  }
}

}  // namespace cgihost::host
