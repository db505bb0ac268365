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

}  // namespace

handler_set make_handlers(const config::config& cfg, asio::any_io_executor pool_executor,
                          std::shared_ptr<spdlog::logger> log, spawner::broker* broker) {
  handler_set out;
  std::map<std::string, std::shared_ptr<fastcgi_pool>> pools;
  std::map<std::string, std::shared_ptr<pool_family>> families;
  std::optional<spawner::identity> process;
  const bool can_switch = broker || spawner::can_switch_accounts();
  if (can_switch && !cfg.identity.process.name.empty())
    process = spawner::resolve_identity(os_account(cfg.identity.process));
  // As CGI decides whether it may switch: only then are accounts told apart.
  out.static_files = std::make_unique<static_handler>(cfg, can_switch);
  auto cgi_limit =
      cfg.cgi.max_children ? std::make_shared<run_limit>(cfg.cgi.max_children) : nullptr;
  out.cgi_after = std::make_shared<after_response>();
  for (const auto& h : cfg.handlers) {
    if (h.module == config::module_kind::static_files) continue;
    if (!h.available) {
      out.configured.emplace(
          &h, std::make_unique<refusing_handler>(http::status::service_unavailable,
                                                 h.match + ": " + h.unavailable_reason));
    } else if (h.module == config::module_kind::cgi) {
      out.configured.emplace(
          &h, std::make_unique<cgi_handler>(cfg, h, broker, cgi_limit, out.cgi_after));
    } else if (h.module == config::module_kind::fastcgi && process &&
               (cfg.pools.at(h.pool).impersonate ||
                (!cfg.pools.at(h.pool).remote && other_process_identity(cfg)))) {
      // As root: a pool per account, for impersonate = true or a location's
      // process_identity (a remote server runs as its own account). (Without
      // root there is one account to run as, cgihost's own, and the plain
      // pool below is that.)
      auto& family = families[h.pool];
      if (!family) {
        family = std::make_shared<pool_family>(cfg.pools.at(h.pool), pool_executor, log,
                                               cfg.document_root.string(),
                                               pass_through_environment(), broker);
        out.families.push_back(family);
      }
      out.configured.emplace(&h, std::make_unique<fastcgi_handler>(cfg, h, nullptr, family));
    } else if (h.module == config::module_kind::fastcgi) {
      auto& pool = pools[h.pool];
      if (!pool) {
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
    out.configured.emplace(&program_handler(), std::make_unique<cgi_handler>(cfg, program_handler(),
                                                                             broker, cgi_limit));
  }
  if (cfg.status.path || cfg.status.ping_path)
    out.status = std::make_unique<status_handler>(cfg, out.pools, out.families);
  return out;
}

server::server(const config::config& cfg, logs logs, spawner::broker* broker)
    : cfg_(cfg),
      logs_(std::move(logs)),
      error_pages_(error_pages::load(cfg)),
      contexts_([&] {
        unsigned n = cfg.server.threads ? cfg.server.threads
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
  handlers_ = make_handlers(cfg, contexts_[0]->get_executor(), logs_.error, broker);
  auth_ = std::make_unique<authenticator>(cfg, logs_.error);
  dispatch_ = std::make_unique<dispatcher>(cfg, handlers_, auth_.get());
}

server::~server() {
  destroying_.store(true, std::memory_order_release);
  close_listeners();
  handlers_.kill_now();  // instances a cut-short stop left running die and are reaped here
}

bool server::bind(std::string& error) {
  for (const auto& ep : cfg_.listen)
    if (!bind_one(ep, false, error)) return false;
  for (const auto& ep : cfg_.fastcgi.listen)
    if (!bind_one(ep, true, error)) return false;
  return true;
}

bool server::bind_one(const config::endpoint& ep, bool fastcgi, std::string& error) {
  listener l;
  l.fastcgi = fastcgi;
  if (ep.is_unix()) {
#ifdef CGIHOST_UNIX_LISTENERS
    auto acc = bind_unix_socket(control_, ep.unix_path,
                                fastcgi ? cfg_.fastcgi.socket : cfg_.http.socket, l.file, error);
    if (!acc) return false;
    l.local = std::make_unique<asio::local::stream_protocol::acceptor>(std::move(*acc));
    listeners_.push_back(std::move(l));
    return true;
#else
    error = "cannot listen on " + ep.to_string() + ": no Unix sockets here";
    return false;
#endif
  }
  error_code ec;
  auto addr = asio::ip::make_address(ep.address, ec);
  if (ec) {
    error = "cannot listen on " + ep.to_string() + ": " + ec.message();
    return false;
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
    return false;
  }
  l.tcp = std::move(acc);
  listeners_.push_back(std::move(l));
  return true;
}

std::vector<asio::ip::tcp::endpoint> server::bound() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& l : listeners_) {
    if (!l.tcp || l.fastcgi) continue;
    error_code ec;
    auto ep = l.tcp->local_endpoint(ec);
    if (!ec) out.push_back(ep);
  }
  return out;
}

std::vector<asio::ip::tcp::endpoint> server::bound_fastcgi() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& l : listeners_) {
    if (!l.tcp || !l.fastcgi) continue;
    error_code ec;
    auto ep = l.tcp->local_endpoint(ec);
    if (!ec) out.push_back(ep);
  }
  return out;
}

std::vector<std::string> server::bound_unix() const {
  std::vector<std::string> out;
#ifdef CGIHOST_UNIX_LISTENERS
  for (const auto& l : listeners_)
    if (l.local) out.push_back("unix:" + l.file.path);
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
  for (auto& l : listeners_) asio::co_spawn(control_, accept_loop(l), asio::detached);
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
  handlers_.stop(std::chrono::seconds(2), [this] {
    asio::post(control_, [this] {
      for (auto& w : work_) w.reset();
    });
  });
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
  std::vector<std::function<void()>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [id, c] : sessions_) live.push_back(c.stop);
  }
  logs_.error->info("stopping: listeners closed, {} connection(s) open, grace period {} ms",
                    live.size(), cfg_.server.grace_period.count());
  if (notify_)
    notify_->send("STOPPING=1\nSTATUS=stopping: " + std::to_string(live.size()) +
                  " connection(s) open, grace period " +
                  std::to_string(cfg_.server.grace_period.count()) + " ms");
  // Each holds its connection only while it runs: a connection must not
  // outlive its last owner under the lock.
  for (auto& stop : live) stop();
  live.clear();
  std::lock_guard lock(sessions_mutex_);
  if (sessions_.empty()) return release();
  grace_timer_.expires_after(cfg_.server.grace_period);
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

void server::close_listeners() {
  for (auto& l : listeners_) {
    error_code ec;
    if (l.tcp) l.tcp->close(ec);
#ifdef CGIHOST_UNIX_LISTENERS
    if (l.local) {
      l.local->close(ec);
      l.file.remove();
    }
#endif
  }
}

bool server::admit_fastcgi(const asio::ip::tcp::endpoint& peer, const error_code& ec) {
  auto a = peer.address();
  if (!ec && a.is_v6() && a.to_v6().is_v4_mapped())
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  const std::string who = ec ? std::string("-") : a.to_string();
  if (ec || !config::address_in(who, cfg_.fastcgi.allowed_clients)) {
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

asio::awaitable<void> server::accept_loop(listener& l) {
  asio::steady_timer backoff(control_);
  while (!stopping()) {
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
    if (stopping() || ec == asio::error::operation_aborted) co_return;
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

}  // namespace cgihost::host
