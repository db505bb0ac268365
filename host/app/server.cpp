#include "host/app/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>

#include "host/cgi/after_response.hpp"
#include "host/cgi/cgi_handler.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/fastcgi/fastcgi_handler.hpp"
#include "host/fastcgi/fastcgi_pool.hpp"
#include "host/fcgi_front/fcgi_connection.hpp"
#include "host/gateway/gateway.hpp"
#include "host/http/http_session.hpp"
#include "host/static/static_handler.hpp"
#include "host/status/status_handler.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Answers for a configured handler whose module is not in this build yet, or
// whose program was not found in dev mode.
class refusing_handler final : public handler {
 public:
  refusing_handler(http::status status, std::string reason)
      : status_(status), reason_(std::move(reason)) {}
  asio::awaitable<void> handle(exchange& ex) override {
    co_await answer(ex, make_refusal(status_, "handler.unavailable", reason_));
  }

 private:
  http::status status_;
  std::string reason_;
};

}  // namespace

void handler_set::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  const std::size_t parts = pools.size() + families.size() + (cgi_after ? 1 : 0);
  if (parts == 0) {
    if (done) done();
    return;
  }
  auto one_done = after_all(parts, std::move(done));
  for (auto& p : pools) p->stop(one_done);
  for (auto& f : families) f->stop(one_done);
  if (cgi_after) cgi_after->stop(grace, one_done);
}

void handler_set::kill_now() {
  if (cgi_after) cgi_after->kill_now();
  for (auto& p : pools) p->kill_now();
  for (auto& f : families) f->kill_now();
}

void handler_set::retire_unshared(const handler_set& next) {
  for (auto& p : pools)
    if (std::find(next.pools.begin(), next.pools.end(), p) == next.pools.end()) p->retire();
  for (auto& f : families)
    if (std::find(next.families.begin(), next.families.end(), f) == next.families.end())
      f->retire();
}

bool handler_set::done_retiring() const {
  for (const auto& p : pools)
    if (!p->done_retiring()) return false;
  for (const auto& f : families)
    if (!f->done_retiring()) return false;
  return true;
}

handler& handler_set::for_route(const route& r) {
  if (r.status && status) return *status;
  if (r.handler == nullptr || r.module == config::module_kind::static_files) return *static_files;
  return *configured.at(r.handler);
}

std::vector<spawner::identity> spawn_accounts(const config::config& cfg, std::string& error) {
  std::vector<spawner::identity> out;
  for (const auto& named : config::child_accounts(cfg)) {
    const config::account* a = named.value;
    if (a->name.empty() || a->uid == 0 || a->gid == 0) continue;
    bool seen = false;
    for (const auto& id : out) seen = seen || id.name == a->name;
    if (seen) continue;
    if (auto id = spawner::resolve_identity(os_account(*a)))
      out.push_back(std::move(*id));
    else
      error +=
          (error.empty() ? "" : "; ") + ("the groups of account " + a->name + " cannot be read");
  }
  return out;
}

namespace {

// Whether a location names a process identity other than identity.process:
// then a pool with impersonate = false keeps a pool per account too.
bool other_process_identity(const config::config& cfg) {
  for (const auto& loc : cfg.locations)
    if (loc.process_identity && loc.process_identity->name != cfg.identity.process.name)
      return true;
  return false;
}

// Whether a reload may keep the previous config's pools: their instances
// run in the same folder as the same process identity.
bool same_pool_ground(const config::config& a, const config::config& b) {
  const auto& x = a.identity.process;
  const auto& y = b.identity.process;
  return a.document_root == b.document_root && x.name == y.name && x.uid == y.uid &&
         x.gid == y.gid && x.sid == y.sid;
}

// The pool or family of the previous config whose settings are `settings`, if
// it may be kept.
template <class T>
std::shared_ptr<T> kept(const std::vector<std::shared_ptr<T>>& previous,
                        const config::pool& settings) {
  for (const auto& p : previous)
    if (p->settings() == settings) return p;
  return nullptr;
}

}  // namespace

