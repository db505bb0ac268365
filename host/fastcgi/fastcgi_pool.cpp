#include "host/fastcgi/fastcgi_pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

#include "host/fastcgi/instance_socket.hpp"
#include "host/gateway/stderr_lines.hpp"
#include "protocol/cgi_response.hpp"
#include "spawner/broker.hpp"
#include "spawner/launch.hpp"
#include "spawner/this_process.hpp"

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
  std::optional<refusal> why;
};

pool_core::home home_of(const asio::any_io_executor& ex) {
  return reinterpret_cast<pool_core::home>(&asio::query(ex, asio::execution::context));
}

namespace {

pool_limits limits_of(const config::pool& settings, std::uint32_t budget) {
  pool_limits l;
  l.max_instances = settings.max_instances;
  l.min_instances = settings.min_instances;
  l.budget = budget;
  l.idle_timeout = settings.idle_timeout;
  l.queue_length = settings.queue_length;
  l.rapid_fails = settings.rapid_fails_per_minute;
  if (settings.remote) {
    // Connection slots to a server that manages its own processes: no
    // budget, and a failing server is retried by every request, not paused.
    l.max_instances = settings.max_connections;
    l.budget = 0;
    l.rapid_fails = 0;
  } else if (settings.children) {
    // Connection slots to the one instance; its process manager recycles
    // its children (PHP_FCGI_MAX_REQUESTS).
    l.max_instances = settings.children;
    l.budget = 0;
  }
  return l;
}

// The program's own request budget: it exits after that many; never send one more.
std::uint32_t budget_of(const config::pool& settings, std::map<std::string, std::string>& env) {
  if (settings.children)
    env["PHP_FCGI_CHILDREN"] = std::to_string(settings.children);  // php-cgi's own manager
  else if (!env.contains("PHP_FCGI_CHILDREN"))
    env["PHP_FCGI_CHILDREN"] = "0";  // cgihost is the process manager
  if (!env.contains("PHP_FCGI_MAX_REQUESTS"))
    env["PHP_FCGI_MAX_REQUESTS"] = std::to_string(settings.max_requests);
  auto budget =
      static_cast<std::uint32_t>(std::strtoul(env["PHP_FCGI_MAX_REQUESTS"].c_str(), nullptr, 10));
  if (settings.max_requests && (budget == 0 || settings.max_requests < budget))
    budget = settings.max_requests;
  return budget;
}

// The instances' environment: the host's pass-through list, then the pool's env.
std::map<std::string, std::string> env_of(
    const config::pool& settings,
    const std::vector<std::pair<std::string, std::string>>& base_env) {
  std::map<std::string, std::string> env(base_env.begin(), base_env.end());
  for (const auto& [k, v] : settings.env) env[k] = v;
  return env;
}
// The account cgihost runs as, by name (its uid when it has none).
const std::string& own_account_name() {
  static const std::string name = [] {
    const auto self = spawner::current_account();
    return self.name.empty() ? "uid " + std::to_string(self.uid.value) : self.name;
  }();
  return name;
}
}  // namespace

std::shared_ptr<fastcgi_pool> fastcgi_pool::create(
    const config::pool& settings, asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log,
    std::optional<spawner::identity> as, std::string document_root,
    std::vector<std::pair<std::string, std::string>> base_env, spawner::broker* broker,
    bool in_family) {
  auto pool = std::shared_ptr<fastcgi_pool>(
      new fastcgi_pool(settings, std::move(ex), std::move(log), std::move(as),
                       std::move(document_root), std::move(base_env), broker, in_family));
  // min_instances start once the pool's executor runs (after root is dropped).
  if (settings.min_instances && !in_family) asio::post(pool->ex_, [pool] { pool->poke(); });
  return pool;
}

