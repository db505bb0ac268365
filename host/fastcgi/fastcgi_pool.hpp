#pragma once
// A pool of FastCGI instances (php-cgi or any FastCGI program), started the
// way IIS and mod_fcgid start them: a listening Unix socket handed over as
// fd 0 (FCGI_LISTENSOCK_FILENO). Instances start on demand up to
// max_instances, end after idle_timeout, and are recycled after max_requests;
// requests wait in a bounded queue when all are busy. The decisions are
// pool_core's; this class carries them out (launch, signal, lend, refuse).
//
// Thread-safe: sessions on any thread acquire and release; instances are
// watched (their exit, their stderr) on the pool's own executor.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "host/fastcgi/instance_conn.hpp"
#include "host/fastcgi/instance_socket.hpp"
#include "host/fastcgi/pool_core.hpp"
#include "host/fastcgi/pool_family.hpp"
#include "host/gateway/request_board.hpp"
#include "spawner/child.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

namespace asio = boost::asio;

class pool_family;

// The io_context an executor runs on, as pool_core knows it.
pool_core::home home_of(const asio::any_io_executor& ex);

class fastcgi_pool : public std::enable_shared_from_this<fastcgi_pool> {
 public:
  // Unix or TCP: a remote pool may be either; on Windows also a named pipe
  // (instance_conn.hpp).
  using socket = instance_conn;
  using refusal = pool_core::refusal;
  using outcome = pool_core::outcome;

  // One running instance, or for a remote pool one connection slot, or for
  // a pool with `children` one connection slot to its instance (the master,
  // whose pid it shows). Lent to one request at a time.
  struct instance {
    pool_core::id number = 0;
    std::string socket_path;       // empty for a remote pool
    spawner::process_id pid = -1;  // -1 for a remote pool
    std::chrono::system_clock::time_point started_at;
    std::unique_ptr<spawner::child> child;  // owned by the watcher on the pool's executor
    // The connection kept open after the last request (FCGI_KEEP_CONN): only
    // whoever holds the instance uses it; the pool closes it when the instance ends.
    std::unique_ptr<socket> kept;
    bool master = false;  // the one instance of a pool with `children`, never lent
    // Windows: the event that asks it to end (_FCGI_SHUTDOWN_EVENT_). Set once
    // it was asked to end: the stop_grace at whose end its group is ended.
    spawner::native_handle shutdown_event = spawner::no_handle;
    std::unique_ptr<asio::steady_timer> end_timer;
  };

  // What the status page shows of a pool.
  struct snapshot {
    struct inst {
      pool_core::id number;
      spawner::process_id pid;
      pool_core::state st;
      std::uint32_t served;
      std::chrono::system_clock::time_point started_at;
    };
    std::string name;
    std::string identity;
    std::vector<inst> instances;
    std::size_t queued = 0;
    pool_core::totals core;
    std::uint64_t accepted = 0;
    std::uint64_t errors_5xx = 0;
    std::uint64_t timeouts = 0;
  };

  // `ex`: where instances are watched. `as`: the identity instances run as
  // (nullopt: cgihost's own). `document_root`: their working directory.
  // Outside a family (`in_family` false), min_instances start once `ex` runs.
  static std::shared_ptr<fastcgi_pool> create(
      const config::pool& settings, asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log,
      std::optional<spawner::identity> as, std::string document_root,
      std::vector<std::pair<std::string, std::string>> base_env, spawner::broker* broker = nullptr,
      bool in_family = false);
  ~fastcgi_pool();

  // An instance for one request, or why not. Waits in the queue (until
  // `deadline`) when every instance is busy and max_instances run.
  asio::awaitable<std::shared_ptr<instance>> acquire(
      std::optional<refusal>& why, std::chrono::steady_clock::time_point deadline);

  // A new connection to `inst` on `sock` (open on the caller's executor), by
  // `deadline`: its own socket, or the remote pool's address (a host name is
  // resolved for each new connection). nullopt on success, else what failed.
  asio::awaitable<std::optional<std::string>> connect(
      const instance& inst, socket& sock, std::chrono::steady_clock::time_point deadline);

  // True for a pool that connects to a FastCGI server it did not start.
  bool remote() const { return settings_.remote.has_value(); }
  // True for a pool with `children`: one instance (php-cgi's own process
  // manager) whose children share its OPcache; the pool lends connection slots.
  bool shared() const { return settings_.children > 0; }

  // The protocol of its connections: Unix, or TCP for a remote HOST:PORT (the
  // family of the first address; a connection kept on another thread is moved
  // with the protocol it was opened with, which connect() records here).
  asio::generic::stream_protocol protocol() const {
    const int family = addr_family_.load(std::memory_order_relaxed);
    if (family == instance_protocol().family()) return instance_protocol();
    return asio::generic::stream_protocol(family, asio::ip::tcp::v4().protocol());
  }

  // Gives an instance back after a request, with the connection it keeps for
  // the next one (nullptr: none). Anything but `ok` ends the instance.
  void release(const std::shared_ptr<instance>& inst, outcome how, std::unique_ptr<socket> kept);

  // Ends every instance (TERM, then KILL after stop_grace); the watchers reap
  // them. `done` runs on the pool's executor once all are reaped.
  void stop(std::function<void()> done = {});