handler_set make_handlers(const config::config& cfg, asio::any_io_executor pool_executor,
                          std::shared_ptr<spdlog::logger> log, spawner::broker* broker,
                          const handler_origin& origin) {
  handler_set out;
  std::map<std::string, std::shared_ptr<fastcgi_pool>> pools;
  std::map<std::string, std::shared_ptr<pool_family>> families;
  const bool may_keep =
      origin.previous && origin.previous_cfg && same_pool_ground(*origin.previous_cfg, cfg);
  std::optional<spawner::identity> process;
  const bool can_switch = broker || spawner::can_switch_accounts();
  if (can_switch && !cfg.identity.process.name.empty())
    process = spawner::resolve_identity(os_account(cfg.identity.process));
  // As CGI decides whether it may switch: only then are accounts told apart.
  out.static_files = std::make_unique<static_handler>(cfg, can_switch);
  auto cgi_limit =
      cfg.cgi.max_children ? std::make_shared<run_limit>(cfg.cgi.max_children) : nullptr;
  // The same max_children: CGI children of the previous config count against it too.
  if (origin.previous && origin.previous_cfg &&
      origin.previous_cfg->cgi.max_children == cfg.cgi.max_children)
    cgi_limit = origin.previous->cgi_limit;
  out.cgi_limit = cgi_limit;
  // Children of the previous config are listed as long as they run.
  out.cgi_boards = origin.previous && origin.previous->cgi_boards ? origin.previous->cgi_boards
                                                                  : std::make_shared<cgi_board>();
  out.cgi_after = std::make_shared<after_response>();
  for (const auto& h : cfg.handlers) {
    if (h.module == config::module_kind::static_files) continue;
    if (!h.available) {
      out.configured.emplace(
          &h, std::make_unique<refusing_handler>(http::status::service_unavailable,
                                                 h.match + ": " + h.unavailable_reason));
    } else if (h.module == config::module_kind::cgi) {
      out.configured.emplace(&h, std::make_unique<cgi_handler>(cfg, h, broker, cgi_limit,
                                                               out.cgi_after, out.cgi_boards));
    } else if (h.module == config::module_kind::fastcgi && process &&
               (cfg.pools.at(h.pool).impersonate ||
                (!cfg.pools.at(h.pool).remote && other_process_identity(cfg)))) {
      // As root: a pool per account, for impersonate = true or a location's
      // process_identity (a remote server runs as its own account). (Without
      // root there is one account to run as, cgihost's own, and the plain
      // pool below is that.)
      auto& family = families[h.pool];
      if (!family && may_keep) family = kept(origin.previous->families, cfg.pools.at(h.pool));
      if (family) {
        if (std::find(out.families.begin(), out.families.end(), family) == out.families.end())
          out.families.push_back(family);
      } else {
        family = std::make_shared<pool_family>(cfg.pools.at(h.pool), pool_executor, log,
                                               cfg.document_root.string(),
                                               pass_through_environment(), broker);
        out.families.push_back(family);
      }
      out.configured.emplace(&h, std::make_unique<fastcgi_handler>(cfg, h, nullptr, family));
    } else if (h.module == config::module_kind::fastcgi) {
      auto& pool = pools[h.pool];
      if (!pool && may_keep) pool = kept(origin.previous->pools, cfg.pools.at(h.pool));
      if (pool) {
        if (std::find(out.pools.begin(), out.pools.end(), pool) == out.pools.end())
          out.pools.push_back(pool);
      } else {
        pool = fastcgi_pool::create(cfg.pools.at(h.pool), pool_executor, log, process,
                                    cfg.document_root.string(), pass_through_environment(), broker);
        out.pools.push_back(pool);
      }
      out.configured.emplace(&h, std::make_unique<fastcgi_handler>(cfg, h, pool));
    } else {
      out.configured.emplace(&h, std::make_unique<refusing_handler>(
                                     http::status::not_implemented,
                                     std::string("module \"") + config::to_string(h.module) +
                                         "\" is not built in this version"));
    }
  }
  // A location's `script` that no handler's match takes runs as CGI,
  // executing the program itself.
  for (const auto& loc : cfg.locations) {
    if (!loc.script || out.configured.contains(&program_handler())) continue;
    out.configured.emplace(&program_handler(),
                           std::make_unique<cgi_handler>(cfg, program_handler(), broker, cgi_limit,
                                                         nullptr, out.cgi_boards));
  }
  if (cfg.status.path || cfg.status.ping_path)
    out.status = std::make_unique<status_handler>(cfg, out.pools, out.families, origin.facts,
                                                  out.cgi_boards);
  return out;
}