fastcgi_pool::fastcgi_pool(const config::pool& settings, asio::any_io_executor ex,
                           std::shared_ptr<spdlog::logger> log, std::optional<spawner::identity> as,
                           std::string document_root,
                           std::vector<std::pair<std::string, std::string>> base_env,
                           spawner::broker* broker, bool in_family)
    : settings_(settings),
      ex_(std::move(ex)),
      log_(std::move(log)),
      as_(std::move(as)),
      broker_(broker),
      document_root_(std::move(document_root)),
      core_(settings.name, pool_limits{}),
      tick_timer_(ex_),
      kill_timer_(ex_) {
  auto env = env_of(settings, base_env);
  auto limits = limits_of(settings, budget_of(settings, env));
  if (in_family) limits.min_instances = 0;
  core_ = pool_core(settings.name, limits);
  for (const auto& [k, v] : env) env_.push_back(k + "=" + v);
  if (settings.monitor_changes_to) watched_ = stamp_of(*settings.monitor_changes_to);
  // The socket folder is made at the first start, by the account that will
  // connect to it (after privilege separation dropped root, not root).
}

fastcgi_pool::~fastcgi_pool() {
  std::error_code ec;
  if (!socket_dir_.empty()) std::filesystem::remove_all(socket_dir_, ec);
}

std::string fastcgi_pool::account_name() const { return as_ ? as_->name : own_account_name(); }

std::size_t fastcgi_pool::instance_count() {
  std::lock_guard lock(mu_);
  return instances_.size();
}

std::shared_ptr<fastcgi_pool::instance> fastcgi_pool::find_locked(pool_core::id number) {
  for (auto& i : instances_)
    if (i->number == number) return i;
  return nullptr;
}

void fastcgi_pool::run_actions_locked() {
  using kind = pool_core::action::kind;
  for (auto actions = core_.take_actions(); !actions.empty(); actions = core_.take_actions()) {
    for (auto& a : actions) {
      switch (a.what) {
        case kind::spawn:
          spawn_action_locked(a.inst);
          break;
        case kind::lend:
        case kind::refuse: {
          auto it = waiters_.find(a.waiter);
          if (it == waiters_.end()) {
            if (a.what == kind::lend) core_.returned(a.inst, clock::now());  // that request left
            break;
          }
          auto w = it->second;
          waiters_.erase(it);
          if (a.what == kind::lend) {
            w->given = find_locked(a.inst);
          } else {
            w->why = std::move(a.why);
          }
          w->ch.try_send(boost::system::error_code{});
          break;
        }
        case kind::end: {
          auto inst = find_locked(a.inst);
          if (!inst) break;
          // A FastCGI program waits on a kept connection even after SIGTERM: close it first.
          if (a.close_kept && inst->kept) {
            boost::system::error_code ignored;
            inst->kept->close(ignored);
            inst->kept.reset();
          }
          if (inst->child) {
            if (a.how == pool_core::ending::now)
              inst->child->end_group_now();
            else
              ask_to_end_locked(inst);
          } else if (shared() && !a.close_kept) {
            // A slot busy at a stop: it ends when its request is done (its
            // child must live until then); pool_core ends it again then.
          } else {
            // A connection slot ends with its connection: nothing to reap.
            instances_.erase(std::remove(instances_.begin(), instances_.end(), inst),
                             instances_.end());
            core_.exited(inst->number, "connection closed", clock::now());
            // idle_timeout or a stop (not a failed request, whose child php-cgi replaces).
            if (a.how == pool_core::ending::graceful) end_unused_master_locked();
            if (core_.stopping() && all_gone_locked()) stopped_locked();
          }
          break;
        }
        case kind::log:
          log_->log(static_cast<spdlog::level::level_enum>(a.level), "[pool {}] {}", settings_.name,
                    a.text);
          break;
      }
    }
  }
}

void fastcgi_pool::spawn_action_locked(pool_core::id number) {
  auto family = family_.lock();
  if (family && !family->take()) {
    // Every instance the family may have runs: this request waits
    // while another account's idle one is ended.
    core_.spawn_deferred(number);
    family->make_room(this);
    return;
  }
  std::string error;
  if (family) family->served(this);
  if (spawn_locked(number, error)) {
    core_.started(number, clock::now());
  } else {
    if (family) family->give();
    log_->error("[pool {}] cannot start {}: {}", settings_.name, settings_.command[0], error);
    core_.start_failed(number, error, clock::now(), std::exchange(last_start_logon_, false));
  }
}