  // Kills and reaps every instance now, synchronously: for when the io
  // threads no longer run (a stop whose grace period ran out).
  void kill_now();

  // A reload replaced this pool (pool_core::retire): its instances end as
  // they become free, and it is done once none is left and none is queued.
  void retire();
  bool done_retiring();

  const config::pool& settings() const { return settings_; }
  // The account its instances run as (nullopt: cgihost's own).
  const std::optional<spawner::identity>& account() const { return as_; }
  // The account its instances run as, by name (cgihost's own by default).
  std::string account_name() const;
  std::size_t instance_count();
  snapshot status();

  // Counted by the handler, shown by the status page.
  void count_response(unsigned status, bool timed_out);
  // The request of each lent instance (by instance number): lease::show
  // posts it, the status page's ?full lists it.
  request_board& board() { return board_; }
  const request_board& board() const { return board_; }

  // For the pools of an impersonating family: starts share the family's
  // max_instances; see pool_family.
  void join_family(std::weak_ptr<pool_family> family) { family_ = std::move(family); }
  // Ends this pool's longest-idle instance; false when none is idle.
  bool end_one_idle();
  // Lets queued requests have an instance now that there may be room.
  void poke();

 private:
  struct waiter;
  fastcgi_pool(const config::pool& settings, asio::any_io_executor ex,
               std::shared_ptr<spdlog::logger> log, std::optional<spawner::identity> as,
               std::string document_root, std::vector<std::pair<std::string, std::string>> base_env,
               spawner::broker* broker, bool in_family);

  // Under mu_: carries out what the core decided, until it decides nothing more.
  void run_actions_locked();
  // Under mu_: the core's spawn action for instance `number` (deferred while
  // a family has no room).
  void spawn_action_locked(pool_core::id number);
  // Under mu_: starts instance `number`; false and `error` on failure.
  bool spawn_locked(pool_core::id number, std::string& error);
  // Under mu_: a listening socket named `name` and the program on it; false and `error` on failure.
  bool launch_locked(instance& inst, const std::string& name, std::string& error);
  // Under mu_: the instance of a pool with `children`, started for slot `number`.
  bool start_master_locked(pool_core::id number, std::string& error);
  // Under mu_: asks `inst` to end (SIGTERM; Windows: its shutdown event), then
  // ends its group (SIGKILL; Windows: its job) after stop_grace.
  void ask_to_end_locked(const std::shared_ptr<instance>& inst);
  // Under mu_: what is left of `inst` once it is reaped (its address, its event).
  void forget_locked(instance& inst);
  // Under mu_: ends the master once no slot is left.
  void end_unused_master_locked();
  // Under mu_: forgets the slots of master `pid` (ended or dead); `crash`: count one crash.
  void drop_slots_locked(spawner::process_id pid, const std::string& how, bool crash);
  void master_exited_locked(const std::shared_ptr<instance>& m, const spawner::exit_status& status);
  void start_ticker_locked();
  bool all_gone_locked() const { return instances_.empty() && masters_.empty(); }
  std::shared_ptr<instance> find_locked(pool_core::id number);
  asio::awaitable<void> watch(std::shared_ptr<instance> inst);
  asio::awaitable<void> ticker();
  // Under mu_, once stopping and every instance is reaped.
  void stopped_locked();

  const config::pool settings_;  // a copy: the pool may outlive its config (reload)
  asio::any_io_executor ex_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<spawner::identity> as_;
  spawner::broker* broker_;  // starts instances when set (privilege separation)
  std::string document_root_;
  std::vector<std::string> env_;
  std::string socket_dir_;

  std::mutex mu_;
  pool_core core_;
  std::vector<std::shared_ptr<instance>> instances_;
  bool last_start_logon_ = false;  // launch_locked's last failure was a logon (under mu_)
  // A pool with `children`: its current instance, and every one not yet reaped.
  std::shared_ptr<instance> master_;
  std::vector<std::shared_ptr<instance>> masters_;
  std::map<pool_core::id, std::shared_ptr<waiter>> waiters_;
  pool_core::id next_waiter_ = 1;
  bool ticker_started_ = false;
  asio::steady_timer tick_timer_;
  asio::steady_timer kill_timer_;  // a stop's TERM -> KILL grace; cancelled when all are reaped
  std::function<void()> on_stopped_;
  std::weak_ptr<pool_family> family_;
  std::atomic<int> addr_family_{instance_protocol().family()};
  // monitor_changes_to: what its file looked like when last looked at.
  struct file_stamp {
    bool exists = false;
    std::filesystem::file_time_type modified{};
    std::uintmax_t size = 0;
    bool operator==(const file_stamp&) const = default;
  };
  static file_stamp stamp_of(const std::filesystem::path& file);
  // Under mu_: recycles every instance when the watched file changed.
  void look_at_watched_locked();
  std::optional<file_stamp> watched_;
  request_board board_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> errors_5xx_{0};
  std::atomic<std::uint64_t> timeouts_{0};
};

// A callback to give each of `parts` pieces of work: `done` runs once, when
// the last of them has called it.
std::function<void()> after_all(std::size_t parts, std::function<void()> done);

// Stops every pool of `pools`; `done` runs once all of them are reaped (at
// once when there are none).
void stop_all(const std::vector<std::shared_ptr<fastcgi_pool>>& pools, std::function<void()> done);

}  // namespace cgihost::host