server::server(const config::config& cfg, logs logs, spawner::broker* broker)
    : server(std::shared_ptr<const config::config>(&cfg, [](const config::config*) {}),
             std::move(logs), broker) {}

server::server(std::shared_ptr<const config::config> cfg, logs logs, spawner::broker* broker)
    : logs_(std::move(logs)),
      broker_(broker),
      contexts_([&] {
        unsigned n = cfg->server.threads ? cfg->server.threads
                                         : std::max(1u, std::thread::hardware_concurrency());
        std::vector<std::unique_ptr<asio::io_context>> v;
        for (unsigned i = 0; i < n; ++i) v.push_back(std::make_unique<asio::io_context>(1));
        return v;
      }()),
      control_(asio::make_strand(*contexts_[0])),
      grace_timer_(control_),
      watchdog_timer_(control_) {
  for (auto& c : contexts_) work_.push_back(asio::make_work_guard(*c));
  if (!broker) {
    // The broker is the reaper of orphans when there is one; else this process.
    std::string error;
    reaper_ = spawner::subreaper::start(
        error, [log = logs_.error](spawner::process_id pid, const std::string& comm) {
          log->warn("[spawner] ended pid {} ({}): a child's descendant that outlived its parent",
                    pid, comm);
        });
    if (!reaper_)
      logs_.error->warn("[spawner] {}: processes that children leave behind are not ended", error);
  }
  gen_ = make_generation(std::move(cfg), nullptr);
}

server::~server() {
  destroying_.store(true, std::memory_order_release);
  if (reload_thread_.joinable()) reload_thread_.join();
  close_listeners();
  // Instances a cut-short stop left running die and are reaped here.
  for (auto& g : live_generations()) g->handlers.kill_now();
}

std::shared_ptr<generation> server::make_generation(std::shared_ptr<const config::config> cfg,
                                                    const generation* previous) {
  auto g = std::make_shared<generation>();
  g->number = previous ? previous->number + 1 : 1;
  // Read before root is dropped at start: the network process may not be
  // able to read them after (a reload then fails naming the page).
  g->pages = error_pages::load(*cfg);
  handler_origin origin;
  origin.facts = facts_;
  if (previous) {
    origin.previous = &previous->handlers;
    origin.previous_cfg = previous->cfg.get();
  }
  g->handlers = make_handlers(*cfg, contexts_[0]->get_executor(), logs_.error, broker_, origin);
  g->auth = std::make_unique<authenticator>(*cfg, logs_.error);
  g->dispatch = std::make_unique<dispatcher>(*cfg, g->handlers, g->auth.get());
  g->cfg = std::move(cfg);
  g->view.emplace(served{*g->cfg, g->pages, *g->dispatch});
  return g;
}

std::shared_ptr<generation> server::current_generation() const {
  std::lock_guard lock(gen_mutex_);
  return gen_;
}

std::shared_ptr<const served> server::current() const {
  auto g = current_generation();
  return std::shared_ptr<const served>(g, &*g->view);
}

std::vector<std::shared_ptr<generation>> server::live_generations() {
  std::vector<std::shared_ptr<generation>> out{current_generation()};
  for (auto& w : old_)
    if (auto g = w.lock()) out.push_back(std::move(g));
  return out;
}

bool server::bind(std::string& error) {
  std::vector<std::shared_ptr<listener>> added;
  if (!bind_new(*current_generation()->cfg, added, error)) return false;
  if (!serve_unmatched_passed(added, error)) {
    for (auto& a : added) drop_listener(*a);
    return false;
  }
  listeners_.insert(listeners_.end(), added.begin(), added.end());
  return true;
}

