#include "host/fastcgi_pool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <filesystem>

#include "protocol/cgi_response.hpp"
#include "spawner/launch.hpp"

namespace cgihost::host {
namespace {
using namespace asio::experimental::awaitable_operators;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using clock = std::chrono::steady_clock;
namespace http = boost::beast::http;
}  // namespace

struct fastcgi_pool::waiter {
  explicit waiter(const asio::any_io_executor& ex) : ch(ex, 1) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> ch;
  std::shared_ptr<instance> given;
  bool refused = false;
};

std::shared_ptr<fastcgi_pool> fastcgi_pool::create(const config::pool& settings, asio::any_io_executor ex,
                                                   std::shared_ptr<spdlog::logger> log,
                                                   std::optional<spawner::identity> as, std::string document_root,
                                                   std::vector<std::pair<std::string, std::string>> base_env) {
  return std::shared_ptr<fastcgi_pool>(
      new fastcgi_pool(settings, std::move(ex), std::move(log), std::move(as), std::move(document_root), std::move(base_env)));
}

fastcgi_pool::fastcgi_pool(const config::pool& settings, asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log,
                           std::optional<spawner::identity> as, std::string document_root,
                           std::vector<std::pair<std::string, std::string>> base_env)
    : settings_(settings), ex_(std::move(ex)), log_(std::move(log)), as_(std::move(as)),
      document_root_(std::move(document_root)), reaper_timer_(ex_), kill_timer_(ex_) {
  // The instances' environment: the host's pass-through list, the pool's env,
  // and the FastCGI settings of php-cgi unless the pool sets them itself.
  std::map<std::string, std::string> env(base_env.begin(), base_env.end());
  for (const auto& [k, v] : settings.env) env[k] = v;
  if (!env.contains("PHP_FCGI_CHILDREN")) env["PHP_FCGI_CHILDREN"] = "0";  // cgihost is the process manager
  if (!env.contains("PHP_FCGI_MAX_REQUESTS")) env["PHP_FCGI_MAX_REQUESTS"] = std::to_string(settings.max_requests);
  // The program's own request budget: it exits after that many; never send one more.
  budget_ = static_cast<std::uint32_t>(std::strtoul(env["PHP_FCGI_MAX_REQUESTS"].c_str(), nullptr, 10));
  if (settings.max_requests && (budget_ == 0 || settings.max_requests < budget_)) budget_ = settings.max_requests;
  for (const auto& [k, v] : env) env_.push_back(k + "=" + v);

  char tmpl[] = "/tmp/cgihost-fcgi-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::system_error(errno, std::generic_category(), "cannot create the socket folder of pool " + settings.name);
  socket_dir_ = tmpl;
}

fastcgi_pool::~fastcgi_pool() {
  std::error_code ec;
  std::filesystem::remove_all(socket_dir_, ec);
}

std::size_t fastcgi_pool::instance_count() {
  std::lock_guard lock(mu_);
  return instances_.size();
}

std::shared_ptr<fastcgi_pool::instance> fastcgi_pool::spawn_locked(std::string& error) {
  auto inst = std::make_shared<instance>();
  inst->number = next_number_++;
  inst->socket_path = socket_dir_ + "/" + std::to_string(inst->number) + ".sock";
  inst->budget = budget_;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, inst->socket_path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    error = std::string("listening socket: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  spawner::launch_spec spec;
  spec.program = settings_.command[0];
  spec.argv = settings_.command;
  spec.env = env_;
  spec.working_dir = document_root_;
  spec.as = as_;
  spec.stdin_fd = fd;  // FCGI_LISTENSOCK_FILENO
  spec.die_with_parent = true;
  spawner::launch_error lerr;
  auto launched = spawner::launch(spec, lerr);
  ::close(fd);  // the instance has its own copy; we connect by path
  if (!launched) {
    ::unlink(inst->socket_path.c_str());
    error = lerr.message();
    return nullptr;
  }
  inst->pid = launched->pid;
  inst->child = std::make_unique<spawner::child>(ex_, *launched);
  inst->st = state::busy;
  instances_.push_back(inst);
  log_->info("[pool {}] started instance {} pid {} ({} running)", settings_.name, inst->number, inst->pid,
             instances_.size());
  // Posted, never run inline: both take mu_, which the caller holds.
  bool start_reaper = !reaper_started_;
  reaper_started_ = true;
  asio::post(ex_, [self = shared_from_this(), inst, start_reaper] {
    asio::co_spawn(self->ex_, self->watch(inst), asio::detached);
    if (start_reaper) asio::co_spawn(self->ex_, self->idle_reaper(), asio::detached);
  });
  return inst;
}

asio::awaitable<void> fastcgi_pool::watch(std::shared_ptr<instance> inst) {
  auto self = shared_from_this();
  auto& child = *inst->child;
  // Whatever the program writes outside FastCGI goes to the log.
  auto drain = [&](asio::posix::stream_descriptor& pipe, const char* name) -> asio::awaitable<void> {
    char buf[4096];
    std::string partial;
    while (true) {
      auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buf), nothrow);
      if (ec) break;
      partial.append(buf, n);
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        log_->warn("[pool {}] pid {} {}: {}", settings_.name, inst->pid, name,
                   protocol::cgi::escape_excerpt(std::string_view(partial).substr(0, nl), 16 * 1024));
        partial.erase(0, nl + 1);
      }
      if (partial.size() > 16 * 1024) partial.clear();
    }
  };
  co_await (drain(child.stdout_pipe(), "stdout") && drain(child.stderr_pipe(), "stderr"));
  spawner::exit_status status = co_await child.wait();
  std::lock_guard lock(mu_);
  bool expected = stopping_ || inst->st == state::draining;
  if (expected)
    log_->info("[pool {}] instance {} pid {} ended ({}) after {} requests", settings_.name, inst->number, inst->pid,
               status.describe(), inst->served);
  else
    log_->warn("[pool {}] instance {} pid {} died ({}) after {} requests while {}", settings_.name, inst->number,
               inst->pid, status.describe(), inst->served, inst->st == state::busy ? "busy" : "idle");
  inst->st = state::dead;
  if (inst->kept_fd >= 0) ::close(std::exchange(inst->kept_fd, -1));
  ::unlink(inst->socket_path.c_str());
  instances_.erase(std::remove(instances_.begin(), instances_.end(), inst), instances_.end());
  if (stopping_ && instances_.empty()) kill_timer_.cancel();  // all reaped: no KILL needed
  // Its place is free: a waiting request gets a new instance.
  if (!stopping_ && !queue_.empty()) {
    std::string error;
    if (auto fresh = spawn_locked(error)) hand_over_locked(fresh);
  }
}

