#pragma once
// The program's server: io_context threads, listeners, signals, sessions,
// and the graceful stop.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "host/app/sd_notify.hpp"
#include "host/app/unix_listener.hpp"
#include "host/dispatch/auth.hpp"
#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/logging.hpp"
#include "host/dispatch/router.hpp"
#include "host/http/session_host.hpp"
#include "spawner/broker.hpp"
#include "spawner/reaper.hpp"

namespace cgihost::host {

class http_session;

class fastcgi_pool;
class pool_family;
class after_response;

// The handlers of one config, by module; shared by all sessions.
struct handler_set final : handler_table {
  std::unique_ptr<handler> static_files;
  std::unique_ptr<handler> status;  // set when [status] path is
  std::map<const config::handler*, std::unique_ptr<handler>> configured;  // cgi/fastcgi entries
  std::vector<std::shared_ptr<fastcgi_pool>> pools;
  std::vector<std::shared_ptr<pool_family>> families;  // impersonate = true: a pool per account
  // CGI children running on after their complete response.
  std::shared_ptr<after_response> cgi_after;
  handler& for_route(const route& r) override;
  // Ends every pool's instances (TERM, KILL after the pool's stop_grace),
  // reaped on their executor; CGI children running after their response get
  // `grace` to end by themselves. `done` runs once every child is reaped.
  void stop(std::chrono::milliseconds grace, std::function<void()> done = {});
  // Kills and reaps every instance now (the io threads no longer run).
  void kill_now();
};

// Builds the handlers a config names: static files, one per cgi or fastcgi
// [[handlers]] entry, the CGI one of program_handler() when a location has a
// `script`, and the pools those name (watched on `pool_executor`). Children
// start through `broker` when given.
handler_set make_handlers(const config::config& cfg, asio::any_io_executor pool_executor,
                          std::shared_ptr<spdlog::logger> log, spawner::broker* broker = nullptr);

// The accounts the spawn broker may start children as: identity.process,
// identity.anonymous, every [accounts] value and every [[locations]]
// process_identity, resolved with their groups;
// never root. Accounts whose groups cannot be read are left out, with `error`
// naming them.
std::vector<spawner::identity> spawn_accounts(const config::config& cfg, std::string& error);

// Runs `ctx` until it runs out of work or is stopped. An exception that a
// completion handler lets escape (a bug: nothing on the data path throws) is
// logged as an error naming its cause, and the loop goes on with the other
// handlers of this context instead of ending the process.
void run_context(asio::io_context& ctx, spdlog::logger& log);

class server final : public session_host {
 public:
  // Keeps a reference to `cfg`, which must outlive the server. With `broker`
  // (privilege separation), every child is started by it. Reads the pages of
  // [errors] (error_pages::load): throws naming one that cannot be read.
  server(const config::config& cfg, logs logs, spawner::broker* broker = nullptr);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds every listen address, HTTP's and [fastcgi]'s (a Unix socket with
  // its owner, group and mode; unix_listener.hpp). On failure, the error
  // names the address.
  [[nodiscard]] bool bind(std::string& error);

  // The HTTP TCP addresses actually bound (port 0 in the config becomes the real port).
  std::vector<asio::ip::tcp::endpoint> bound() const;
  // The same for the [fastcgi] TCP listeners.
  std::vector<asio::ip::tcp::endpoint> bound_fastcgi() const;
  // Every Unix socket listened on, HTTP's and FastCGI's ("unix:/path").
  std::vector<std::string> bound_unix() const;

  // SIGTERM and SIGINT no longer end the process: they are kept until run()
  // starts the graceful stop for them. Call before saying the server listens.
  void catch_signals();

  // Serves until a graceful stop completes. With `handle_signals`, SIGTERM and
  // SIGINT start the stop. Uses server.threads threads (0: one per core),
  // the caller's included.
  void run(bool handle_signals);

  // Starts the graceful stop: listeners close, idle connections close, requests
  // in flight finish within server.grace_period, then run() returns. Thread-safe.
  void stop();

  // systemd's notifications (sd_notify.hpp), which must outlive the server:
  // STOPPING=1 when the graceful stop begins and, with a watchdog, WATCHDOG=1
  // every half interval while every io thread answers. Before run().
  void set_notify(const sd_notify* n) { notify_ = n; }

  // For sessions.
  const config::config& settings() const override { return cfg_; }
  const logs& log() const override { return logs_; }
  const error_pages& custom_error_pages() const override { return error_pages_; }
  dispatcher& dispatch() override { return *dispatch_; }
  bool stopping() const override { return stopping_.load(std::memory_order_acquire); }
  void session_ended(std::uint64_t id) override;

 private:
  // One listening socket: TCP or (POSIX) Unix, for HTTP or FastCGI.
  struct listener {
    bool fastcgi = false;
    std::unique_ptr<asio::ip::tcp::acceptor> tcp;
#ifdef CGIHOST_UNIX_LISTENERS
    std::unique_ptr<asio::local::stream_protocol::acceptor> local;
    unix_socket_file file;
#endif
  };
  // A live connection: how to ask it to stop, and whether it is FastCGI's.
  struct live_connection {
    std::function<void()> stop;
    bool fastcgi = false;
  };
  bool bind_one(const config::endpoint& ep, bool fastcgi, std::string& error);
  asio::awaitable<void> accept_loop(listener& l);
  // Starts a session (HTTP) or a FastCGI connection on an accepted socket.
  void start_connection(asio::generic::stream_protocol::socket socket, bool fastcgi);
  // A FastCGI TCP peer outside [fastcgi] allowed_clients, or past the
  // connection limit: closed, with a log line. True when it may stay.
  bool admit_fastcgi(const asio::ip::tcp::endpoint& peer, const error_code& ec);
  void close_listeners();
  void do_stop();  // on the control strand
  void release();  // on the control strand: let every context finish
  // WATCHDOG=1 every `every`, as long as every io context ran what the
  // previous round posted to it.
  asio::awaitable<void> watchdog(std::chrono::microseconds every);

  const config::config& cfg_;
  logs logs_;
  // Read by the constructor, before root is dropped: the network process
  // may not be able to read them after.
  error_pages error_pages_;
  // Declared before the contexts: sessions still in a context when it is
  // destroyed (after a grace period ran out) unregister themselves here.
  std::mutex sessions_mutex_;
  std::map<std::uint64_t, live_connection> sessions_;
  std::size_t fastcgi_connections_ = 0;  // under sessions_mutex_
  std::atomic<std::uint64_t> next_session_{1};
  std::atomic<bool> destroying_{false};
  // One io_context per thread, each run by exactly one thread: a connection
  // stays on one thread, with no locks or cross-thread wake-ups on its path.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::size_t next_context_ = 0;  // control strand only
  asio::strand<asio::io_context::executor_type> control_;
  // Without a spawn broker, this process inherits what its children leave
  // behind and ends it (spawner/reaper.hpp); destroyed after the handlers,
  // with a last sweep.
  std::shared_ptr<spawner::subreaper> reaper_;
  // After the contexts: destroyed before them, so no io object outlives its context.
  handler_set handlers_;
  std::unique_ptr<authenticator> auth_;
  std::unique_ptr<dispatcher> dispatch_;
  std::vector<listener> listeners_;
  std::optional<asio::signal_set> signals_;
  asio::steady_timer grace_timer_;
  const sd_notify* notify_ = nullptr;
  asio::steady_timer watchdog_timer_;
  std::atomic<bool> stopping_{false};
  bool stop_started_ = false;  // control strand only
};

}  // namespace cgihost::host