namespace {

std::string listener_key(const config::endpoint& ep, bool fastcgi) {
  return (fastcgi ? "fastcgi " : "http ") + ep.to_string();
}

}  // namespace

bool server::bind_new(const config::config& next, std::vector<std::shared_ptr<listener>>& added,
                      std::string& error) {
  // An address listened on already keeps its socket (with port 0: the port it got).
  auto have = [&](const std::string& key) {
    for (const auto& l : listeners_)
      if (l->key == key) return true;
    return false;
  };
  for (bool fastcgi : {false, true}) {
    for (const auto& ep : fastcgi ? next.fastcgi.listen : next.listen) {
      if (have(listener_key(ep, fastcgi))) continue;
      // A socket systemd passed for this address takes the place of binding it.
      auto from = std::find_if(passed_.begin(), passed_.end(),
                               [&](const passed_socket& p) { return p.serves(ep, fastcgi); });
      std::shared_ptr<listener> l;
      if (from != passed_.end()) {
        l = on_passed(*from, fastcgi, listener_key(ep, fastcgi), error);
        if (l) {
          logs_.error->info("{}listen {}: on the socket systemd passed, {}",
                            fastcgi ? "[fastcgi] " : "", ep.to_string(), from->describe());
          passed_.erase(from);
        }
      } else {
        l = bind_one(next, ep, fastcgi, error);
      }
      if (!l) {
        for (auto& a : added) drop_listener(*a);
        added.clear();
        return false;
      }
      added.push_back(std::move(l));
    }
  }
  return true;
}

std::shared_ptr<server::listener> server::bind_one(const config::config& cfg,
                                                   const config::endpoint& ep, bool fastcgi,
                                                   std::string& error) {
  auto l = std::make_shared<listener>();
  l->fastcgi = fastcgi;
  l->key = listener_key(ep, fastcgi);
  if (ep.is_unix()) {
#ifdef CGIHOST_UNIX_LISTENERS
    auto acc = bind_unix_socket(control_, ep.unix_path,
                                fastcgi ? cfg.fastcgi.socket : cfg.http.socket, l->file, error);
    if (!acc) return nullptr;
    l->local = std::make_unique<asio::local::stream_protocol::acceptor>(std::move(*acc));
    l->unix_path = ep.unix_path;
    return l;
#else
    (void)cfg;
    error = "cannot listen on " + ep.to_string() + ": no Unix sockets here";
    return nullptr;
#endif
  }
  error_code ec;
  auto addr = asio::ip::make_address(ep.address, ec);
  if (ec) {
    error = "cannot listen on " + ep.to_string() + ": " + ec.message();
    return nullptr;
  }
  auto acc = std::make_unique<asio::ip::tcp::acceptor>(control_);
  asio::ip::tcp::endpoint endpoint(addr, ep.port);
  acc->open(endpoint.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acc->bind(endpoint, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + ep.to_string() + ": " + ec.message();
    return nullptr;
  }
  l->tcp = std::move(acc);
  return l;
}

std::shared_ptr<server::listener> server::on_passed(const passed_socket& s, bool fastcgi,
                                                    std::string key, std::string& error) {
  auto l = std::make_shared<listener>();
  l->fastcgi = fastcgi;
  l->key = std::move(key);
#ifdef _WIN32
  (void)s;
  error = "socket activation is not available on Windows";
  return nullptr;
#else
  // The listener owns the fd (closing it leaves systemd's own copy open);
  // drop_listener gives it back.
  const int fd = s.fd;
  error_code ec;
  if (s.tcp) {
    l->tcp = std::make_unique<asio::ip::tcp::acceptor>(control_);
    l->tcp->assign(s.tcp->protocol(), fd, ec);
  } else {
#ifdef CGIHOST_UNIX_LISTENERS
    l->local = std::make_unique<asio::local::stream_protocol::acceptor>(control_);
    l->local->assign(asio::local::stream_protocol(), fd, ec);
    l->unix_path = s.unix_path;
#endif
  }
  if (ec) {
    error = "cannot serve on the socket systemd passed, " + s.describe() + ": " + ec.message();
    return nullptr;
  }
  l->passed = s;
  return l;
#endif
}

bool server::serve_unmatched_passed(std::vector<std::shared_ptr<listener>>& added,
                                    std::string& error) {
  for (auto it = passed_.begin(); it != passed_.end();) {
    const auto front = it->named_front();
    if (!front) {
      error = "systemd passed " + it->describe() +
              ", which no listen or [fastcgi] listen entry of the config names: list its "
              "address there, or name it \"http\" or \"fastcgi\" (FileDescriptorName=) to "
              "serve it on that front";
      return false;
    }
    auto l = on_passed(*it, *front, "systemd " + std::to_string(it->fd), error);
    if (!l) return false;
    l->extra = true;
    logs_.error->info("{}: served for {} although no entry of the config names it", it->describe(),
                      *front ? "FastCGI" : "HTTP");
    added.push_back(std::move(l));
    it = passed_.erase(it);
  }
  return true;
}

std::vector<asio::ip::tcp::endpoint> server::bound() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& l : listeners_) {
    if (!l->tcp || l->fastcgi) continue;
    error_code ec;
    auto ep = l->tcp->local_endpoint(ec);
    if (!ec) out.push_back(ep);
  }
  return out;
}