asio::awaitable<void> fastcgi_pool::idle_reaper() {
  auto self = shared_from_this();
  const auto tick = std::max<std::chrono::milliseconds>(settings_.idle_timeout / 4, std::chrono::milliseconds(100));
  auto& timer = reaper_timer_;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) co_return;
      auto now = clock::now();
      for (auto& inst : instances_) {
        if (inst->st == state::idle && now - inst->idle_since >= settings_.idle_timeout) {
          end_locked(*inst, SIGTERM);
          log_->info("[pool {}] instance {} pid {} idle for {} ms: ending it", settings_.name, inst->number,
                     inst->pid, settings_.idle_timeout.count());
        }
      }
    }
    timer.expires_after(tick);
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) co_return;
  }
}

void fastcgi_pool::hand_over_locked(const std::shared_ptr<instance>& inst) {
  while (!queue_.empty()) {
    auto w = queue_.front();
    queue_.pop_front();
    w->given = inst;
    inst->st = state::busy;
    if (w->ch.try_send(boost::system::error_code{})) return;
    w->given.reset();  // that waiter is gone
  }
  inst->st = state::idle;
  inst->idle_since = clock::now();
}

asio::awaitable<std::shared_ptr<fastcgi_pool::instance>> fastcgi_pool::acquire(std::optional<refusal>& why) {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      why = refusal{http::status::service_unavailable, "stopping", "the pool is stopping"};
      co_return nullptr;
    }
    for (auto& inst : instances_) {
      if (inst->st == state::idle) {
        inst->st = state::busy;
        co_return inst;
      }
    }
    auto live = std::count_if(instances_.begin(), instances_.end(),
                              [](auto& i) { return i->st == state::idle || i->st == state::busy; });
    if (static_cast<std::uint32_t>(live) < settings_.max_instances) {
      std::string error;
      if (auto inst = spawn_locked(error)) co_return inst;
      log_->error("[pool {}] cannot start {}: {}", settings_.name, settings_.command[0], error);
      why = refusal{http::status::bad_gateway, "spawn", "cannot start " + settings_.command[0] + ": " + error};
      co_return nullptr;
    }
    if (queue_.size() >= settings_.queue_length) {
      why = refusal{http::status::service_unavailable, "queue wait",
                    "all " + std::to_string(settings_.max_instances) + " instances busy and " +
                        std::to_string(queue_.size()) + " requests queued (queue_length)"};
      co_return nullptr;
    }
    w = std::make_shared<waiter>(ex);
    queue_.push_back(w);
  }
  asio::steady_timer timer(ex, settings_.request_timeout);
  co_await (w->ch.async_receive(nothrow) || timer.async_wait(nothrow));
  std::lock_guard lock(mu_);
  if (w->given) co_return w->given;
  queue_.erase(std::remove(queue_.begin(), queue_.end(), w), queue_.end());
  why = w->refused ? refusal{http::status::service_unavailable, "stopping", "the pool is stopping"}
                   : refusal{http::status::gateway_timeout, "queue wait",
                             "no instance free within request_timeout (" +
                                 std::to_string(settings_.request_timeout.count()) + " ms)"};
  co_return nullptr;
}