void fastcgi_pool::start_ticker_locked() {
  if (std::exchange(ticker_started_, true)) return;
  // Posted, never run inline: it takes mu_, which the caller holds.
  asio::post(ex_, [self = shared_from_this()] {
    asio::co_spawn(self->ex_, self->ticker(), asio::detached);
  });
}

bool fastcgi_pool::spawn_locked(pool_core::id number, std::string& error) {
  auto inst = std::make_shared<instance>();
  inst->number = number;
  inst->started_at = std::chrono::system_clock::now();
  if (remote() || shared()) {
    if (shared() && !master_ && !start_master_locked(number, error)) return false;
    if (master_) {
      inst->socket_path = master_->socket_path;
      inst->pid = master_->pid;
    }
    instances_.push_back(inst);
    start_ticker_locked();
    return true;
  }
  if (!launch_locked(*inst, std::to_string(number), error)) return false;
  instances_.push_back(inst);
  log_->info("[pool {}] started instance {} pid {} ({} running)", settings_.name, inst->number,
             inst->pid, instances_.size());
  // Posted, never run inline: it takes mu_, which the caller holds.
  asio::post(ex_, [self = shared_from_this(), inst] {
    asio::co_spawn(self->ex_, self->watch(inst), asio::detached);
  });
  start_ticker_locked();
  return true;
}

bool fastcgi_pool::start_master_locked(pool_core::id number, std::string& error) {
  auto m = std::make_shared<instance>();
  m->number = number;
  m->master = true;
  if (!launch_locked(*m, "m" + std::to_string(number), error)) return false;
  master_ = m;
  masters_.push_back(m);
  log_->info("[pool {}] started instance pid {} with {} children", settings_.name, m->pid,
             settings_.children);
  asio::post(ex_, [self = shared_from_this(), m] {
    asio::co_spawn(self->ex_, self->watch(m), asio::detached);
  });
  return true;
}

void fastcgi_pool::end_unused_master_locked() {
  if (!master_ || !instances_.empty()) return;
  // No slot left (idle_timeout, a stop): the instance and its children end.
  ask_to_end_locked(master_);
  master_.reset();
}

void fastcgi_pool::ask_to_end_locked(const std::shared_ptr<instance>& inst) {
  if (!inst->child || inst->end_timer) return;  // none, or asked already
  // POSIX: SIGTERM to its group. Windows: its shutdown event, which the
  // program sees about once a second (without one, its job ends at once).
  if (!signal_shutdown(inst->shutdown_event)) inst->child->ask_group_to_end();
  // Not gone by the end of stop_grace: its group is ended (IIS
  // signalBeforeTerminateSeconds). watch() cancels the timer at its exit.
  inst->end_timer = std::make_unique<asio::steady_timer>(ex_, settings_.stop_grace);
  inst->end_timer->async_wait([self = shared_from_this(), inst](boost::system::error_code ec) {
    if (ec) return;
    std::lock_guard lock(self->mu_);
    if (!inst->child || inst->child->exited()) return;
    self->log_->warn(
        "[pool {}] pid {} did not exit within {} ms of being asked to end "
        "(stop_grace): killing it",
        self->settings_.name, inst->pid, self->settings_.stop_grace.count());
    inst->child->end_group_now();
  });
}

void fastcgi_pool::forget_locked(instance& inst) {
  if (inst.end_timer) inst.end_timer->cancel();
  forget_instance_socket(inst.socket_path, std::exchange(inst.shutdown_event, spawner::no_handle));
}

void fastcgi_pool::drop_slots_locked(spawner::process_id pid, const std::string& how, bool crash) {
  auto slots = instances_;
  for (auto& slot : slots) {
    if (slot->pid != pid) continue;
    instances_.erase(std::remove(instances_.begin(), instances_.end(), slot), instances_.end());
    core_.exited(slot->number, how, clock::now(), !std::exchange(crash, false));
  }
}