std::vector<asio::ip::tcp::endpoint> server::bound_fastcgi() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& l : listeners_) {
    if (!l->tcp || !l->fastcgi) continue;
    error_code ec;
    auto ep = l->tcp->local_endpoint(ec);
    if (!ec) out.push_back(ep);
  }
  return out;
}

std::vector<std::string> server::bound_unix() const {
  std::vector<std::string> out;
#ifdef CGIHOST_UNIX_LISTENERS
  for (const auto& l : listeners_)
    if (l->local) out.push_back("unix:" + l->unix_path);
#endif
  return out;
}

void run_context(asio::io_context& ctx, spdlog::logger& log) {
  while (true) {
    try {
      ctx.run();
      return;
    } catch (const std::exception& e) {
      // io_context::run may be called again after a handler threw (Asio's
      // "effect of exceptions thrown from handlers"): the other connections go on.
      log.error("a completion handler threw and was abandoned: {} (a bug: please report it)",
                e.what());
    } catch (...) {
      log.error("a completion handler threw a non-standard exception and was abandoned");
    }
  }
}

void server::run(bool handle_signals) {
  if (handle_signals) {
    catch_signals();
    signals_->async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      logs_.error->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      do_stop();
    });
  }
  if (handle_signals) wait_reopen_signal();
  for (auto& l : listeners_) asio::co_spawn(control_, accept_loop(l), asio::detached);
  if (handle_signals) on_hangup();
  if (notify_ && notify_->watchdog())
    asio::co_spawn(control_, watchdog(*notify_->watchdog() / 2), asio::detached);
  std::vector<std::thread> threads;
  threads.reserve(contexts_.size() - 1);
  for (std::size_t i = 1; i < contexts_.size(); ++i)
    threads.emplace_back([this, i] { run_context(*contexts_[i], *logs_.error); });
  run_context(*contexts_[0], *logs_.error);
  for (auto& t : threads) t.join();
}

void server::catch_signals() {
  // From now on SIGTERM/SIGINT are kept for run(), not fatal.
  if (!signals_) signals_.emplace(control_, SIGTERM, SIGINT);
#ifndef _WIN32
  // SIGUSR1 would end the process: it is caught from now on too.
  if (!reopen_signal_) reopen_signal_.emplace(control_, SIGUSR1);
  // And SIGHUP (a reload), kept until run() waits for it.
  if (!hangup_) hangup_.emplace(control_, SIGHUP);
#endif
}

void server::wait_reopen_signal() {
  if (!reopen_signal_) return;
  reopen_signal_->async_wait([this](const error_code& ec, int) {
    if (ec || stop_started_) return;  // on the control strand, as do_stop
    if (on_reopen_) on_reopen_();
    wait_reopen_signal();
  });
}

