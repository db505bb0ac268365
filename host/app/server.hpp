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
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "host/app/sd_notify.hpp"
#include "host/app/socket_activation.hpp"
#include "host/app/unix_listener.hpp"
#include "host/dispatch/auth.hpp"
#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/logging.hpp"
#include "host/dispatch/router.hpp"
#include "host/http/session_host.hpp"
#include "host/status/status_handler.hpp"
#include "spawner/broker.hpp"
#include "spawner/reaper.hpp"

namespace cgihost::host {

class http_session;

class fastcgi_pool;
class pool_family;
class after_response;
class run_limit;
struct cgi_board;

// The handlers of one config, by module; shared by all sessions.
struct handler_set final : handler_table {
  std::unique_ptr<handler> static_files;
  std::unique_ptr<handler> status;  // set when [status] path is
  std::map<const config::handler*, std::unique_ptr<handler>> configured;  // cgi/fastcgi entries
  std::vector<std::shared_ptr<fastcgi_pool>> pools;
  std::vector<std::shared_ptr<pool_family>> families;  // impersonate = true: a pool per account
  // CGI children running on after their complete response.
  std::shared_ptr<after_response> cgi_after;
  std::shared_ptr<run_limit> cgi_limit;  // [cgi] max_children's, when set
  // CGI children running and requests waiting for max_children (the status
  // page's); one for the server's life, passed on by each reload.
  std::shared_ptr<cgi_board> cgi_boards;
  handler& for_route(const route& r) override;
  // Ends every pool's instances (TERM, KILL after the pool's stop_grace),
  // reaped on their executor; CGI children running after their response get
  // `grace` to end by themselves. `done` runs once every child is reaped.
  void stop(std::chrono::milliseconds grace, std::function<void()> done = {});
  // Kills and reaps every instance now (the io threads no longer run).
  void kill_now();
  // A reload replaced this set: its pools that `next` does not share end as
  // their instances become free (fastcgi_pool::retire). True when none of them
  // has an instance left.
  void retire_unshared(const handler_set& next);
  bool done_retiring() const;
};

// What make_handlers may take from elsewhere: the handlers of the config a
// reload replaces, whose pools it keeps where a pool's settings (and the
// document root and process identity its instances run with) are the same;
// the server's facts for the status page.
struct handler_origin {
  const handler_set* previous = nullptr;
  const config::config* previous_cfg = nullptr;
  std::shared_ptr<const server_facts> facts;
};

// Builds the handlers a config names: static files, one per cgi or fastcgi
// [[handlers]] entry, the CGI one of program_handler() when a location has a
// `script`, and the pools those name (watched on `pool_executor`). Children
// start through `broker` when given.
handler_set make_handlers(const config::config& cfg, asio::any_io_executor pool_executor,
                          std::shared_ptr<spdlog::logger> log, spawner::broker* broker = nullptr,
                          const handler_origin& origin = {});

// One config and everything built from it: what requests see (`view`), the
// pages of [errors], the handlers, the authenticator and the dispatch. The
// server makes one at start and one per reload; requests hold theirs.
struct generation {
  std::uint64_t number = 1;
  std::shared_ptr<const config::config> cfg;
  error_pages pages;
  handler_set handlers;
  std::unique_ptr<authenticator> auth;
  std::unique_ptr<dispatcher> dispatch;
  std::optional<served> view;
};

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
  server(std::shared_ptr<const config::config> cfg, logs logs, spawner::broker* broker = nullptr);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Sockets systemd passed (socket_activation.hpp), served instead of
  // binding the entries they match; before bind().
  void adopt(std::vector<passed_socket> sockets) { passed_ = std::move(sockets); }

  // Binds every listen address, HTTP's and [fastcgi]'s (a Unix socket with
  // its owner, group and mode; unix_listener.hpp), or takes the socket
  // systemd passed for it. A passed socket that no entry takes is served on
  // the front its name says ("http", "fastcgi"); one with another name is an
  // error. On failure, the error names the address or the socket.
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

  // Reads the next config for a reload (SIGHUP): the config, or nullptr with
  // every diagnostic in `errors`. Called on a thread of its own; before run().
  using config_source = std::function<std::shared_ptr<const config::config>(std::string& errors)>;
  void set_config_source(config_source source) { config_source_ = std::move(source); }
  // Reloads as SIGHUP does: reads the config through the source, and serves
  // new requests with it. Thread-safe; returns at once.
  void reload();
  // Serves new requests with `next` (loaded and valid): listeners and pools
  // are diffed (see README "Reload"). False with `error` when a new listener
  // cannot be bound or a page of [errors] read: then nothing changed. On the
  // control strand, or before run().
  bool apply(std::shared_ptr<const config::config> next, std::string& error);
  // The reload counters and the generation in use.
  const server_facts& facts() const { return *facts_; }

