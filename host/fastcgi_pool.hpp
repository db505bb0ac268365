#pragma once
// A pool of FastCGI instances (php-cgi or any FastCGI program), started the
// way IIS and mod_fcgid start them: a listening Unix socket handed over as
// fd 0 (FCGI_LISTENSOCK_FILENO). Instances start on demand up to
// max_instances, end after idle_timeout, and are recycled after max_requests;
// requests wait in a bounded queue when all are busy.
//
// Thread-safe: sessions on any thread acquire and release; instances are
// watched (their exit, their stderr) on the pool's own executor.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>
#include <spdlog/logger.h>

#include "config/config.hpp"
#include "spawner/child.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

namespace asio = boost::asio;

class fastcgi_pool : public std::enable_shared_from_this<fastcgi_pool> {
 public:
  enum class state { idle, busy, draining, dead };

  struct instance {
    std::uint64_t number = 0;
    std::string socket_path;
    pid_t pid = -1;
    state st = state::busy;
    std::uint32_t served = 0;
    std::uint32_t budget = 0;  // requests it accepts before it exits by itself; 0: no limit
    std::chrono::steady_clock::time_point idle_since;
    std::unique_ptr<spawner::child> child;  // owned by the watcher on the pool's executor
    // A connection kept open between requests (FCGI_KEEP_CONN); used only by
    // whoever holds the instance, closed when the instance ends.
    int kept_fd = -1;
  };

  // Why no instance could be lent: the status for the client and the phase
  // for the log ("queue wait", "spawn").
  struct refusal {
    boost::beast::http::status status;
    std::string phase;
    std::string reason;
  };

  // `ex`: where instances are watched. `as`: the identity instances run as
  // (nullopt: cgihost's own). `document_root`: their working directory.
  static std::shared_ptr<fastcgi_pool> create(const config::pool& settings, asio::any_io_executor ex,
                                              std::shared_ptr<spdlog::logger> log,
                                              std::optional<spawner::identity> as, std::string document_root,
                                              std::vector<std::pair<std::string, std::string>> base_env);
  ~fastcgi_pool();

  // An instance for one request, or why not. Waits in the queue (at most
  // request_timeout) when every instance is busy and max_instances run.
  asio::awaitable<std::shared_ptr<instance>> acquire(std::optional<refusal>& why);

  // Gives an instance back. `healthy = false` (a timeout, a protocol error)
  // ends it; an instance whose request budget is spent is not lent again.
  void release(const std::shared_ptr<instance>& inst, bool healthy);

  // Ends every instance (TERM, then KILL after `grace`); the watchers reap them.
  void stop(std::chrono::milliseconds grace);

  // Kills and reaps every instance now, synchronously: for when the io
  // threads no longer run (a stop whose grace period ran out).
  void kill_now();

  const config::pool& settings() const { return settings_; }
  std::size_t instance_count();

 private:
  struct waiter;
  fastcgi_pool(const config::pool& settings, asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log,
               std::optional<spawner::identity> as, std::string document_root,
               std::vector<std::pair<std::string, std::string>> base_env);

  // Under mu_: starts one instance; nullptr and `error` on failure.
  std::shared_ptr<instance> spawn_locked(std::string& error);
  asio::awaitable<void> watch(std::shared_ptr<instance> inst);
  asio::awaitable<void> idle_reaper();
  void hand_over_locked(const std::shared_ptr<instance>& inst);
  // Under mu_: marks it draining, closes its kept connection, sends `sig`.
  void end_locked(instance& inst, int sig);

  const config::pool& settings_;
  asio::any_io_executor ex_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<spawner::identity> as_;
  std::string document_root_;
  std::vector<std::string> env_;
  std::uint32_t budget_ = 0;
  std::string socket_dir_;

  std::mutex mu_;
  std::vector<std::shared_ptr<instance>> instances_;
  std::deque<std::shared_ptr<waiter>> queue_;
  std::uint64_t next_number_ = 1;
  bool stopping_ = false;
  bool reaper_started_ = false;
  asio::steady_timer reaper_timer_;
  asio::steady_timer kill_timer_;  // a stop's TERM -> KILL grace; cancelled when all are reaped
};

}  // namespace cgihost::host