asio::awaitable<void> server::watchdog(std::chrono::microseconds every) {
  // Each round posts a no-op to every io context; the next ping goes only
  // when all of them ran it (a thread stuck in a handler stops the pings,
  // and systemd restarts cgihost).
  auto answered = std::make_shared<std::atomic<std::size_t>>(contexts_.size());
  while (true) {
    if (answered->load() == contexts_.size()) notify_->send("WATCHDOG=1");
    answered->store(0);
    for (auto& c : contexts_) asio::post(*c, [answered] { answered->fetch_add(1); });
    watchdog_timer_.expires_after(every);
    auto [ec] = co_await watchdog_timer_.async_wait(nothrow);
    if (ec) co_return;
  }
}

void server::release() {
  watchdog_timer_.cancel();
  // The io threads keep running until every FastCGI instance is reaped: an
  // instance dies with the thread that started it (PR_SET_PDEATHSIG), and
  // must be allowed its own graceful end first.
  auto gens = live_generations();
  auto all_done = after_all(gens.size(), [this] {
    asio::post(control_, [this] {
      for (auto& w : work_) w.reset();
    });
  });
  for (auto& g : gens) g->handlers.stop(std::chrono::seconds(2), all_done);
}

void server::stop() {
  asio::post(control_, [this] { do_stop(); });
}

void server::do_stop() {
  if (stop_started_) return;
  stop_started_ = true;
  stopping_.store(true, std::memory_order_release);
  close_listeners();
  if (signals_) {
    error_code ec;
    signals_->cancel(ec);
  }
  if (hangup_) {
    error_code ec;
    hangup_->cancel(ec);
  }
  if (reopen_signal_) {
    error_code ec;
    reopen_signal_->cancel(ec);
  }
  std::vector<std::function<void()>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [id, c] : sessions_) live.push_back(c.stop);
  }
  const auto grace = current_generation()->cfg->server.grace_period;
  logs_.error->info("stopping: listeners closed, {} connection(s) open, grace period {} ms",
                    live.size(), grace.count());
  if (notify_)
    notify_->send("STOPPING=1\nSTATUS=stopping: " + std::to_string(live.size()) +
                  " connection(s) open, grace period " + std::to_string(grace.count()) + " ms");
  // Each holds its connection only while it runs: a connection must not
  // outlive its last owner under the lock.
  for (auto& stop : live) stop();
  live.clear();
  std::lock_guard lock(sessions_mutex_);
  if (sessions_.empty()) return release();
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    std::size_t left = 0;
    {
      std::lock_guard l(sessions_mutex_);
      left = sessions_.size();
    }
    logs_.error->warn("grace period over: closing {} connection(s) still busy", left);
    release();
    for (auto& c : contexts_) c->stop();
  });
}

void server::session_ended(std::uint64_t id) {
  std::lock_guard lock(sessions_mutex_);
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    fastcgi_connections_ -= it->second.fastcgi ? 1 : 0;
    sessions_.erase(it);
  }
  if (sessions_.empty() && stopping() && !destroying_.load(std::memory_order_acquire)) {
    asio::post(control_, [this] {
      grace_timer_.cancel();
      release();
    });
  }
}

void server::close_listener(listener& l) {
  error_code ec;
  if (l.tcp) l.tcp->close(ec);
#ifdef CGIHOST_UNIX_LISTENERS
  if (l.local) {
    l.local->close(ec);
    if (!l.passed) l.file.remove();  // systemd's socket file is systemd's
  }
#endif
}

void server::drop_listener(listener& l) {
  if (!l.passed) return close_listener(l);
  // Kept open, not accepted on: a later reload may serve it again. (systemd
  // holds the socket open anyway, and connections to it wait.)
  error_code ec;
  int fd = -1;
#ifndef _WIN32  // (nothing is passed there)
  if (l.tcp) fd = l.tcp->release(ec);
#endif
#ifdef CGIHOST_UNIX_LISTENERS
  if (l.local) fd = l.local->release(ec);
#endif
  if (ec || fd < 0) {
    close_listener(l);
    return;
  }
  if (!l.extra)
    logs_.error->warn(
        "{}: its entry is gone from the config, so cgihost no longer accepts on it; systemd "
        "still holds it open: remove it from the socket unit too",
        l.passed->describe());
  l.passed->fd = fd;
  passed_.push_back(*l.passed);
  l.passed.reset();
}

