#pragma once
// The pools of an `impersonate = true` [pools.NAME]: one fastcgi_pool per
// account, sharing max_instances.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "spawner/identity.hpp"

namespace cgihost::spawner {
class broker;
}  // namespace cgihost::spawner

namespace cgihost::host {

namespace asio = boost::asio;
class fastcgi_pool;

// The pools of an `impersonate = true` [pools.NAME], or of one whose requests
// a location's process_identity gives another account: one per account, each
// started on first use and running as that account, so one user's code never
// runs in another user's process. max_instances bounds them all together:
// when it is reached, a request of an account without a free instance waits
// while the longest-idle instance of another account is ended to make room.
class pool_family : public std::enable_shared_from_this<pool_family> {
 public:
  pool_family(const config::pool& settings, asio::any_io_executor ex,
              std::shared_ptr<spdlog::logger> log, std::string document_root,
              std::vector<std::pair<std::string, std::string>> base_env,
              spawner::broker* broker = nullptr);

  // The pool whose instances run as `as`; created on first use.
  std::shared_ptr<fastcgi_pool> for_account(const spawner::identity& as);

  const config::pool& settings() const { return settings_; }
  std::vector<std::shared_ptr<fastcgi_pool>> pools();

  // Room for one more instance among all accounts: true and counted, or false.
  bool take();
  // An instance ended: its room is free; queued requests of every account may use it.
  void give();
  // A request of `asking` waits for room: end the longest-idle instance of another account.
  void make_room(const fastcgi_pool* asking);
  // `pool` got room: it no longer waits.
  void served(const fastcgi_pool* pool);
  // Whether `pool`, holding `its_instances`, should end an instance given back
  // instead of keeping it: another pool waits and this one has more than its share.
  bool should_yield(const fastcgi_pool* pool, std::size_t its_instances);
  // Stops every account's pool; `done` once all of them are reaped.
  void stop(std::function<void()> done = {});
  void kill_now();
  // Retires every account's pool (fastcgi_pool::retire) and those made later.
  void retire();
  bool done_retiring();

 private:
  const config::pool settings_;  // a copy: the pool may outlive its config (reload)
  asio::any_io_executor ex_;
  std::shared_ptr<spdlog::logger> log_;
  std::string document_root_;
  std::vector<std::pair<std::string, std::string>> base_env_;
  spawner::broker* broker_;
  std::mutex mu_;
  bool stopped_ = false;
  bool retired_ = false;
  // By account: its uid (POSIX), its SID (Windows: relative ids repeat
  // across domains).
  std::map<std::string, std::shared_ptr<fastcgi_pool>> by_account_;
  std::atomic<std::uint32_t> live_{0};
  std::set<const fastcgi_pool*> waiting_;  // pools with a request waiting for room
};

}  // namespace cgihost::host