bool fastcgi_pool::launch_locked(instance& inst, const std::string& name, std::string& error) {
  auto listener = listen_for_instance(socket_dir_, name, settings_, error);
  if (!listener) return false;
  inst.socket_path = listener->address;
  inst.shutdown_event = listener->shutdown_event;
  spawner::launch_spec spec;
  spec.program = settings_.command[0];
  spec.argv = settings_.command;
  spec.env = env_;
  give_shutdown_event(*listener, spec);
  spec.working_dir = document_root_;
  spec.as = as_;
  spec.stdin_fd = listener->listener;  // FCGI_LISTENSOCK_FILENO
  spec.die_with_parent = true;
  spec.limits.address_space = settings_.max_address_space;
  spec.limits.cpu_seconds = settings_.max_cpu_seconds;
  spec.limits.open_files = settings_.max_open_files;
  spec.limits.processes = settings_.max_processes;
  spawner::launch_error lerr;
  auto launched = spawner::start_child(broker_, spec, lerr);
  close_listener(*listener);  // the instance has its own copy; we connect by address
  if (!launched) {
    forget_locked(inst);
    error = lerr.message();
    last_start_logon_ = lerr.step == spawner::launch_step::logon;
    return false;
  }
  inst.pid = launched->pid;
  inst.started_at = std::chrono::system_clock::now();
  inst.child = std::make_unique<spawner::child>(ex_, *launched);
  return true;
}

asio::awaitable<void> fastcgi_pool::watch(std::shared_ptr<instance> inst) {
  auto self = shared_from_this();
  auto& child = *inst->child;
  // Whatever the program writes outside FastCGI goes to the log.
  auto drain = [&](spawner::pipe_reader& pipe, const char* name) -> asio::awaitable<void> {
    char buf[4096];
    // A line past 16 KiB without an end is dropped, not logged.
    stderr_lines lines(16 * 1024 + 1);
    auto line = [&](std::string_view l, bool cut) {
      if (!cut)
        log_->warn("[pool {}] pid {} {}: {}", settings_.name, inst->pid, name,
                   protocol::cgi::escape_excerpt(l, 16 * 1024));
    };
    while (true) {
      auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buf), nothrow);
      if (ec) break;
      lines.feed(std::string_view(buf, n), line);
    }
  };
  co_await (drain(child.stdout_pipe(), "stdout") && drain(child.stderr_pipe(), "stderr"));
  spawner::exit_status status = co_await child.wait();
  std::lock_guard lock(mu_);
  if (inst->master) {
    master_exited_locked(inst, status);
    co_return;
  }
  std::uint32_t served = 0;
  bool expected = core_.stopping();
  for (auto& v : core_.instances()) {
    if (v.inst != inst->number) continue;
    served = v.served;
    expected = expected || v.st == pool_core::state::draining;
  }
  if (expected)
    log_->info("[pool {}] instance {} pid {} ended ({}) after {} requests", settings_.name,
               inst->number, inst->pid, status.describe(), served);
  else
    log_->warn("[pool {}] instance {} pid {} died ({}) after {} requests", settings_.name,
               inst->number, inst->pid, status.describe(), served);
  if (inst->kept) {
    boost::system::error_code ignored;
    inst->kept->close(ignored);
    inst->kept.reset();
  }
  forget_locked(*inst);
  instances_.erase(std::remove(instances_.begin(), instances_.end(), inst), instances_.end());
  if (auto family = family_.lock()) family->give();
  core_.exited(inst->number, "pid " + std::to_string(inst->pid) + " " + status.describe(),
               clock::now());
  run_actions_locked();
  if (core_.stopping() && instances_.empty()) stopped_locked();
}

void fastcgi_pool::master_exited_locked(const std::shared_ptr<instance>& m,
                                        const spawner::exit_status& status) {
  masters_.erase(std::remove(masters_.begin(), masters_.end(), m), masters_.end());
  // Asked to end: no longer the current one (no slot left, a timeout, a stop).
  const bool expected = core_.stopping() || master_ != m;
  if (master_ == m) master_.reset();
  if (expected)
    log_->info("[pool {}] instance pid {} ended ({})", settings_.name, m->pid, status.describe());
  else
    log_->warn("[pool {}] instance pid {} died ({}) with its {} children", settings_.name, m->pid,
               status.describe(), settings_.children);
  forget_locked(*m);
  // Its slots go; a death counts as one crash.
  drop_slots_locked(m->pid, "pid " + std::to_string(m->pid) + " " + status.describe(), !expected);
  run_actions_locked();
  if (core_.stopping() && all_gone_locked()) stopped_locked();
}