void server::close_listeners() {
  for (auto& l : listeners_) close_listener(*l);
}

bool server::admit_fastcgi(const asio::ip::tcp::endpoint& peer, const error_code& ec) {
  auto a = peer.address();
  if (!ec && a.is_v6() && a.to_v6().is_v4_mapped())
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  const std::string who = ec ? std::string("-") : a.to_string();
  if (ec || !config::address_in(who, current_generation()->cfg->fastcgi.allowed_clients)) {
    logs_.error->warn("[fastcgi] connection from {} refused: not in fastcgi.allowed_clients", who);
    return false;
  }
  std::lock_guard lock(sessions_mutex_);
  if (fastcgi_connections_ >= fcgi_connection::kMaxConnections) {
    logs_.error->warn(
        "[fastcgi] connection from {} refused: {} FastCGI connections open (FCGI_MAX_CONNS)", who,
        fastcgi_connections_);
    return false;
  }
  return true;
}

void server::start_connection(asio::generic::stream_protocol::socket socket, bool fastcgi) {
  auto id = next_session_.fetch_add(1, std::memory_order_relaxed);
  auto ex = socket.get_executor();
  auto spawn = [&](auto conn) {
    {
      std::lock_guard lock(sessions_mutex_);
      std::weak_ptr weak = conn;
      sessions_.emplace(id, live_connection{[weak] {
                                              if (auto c = weak.lock()) c->request_stop();
                                            },
                                            fastcgi});
      fastcgi_connections_ += fastcgi ? 1 : 0;
    }
    asio::co_spawn(
        ex, [c = std::move(conn)]() -> asio::awaitable<void> { co_await c->run(); },
        asio::detached);
  };
  if (fastcgi)
    spawn(std::make_shared<fcgi_connection>(*this, std::move(socket), id));
  else
    spawn(std::make_shared<http_session>(*this, std::move(socket), id));
}

asio::awaitable<void> server::accept_loop(std::shared_ptr<listener> held) {
  listener& l = *held;
  asio::steady_timer backoff(control_);
  while (!stopping() && !l.closed) {
    auto& ctx = *contexts_[next_context_++ % contexts_.size()];
    error_code ec;
    std::optional<asio::generic::stream_protocol::socket> socket;
    if (l.tcp) {
      auto [aec, s] = co_await l.tcp->async_accept(ctx.get_executor(), nothrow);
      ec = aec;
      if (!ec) {
        error_code oec;
        s.set_option(asio::ip::tcp::no_delay(true), oec);
        error_code pec;
        auto peer = s.remote_endpoint(pec);
        if (l.fastcgi && !admit_fastcgi(peer, pec)) continue;  // closed as `s` goes
        socket.emplace(std::move(s));
      }
    }
#ifdef CGIHOST_UNIX_LISTENERS
    else {
      auto [aec, s] = co_await l.local->async_accept(ctx.get_executor(), nothrow);
      ec = aec;
      if (!ec) socket.emplace(std::move(s));
    }
#endif
    if (stopping() || l.closed || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: wait a little instead of spinning on the error.
      logs_.error->warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(nothrow);
      continue;
    }
    start_connection(std::move(*socket), l.fastcgi);
  }
}

// ---- reload