  // The config new requests begin under (tests: valid until the next reload).
  const config::config& settings() const { return *current_generation()->cfg; }

  // POSIX: what SIGUSR1 does (logrotate's postrotate: open the log files
  // again), run on the control strand, once per signal, while run(true)
  // serves. Before run(); without it SIGUSR1 is ignored.
  void set_on_reopen(std::function<void()> f) { on_reopen_ = std::move(f); }

  // For sessions.
  std::shared_ptr<const served> current() const override;
  const logs& log() const override { return logs_; }
  bool stopping() const override { return stopping_.load(std::memory_order_acquire); }
  void session_ended(std::uint64_t id) override;

 private:
  // One listening socket: TCP or (POSIX) Unix, for HTTP or FastCGI.
  struct listener {
    bool fastcgi = false;
    std::string key;      // "http " or "fastcgi " and the address as configured
    bool closed = false;  // a reload removed it (control strand)
    // Passed by systemd: never unlinked, and given back to passed_ when a
    // reload removes its entry. `extra`: matched no entry (kept at reloads).
    std::optional<passed_socket> passed;
    bool extra = false;
    std::string unix_path;  // a Unix socket's path
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
  std::shared_ptr<listener> bind_one(const config::config& cfg, const config::endpoint& ep,
                                     bool fastcgi, std::string& error);
  // A listener on a socket systemd passed; nullptr with `error` when it
  // cannot be used.
  std::shared_ptr<listener> on_passed(const passed_socket& s, bool fastcgi, std::string key,
                                      std::string& error);
  // Serves the passed sockets no entry took, on the front their name says.
  bool serve_unmatched_passed(std::vector<std::shared_ptr<listener>>& added, std::string& error);
  // A listener a reload removes (or a failed one rolls back): closed, its
  // Unix socket file removed; one from systemd is given back to passed_.
  void drop_listener(listener& l);
  asio::awaitable<void> accept_loop(std::shared_ptr<listener> l);
  std::shared_ptr<generation> current_generation() const;
  std::shared_ptr<generation> make_generation(std::shared_ptr<const config::config> cfg,
                                              const generation* previous);
  // Binds what `next` listens on and `listeners_` does not; false and nothing
  // kept on failure.
  bool bind_new(const config::config& next, std::vector<std::shared_ptr<listener>>& added,
                std::string& error);
  void reload_failed(const std::string& why);
  void on_hangup();  // re-arms the SIGHUP wait
  // Every generation still held (the current one first): their pools end at the stop.
  std::vector<std::shared_ptr<generation>> live_generations();
  // Starts a session (HTTP) or a FastCGI connection on an accepted socket.
  void start_connection(asio::generic::stream_protocol::socket socket, bool fastcgi);
  // A FastCGI TCP peer outside [fastcgi] allowed_clients, or past the
  // connection limit: closed, with a log line. True when it may stay.
  bool admit_fastcgi(const asio::ip::tcp::endpoint& peer, const error_code& ec);
  void close_listener(listener& l);
  void close_listeners();
  void do_stop();  // on the control strand
  void release();  // on the control strand: let every context finish
  // WATCHDOG=1 every `every`, as long as every io context ran what the
  // previous round posted to it.
  asio::awaitable<void> watchdog(std::chrono::microseconds every);

  logs logs_;
  spawner::broker* broker_;
  std::shared_ptr<server_facts> facts_ = std::make_shared<server_facts>();
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
  mutable std::mutex gen_mutex_;
  std::shared_ptr<generation> gen_;  // under gen_mutex_
  // Generations a reload replaced, while something holds them (control strand).
  std::vector<std::weak_ptr<generation>> old_;
  std::list<std::shared_ptr<listener>> listeners_;  // control strand
  std::vector<passed_socket> passed_;               // control strand: from systemd, not in use
  std::optional<asio::signal_set> signals_;
  std::optional<asio::signal_set> hangup_;
  config_source config_source_;
  std::thread reload_thread_;
  bool reloading_ = false;                         // control strand: a reload is being read
  bool reload_again_ = false;                      // control strand: SIGHUP came meanwhile
  std::optional<asio::signal_set> reopen_signal_;  // SIGUSR1
  std::function<void()> on_reopen_;
  void wait_reopen_signal();
  asio::steady_timer grace_timer_;
  const sd_notify* notify_ = nullptr;
  asio::steady_timer watchdog_timer_;
  std::atomic<bool> stopping_{false};
  bool stop_started_ = false;  // control strand only
};

}  // namespace cgihost::host