asio::awaitable<void> fastcgi_pool::ticker() {
  auto self = shared_from_this();
  // Often enough for idle_timeout and for a back-off that runs out while requests are queued.
  const auto period = std::clamp<std::chrono::milliseconds>(
      settings_.idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::seconds(1));
  while (true) {
    auto next = clock::now() + period;
    {
      std::lock_guard lock(mu_);
      if (core_.stopping()) co_return;
      if (core_.retired() && all_gone_locked() && core_.queued() == 0) {
        ticker_started_ = false;  // a late request of the old config starts it again
        co_return;
      }
      auto now = clock::now();
      look_at_watched_locked();
      core_.tick(now);
      run_actions_locked();
      // A request that waited for room may have left meanwhile: stop asking for it.
      if (auto family = family_.lock(); family && core_.queued() == 0) family->served(this);
      if (auto held = core_.spawn_held_until(now); held && *held < next) next = *held;
    }
    tick_timer_.expires_at(next);
    auto [ec] = co_await tick_timer_.async_wait(nothrow);
    if (ec) co_return;
  }
}

asio::awaitable<std::shared_ptr<fastcgi_pool::instance>> fastcgi_pool::acquire(
    std::optional<refusal>& why, clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<waiter> w;
  pool_core::id wid;
  {
    std::lock_guard lock(mu_);
    wid = next_waiter_++;
    auto ans = core_.want(wid, home_of(ex), clock::now());
    if (ans.inst) co_return find_locked(ans.inst);
    if (ans.refused) {
      why = std::move(ans.refused);
      co_return nullptr;
    }
    w = std::make_shared<waiter>(ex);
    waiters_.emplace(wid, w);
    run_actions_locked();  // a spawn for this request usually lends it at once
  }
  // If this coroutine is destroyed while it waits (the server is torn down),
  // the pool must not keep lending to it.
  struct leave_guard {
    fastcgi_pool* pool;
    pool_core::id wid;
    std::shared_ptr<waiter> w;
    bool done = false;
    ~leave_guard() {
      if (done) return;
      std::lock_guard lock(pool->mu_);
      pool->waiters_.erase(wid);
      pool->core_.waiter_gone(wid, false, clock::now());
      if (w->given) pool->core_.returned(w->given->number, clock::now());
      pool->run_actions_locked();
    }
  } guard{this, wid, w};
  if (!w->given && !w->why) {
    asio::steady_timer timer(ex, deadline);
    co_await (w->ch.async_receive(nothrow) || timer.async_wait(nothrow));
  }
  std::lock_guard lock(mu_);
  guard.done = true;
  if (!w->given && !w->why) {
    waiters_.erase(wid);
    core_.waiter_gone(wid, true, clock::now());
    run_actions_locked();
    if (!w->why)
      w->why = refusal{http::status::gateway_timeout,
                       "queue wait",
                       "no instance free within request_timeout",
                       {}};
  }
  if (w->given) co_return w->given;
  why = std::move(w->why);
  co_return nullptr;
}

void fastcgi_pool::release(const std::shared_ptr<instance>& inst, outcome how,
                           std::unique_ptr<socket> kept) {
  std::lock_guard lock(mu_);
  pool_core::home kept_on = 0;
  if (kept && how == outcome::ok) {
    kept_on = home_of(kept->get_executor());
    inst->kept = std::move(kept);
  }
  // In a family, an account holding more than its share gives room back to
  // an account that waits for one (no account starves another).
  bool yield = false;
  if (auto family = family_.lock()) yield = family->should_yield(this, core_.instances().size());
  if (shared()) {
    // Never kept: the next connection may be accepted by any child, while
    // this one's child may be at its last request (PHP_FCGI_MAX_REQUESTS).
    if (inst->kept) inst->kept.reset();
    kept_on = 0;
  }
  std::shared_ptr<instance> killed;
  if (shared() && how == outcome::timed_out && master_ && master_->pid == inst->pid) {
    // Which child holds the request cannot be told: the instance and all its
    // children are killed, and the next request starts a new one.
    log_->warn("[pool {}] a request timed out: killing instance pid {} and its children",
               settings_.name, master_->pid);
    killed = std::exchange(master_, nullptr);
    killed->child->end_group_now();
  }
  core_.released(inst->number, how, kept_on, clock::now(), yield);
  run_actions_locked();
  if (killed) {
    drop_slots_locked(killed->pid, "killed", false);
    run_actions_locked();
  }
}