void fastcgi_pool::release(const std::shared_ptr<instance>& inst, bool healthy) {
  std::lock_guard lock(mu_);
  if (inst->st == state::dead) return;
  ++inst->served;
  if (!healthy || stopping_) {
    end_locked(*inst, healthy ? SIGTERM : SIGKILL);
  } else if (inst->budget && inst->served >= inst->budget) {
    // Recycled before it would refuse a request: it exits by itself (its
    // PHP_FCGI_MAX_REQUESTS) or is asked to.
    end_locked(*inst, SIGTERM);
  } else {
    hand_over_locked(inst);
    return;
  }
  if (!queue_.empty()) {
    std::string error;
    if (auto fresh = spawn_locked(error)) hand_over_locked(fresh);
  }
}

void fastcgi_pool::stop(std::chrono::milliseconds grace) {
  std::vector<std::shared_ptr<instance>> live;
  asio::post(ex_, [self = shared_from_this()] { self->reaper_timer_.cancel(); });
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& w : queue_) {
      w->refused = true;
      w->ch.try_send(boost::system::error_code{});
    }
    queue_.clear();
    for (auto& inst : instances_) {
      if (inst->st == state::busy) {
        inst->child->signal_group(SIGTERM);  // its request ends first; the holder closes the connection
      } else {
        end_locked(*inst, SIGTERM);
      }
      live.push_back(inst);
    }
  }
  if (live.empty()) return;
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), live = std::move(live), grace]() -> asio::awaitable<void> {
        bool all_gone;
        {
          std::lock_guard lock(self->mu_);
          all_gone = self->instances_.empty();
        }
        if (all_gone) co_return;
        self->kill_timer_.expires_after(grace);
        auto [ec] = co_await self->kill_timer_.async_wait(nothrow);
        if (ec) co_return;  // every instance ended within the grace period
        std::lock_guard lock(self->mu_);
        for (auto& inst : live)
          if (inst->st != state::dead) inst->child->signal_group(SIGKILL);
      },
      asio::detached);
}

void fastcgi_pool::end_locked(instance& inst, int sig) {
  inst.st = state::draining;
  // A FastCGI program waits on a kept connection even after SIGTERM: close it first.
  if (inst.kept_fd >= 0) ::close(std::exchange(inst.kept_fd, -1));
  inst.child->signal_group(sig);
}

void fastcgi_pool::kill_now() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (auto& inst : instances_) {
    inst->st = state::dead;
    if (inst->kept_fd >= 0) ::close(std::exchange(inst->kept_fd, -1));
    inst->child.reset();  // SIGKILL to the group, then reaped
    ::unlink(inst->socket_path.c_str());
  }
  instances_.clear();
}

}  // namespace cgihost::host