namespace {

// CLOCK_MONOTONIC in microseconds, as systemd's MONOTONIC_USEC= wants it.
std::uint64_t monotonic_usec() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

void server::on_hangup() {
#ifndef _WIN32
  if (!hangup_) hangup_.emplace(control_, SIGHUP);
  hangup_->async_wait([this](const error_code& ec, int) {
    if (ec) return;
    logs_.error->info("received SIGHUP, reloading the config");
    reload();
    on_hangup();
  });
#endif
}

void server::reload() {
  asio::post(control_, [this] {
    if (stop_started_) return;
    if (!config_source_) {
      logs_.error->warn("reload: nothing to read again (no config file): ignored");
      return;
    }
    if (reloading_) {
      reload_again_ = true;  // read once more when this one is done: the file may have changed
      return;
    }
    reloading_ = true;
    if (notify_)
      notify_->send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) +
                    "\nSTATUS=reloading the config");
    if (reload_thread_.joinable()) reload_thread_.join();
    // Read on a thread of its own: a config load reads files and the account
    // database, and asks the spawner; the io threads go on serving.
    reload_thread_ = std::thread([this] {
      std::string errors;
      auto next = config_source_(errors);
      asio::post(control_, [this, next = std::move(next), errors = std::move(errors)]() mutable {
        reloading_ = false;
        if (stop_started_) return;
        std::string why = errors;
        if (next && apply(std::move(next), why)) {
          if (notify_)
            notify_->send("READY=1\nSTATUS=reloaded: generation " +
                          std::to_string(facts_->generation.load()));
        } else {
          reload_failed(why.empty() ? "the config could not be read" : why);
        }
        if (std::exchange(reload_again_, false)) reload();
      });
    });
  });
}

void server::reload_failed(const std::string& why) {
  facts_->reload_failures.fetch_add(1);
  {
    std::lock_guard lock(facts_->mu);
    facts_->last_reload_error = why;
  }
  logs_.error->error("reload failed, the running config stays (generation {}): {}",
                     facts_->generation.load(), why);
  if (notify_)
    notify_->send("READY=1\nSTATUS=reload failed, the running config stays: " +
                  why.substr(0, why.find('\n')));
}

bool server::apply(std::shared_ptr<const config::config> next, std::string& error) {
  auto previous = current_generation();
  std::vector<std::shared_ptr<listener>> added;
  if (!bind_new(*next, added, error)) return false;
  std::shared_ptr<generation> g;
  try {
    g = make_generation(std::move(next), previous.get());
  } catch (const std::exception& e) {
    for (auto& l : added) drop_listener(*l);
    error = e.what();
    return false;
  }
  if (previous->cfg->server.threads != g->cfg->server.threads)
    logs_.error->warn("reload: server.threads applies at the next start, not at a reload");
  if (!(previous->cfg->log == g->cfg->log))
    logs_.error->warn("reload: [log] applies at the next start, not at a reload");
  {
    std::lock_guard lock(gen_mutex_);
    gen_ = g;
  }
  // Requests from now on are the new generation's; the old one ends as its
  // requests end, and its pools that the new one does not share end as their
  // instances become free.
  previous->handlers.retire_unshared(g->handlers);
  std::erase_if(old_, [](const std::weak_ptr<generation>& w) { return w.expired(); });
  old_.push_back(previous);
  // Listeners: the ones the new config no longer names close (their
  // connections go on); the new ones start accepting.
  std::size_t closed = 0, kept = 0;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    bool wanted = (*it)->extra;  // served because systemd passed it: kept
    for (bool fastcgi : {false, true})
      for (const auto& ep : fastcgi ? g->cfg->fastcgi.listen : g->cfg->listen)
        wanted = wanted || listener_key(ep, fastcgi) == (*it)->key;
    if (wanted) {
      ++kept;
      ++it;
      continue;
    }
    (*it)->closed = true;
    drop_listener(**it);
    it = listeners_.erase(it);
    ++closed;
  }
  for (auto& l : added) {
    listeners_.push_back(l);
    asio::co_spawn(control_, accept_loop(l), asio::detached);
  }
  facts_->generation.store(g->number);
  facts_->reloads.fetch_add(1);
  {
    std::lock_guard lock(facts_->mu);
    facts_->last_reload_error.clear();
  }
  std::size_t pools_kept = 0;
  for (const auto& p : g->handlers.pools)
    pools_kept += std::count(previous->handlers.pools.begin(), previous->handlers.pools.end(), p);
  for (const auto& f : g->handlers.families)
    pools_kept +=
        std::count(previous->handlers.families.begin(), previous->handlers.families.end(), f);
  logs_.error->info(
      "reloaded the config: generation {}; listeners: {} kept, {} opened, {} closed; pools: {} "
      "kept, {} new",
      g->number, kept, added.size(), closed, pools_kept,
      g->handlers.pools.size() + g->handlers.families.size() - pools_kept);
  return true;
}

}  // namespace cgihost::host