asio::awaitable<std::optional<std::string>> fastcgi_pool::connect(const instance& inst,
                                                                  socket& sock,
                                                                  clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, deadline);
  if (!remote()) {
    auto ec = co_await connect_instance(sock, inst.socket_path, timer);
    if (!ec) co_return std::nullopt;
    co_return "instance pid " + std::to_string(inst.pid) + ": " + ec.message();
  }
  auto& s = socket_of(sock);
  auto attempt = [&](const asio::generic::stream_protocol::endpoint& ep)
      -> asio::awaitable<boost::system::error_code> {
    boost::system::error_code ec;
    if (s.is_open()) s.close(ec);
    auto r = co_await (s.async_connect(ep, nothrow) || timer.async_wait(nothrow));
    if (r.index() == 1) co_return asio::error::timed_out;
    co_return std::get<0>(std::get<0>(r));
  };
  const auto& to = *settings_.remote;
  if (!to.unix_path.empty()) {
#if defined(BOOST_ASIO_HAS_LOCAL_SOCKETS)
    auto ec = co_await attempt(asio::local::stream_protocol::endpoint(to.unix_path));
    if (!ec) co_return std::nullopt;
    co_return to.text + ": " + ec.message();
#else
    co_return to.text + ": Unix sockets are not available on this platform";
#endif
  }
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, found] = co_await resolver.async_resolve(to.host, std::to_string(to.port), nothrow);
  if (rec) co_return to.text + ": cannot resolve " + to.host + ": " + rec.message();
  std::string errors;
  for (const auto& entry : found) {
    auto ec = co_await attempt(entry.endpoint());
    if (!ec) {
      addr_family_.store(entry.endpoint().protocol().family(), std::memory_order_relaxed);
      boost::system::error_code ignored;
      s.set_option(asio::ip::tcp::no_delay(true), ignored);
      co_return std::nullopt;
    }
    errors +=
        (errors.empty() ? "" : "; ") + entry.endpoint().address().to_string() + ": " + ec.message();
    if (ec == asio::error::timed_out) break;
  }
  co_return to.text + ": " + (errors.empty() ? std::string("no address") : errors);
}

bool fastcgi_pool::end_one_idle() {
  std::lock_guard lock(mu_);
  bool ended = core_.end_one_idle(clock::now());
  run_actions_locked();
  return ended;
}

void fastcgi_pool::poke() {
  std::lock_guard lock(mu_);
  if (core_.stopping()) return;
  core_.tick(clock::now());
  run_actions_locked();
  if (auto family = family_.lock(); family && core_.queued() == 0) family->served(this);
}

void fastcgi_pool::count_response(unsigned status, bool timed_out) {
  accepted_.fetch_add(1, std::memory_order_relaxed);
  if (status >= 500) errors_5xx_.fetch_add(1, std::memory_order_relaxed);
  if (timed_out) timeouts_.fetch_add(1, std::memory_order_relaxed);
}

fastcgi_pool::snapshot fastcgi_pool::status() {
  snapshot s;
  s.name = settings_.name;
  s.identity = account_name();
  s.accepted = accepted_.load(std::memory_order_relaxed);
  s.errors_5xx = errors_5xx_.load(std::memory_order_relaxed);
  s.timeouts = timeouts_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  s.queued = core_.queued();
  s.core = core_.counts();
  for (auto& v : core_.instances()) {
    auto inst = find_locked(v.inst);
    if (!inst) continue;  // being started
    s.instances.push_back({v.inst, inst->pid, v.st, v.served, inst->started_at});
  }
  return s;
}

