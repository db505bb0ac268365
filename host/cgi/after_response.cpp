#include "host/cgi/after_response.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "protocol/cgi_response.hpp"

namespace cgihost::host {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kStderrGrace = std::chrono::seconds(1);  // after exit, for the last stderr bytes

}  // namespace

struct after_response::entry {
  entry(const asio::any_io_executor& ex, leftover l)
      : c(std::move(l)), deadline(ex, c.deadline), stderr_grace(ex) {}
  leftover c;
  asio::steady_timer deadline;
  asio::steady_timer stderr_grace;
  std::uint64_t id = 0;
  bool stderr_done = false;
  bool timed_out = false;
  bool stopped = false;  // the deadline was brought nearer by a graceful stop
  spawner::exit_status status;
};

void after_response::adopt(const asio::any_io_executor& ex, leftover c) {
  auto e = std::make_shared<entry>(ex, std::move(c));
  {
    std::lock_guard lock(mu_);
    e->id = ++next_;
    if (stopping_ && stop_by_ < e->c.deadline) {
      e->deadline.expires_at(stop_by_);
      e->stopped = true;
    }
    running_.emplace(e->id, std::make_pair(ex, std::weak_ptr<entry>(e)));
  }
  asio::co_spawn(ex, run_to_end(shared_from_this(), std::move(e)), asio::detached);
}

asio::awaitable<void> after_response::run_to_end(std::shared_ptr<after_response> self,
                                                 std::shared_ptr<entry> e) {
  co_await (wait_for_end(*e) && read_stderr(*e));
  auto& c = e->c;
  const auto after =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - c.answered);
  if (e->stopped && e->timed_out) {
    c.log->warn("[cgi] rid={} {} still ran after its response when the server stopped; ended ({})",
                c.rid, c.script, e->status.describe());
  } else if (e->timed_out) {
    c.log->warn(
        "[cgi] rid={} {} did not end within its timeout ({} ms after its response); its process "
        "group was ended ({})",
        c.rid, c.script, after.count(), e->status.describe());
  } else {
    c.log->info("[cgi] rid={} {} ended {} ms after its response: {}", c.rid, c.script,
                after.count(), e->status.describe());
  }
  c.shown.take_down();
  if (c.limit) std::exchange(c.limit, nullptr)->release();
  self->ended(e->id);
}

asio::awaitable<void> after_response::wait_for_end(entry& e) {
  auto& child = *e.c.child;
  while (!child.exited()) {
    auto first = co_await (child.wait() || e.deadline.async_wait(nothrow));
    if (first.index() == 0) {
      e.status = std::get<0>(first);
      continue;
    }
    auto [ec] = std::get<1>(first);
    if (ec == asio::error::operation_aborted) continue;  // a stop brought the deadline nearer
    e.timed_out = true;
    e.status = co_await child.terminate(e.c.stop_grace);
  }
  if (!e.stderr_done) {
    e.stderr_grace.expires_after(kStderrGrace);
    co_await e.stderr_grace.async_wait(nothrow);
    if (!e.stderr_done) {
      error_code ec;
      child.stderr_pipe().cancel(ec);  // a grandchild may hold it open: stop waiting
    }
  }
}

asio::awaitable<void> after_response::read_stderr(entry& e) {
  auto& c = e.c;
  auto buf = std::make_unique_for_overwrite<char[]>(kGatewayBuffer);
  auto line = [&c](std::string_view l, bool) {
    if (c.ignore_stderr) return;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (++c.stderr_count <= c.stderr_max)
      c.log->warn("[cgi] rid={} {} stderr: {}", c.rid, c.script,
                  protocol::cgi::escape_excerpt(l, 16 * 1024));
  };
  while (true) {
    auto [ec, n] = co_await c.child->stderr_pipe().async_read_some(
        asio::buffer(buf.get(), kGatewayBuffer), nothrow);
    if (ec) break;
    c.lines.feed(std::string_view(buf.get(), n), line);
  }
  if (!c.lines.empty()) line(c.lines.take_rest(), false);
  if (c.stderr_count > c.stderr_max)
    c.log->warn("[cgi] rid={} {}: {} more stderr lines not logged", c.rid, c.script,
                c.stderr_count - c.stderr_max);
  e.stderr_done = true;
  e.stderr_grace.cancel();
}

void after_response::ended(std::uint64_t id) {
  std::function<void()> done;
  {
    std::lock_guard lock(mu_);
    running_.erase(id);
    if (stopping_ && running_.empty()) done = std::exchange(on_stopped_, nullptr);
  }
  if (done) done();
}

void after_response::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  std::vector<std::pair<asio::any_io_executor, std::weak_ptr<entry>>> now;
  const auto by = clock::now() + grace;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stop_by_ = by;
    if (!running_.empty()) {
      on_stopped_ = std::move(done);
      for (const auto& [id, e] : running_) now.push_back(e);
    }
  }
  if (now.empty()) {
    if (done) done();
    return;
  }
  for (auto& [ex, weak] : now) {
    asio::post(ex, [weak, by] {
      auto e = weak.lock();
      if (!e || e->deadline.expiry() <= by) return;
      e->stopped = true;
      e->deadline.expires_at(by);  // cancels the wait: it is taken up again with this deadline
    });
  }
}

void after_response::kill_now() {
  std::lock_guard lock(mu_);
  on_stopped_ = nullptr;
}

std::size_t after_response::running() const {
  std::lock_guard lock(mu_);
  return running_.size();
}

}  // namespace cgihost::host