void fastcgi_pool::stop(std::function<void()> done) {
  asio::post(ex_, [self = shared_from_this()] { self->tick_timer_.cancel(); });
  std::vector<std::shared_ptr<instance>> live;
  {
    std::lock_guard lock(mu_);
    if (core_.stopping()) {
      if (done) asio::post(ex_, std::move(done));
      return;
    }
    on_stopped_ = std::move(done);
    core_.stop();
    run_actions_locked();
    end_unused_master_locked();
    live = instances_;
    live.insert(live.end(), masters_.begin(), masters_.end());
    if (all_gone_locked()) stopped_locked();
  }
  if (live.empty()) return;
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), live = std::move(live)]() -> asio::awaitable<void> {
        {
          std::lock_guard lock(self->mu_);
          if (self->all_gone_locked()) co_return;
        }
        self->kill_timer_.expires_after(self->settings_.stop_grace);
        auto [ec] = co_await self->kill_timer_.async_wait(nothrow);
        if (ec) co_return;  // every instance ended within the grace period
        std::lock_guard lock(self->mu_);
        for (auto& inst : self->instances_)
          if (inst->child) inst->child->end_group_now();
        for (auto& m : self->masters_) m->child->end_group_now();
      },
      asio::detached);
}

fastcgi_pool::file_stamp fastcgi_pool::stamp_of(const std::filesystem::path& file) {
  file_stamp s;
  std::error_code ec;
  s.modified = std::filesystem::last_write_time(file, ec);
  if (ec) return s;
  s.size = std::filesystem::file_size(file, ec);
  s.exists = !ec;
  return s;
}

void fastcgi_pool::look_at_watched_locked() {
  if (!watched_ || core_.retired()) return;
  auto now = stamp_of(*settings_.monitor_changes_to);
  if (now == *watched_) return;
  watched_ = now;
  log_->info("[pool {}] {} changed (monitor_changes_to): recycling {} instance(s), each once free",
             settings_.name, settings_.monitor_changes_to->string(), core_.instances().size());
  core_.recycle_all();
}

void fastcgi_pool::retire() {
  std::lock_guard lock(mu_);
  core_.retire();
  run_actions_locked();
  end_unused_master_locked();
}

bool fastcgi_pool::done_retiring() {
  std::lock_guard lock(mu_);
  return core_.retired() && all_gone_locked() && core_.queued() == 0;
}

void fastcgi_pool::stopped_locked() {
  // All reaped: the stop needs no KILL, and whoever waits for it may go on.
  asio::post(ex_, [self = shared_from_this(), done = std::exchange(on_stopped_, {})] {
    self->kill_timer_.cancel();
    if (done) done();
  });
}

void fastcgi_pool::kill_now() {
  std::lock_guard lock(mu_);
  core_.stop();
  core_.take_actions();
  for (auto& inst : instances_) {
    if (inst->kept) {
      boost::system::error_code ignored;
      inst->kept->close(ignored);
      inst->kept.reset();
    }
    inst->child.reset();  // SIGKILL to the group, then reaped
    if (!shared()) forget_locked(*inst);
  }
  instances_.clear();
  for (auto& m : masters_) {
    m->child.reset();  // the instance and its children: SIGKILL to the group
    forget_locked(*m);
  }
  masters_.clear();
  master_.reset();
}

std::function<void()> after_all(std::size_t parts, std::function<void()> done) {
  auto left = std::make_shared<std::atomic<std::size_t>>(parts);
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  return [left, shared_done] {
    if (left->fetch_sub(1) == 1 && *shared_done) (*shared_done)();
  };
}

void stop_all(const std::vector<std::shared_ptr<fastcgi_pool>>& pools, std::function<void()> done) {
  if (pools.empty()) {
    if (done) done();
    return;
  }
  auto one_done = after_all(pools.size(), std::move(done));
  for (auto& p : pools) p->stop(one_done);
}

}  // namespace cgihost::host
