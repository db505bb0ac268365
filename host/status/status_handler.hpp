#pragma once
// The status page ([status] path): per pool its instances (pid, identity,
// state, requests served, started at), queue length, and totals, as JSON, or
// as Prometheus text with ?format=prometheus. Only peers in [status] allow
// get it; others get 403. [status] ping_path answers ping_response to anyone.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/fastcgi/fastcgi_pool.hpp"

namespace cgihost::host {

// What the server tells the status page about itself, kept across reloads.
struct server_facts {
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::atomic<std::uint64_t> generation{1};  // of the config: 1 at start, +1 per reload
  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::uint64_t> reload_failures{0};
  mutable std::mutex mu;
  std::string last_reload_error;  // under mu: the last reload's failure, "" once one succeeds
};

class status_handler final : public handler {
 public:
  // Keeps a reference to `cfg`; shares the pools.
  // `facts`: the server's (generation, reloads); without them the handler's own start.
  status_handler(const config::config& cfg, std::vector<std::shared_ptr<fastcgi_pool>> pools,
                 std::vector<std::shared_ptr<pool_family>> families = {},
                 std::shared_ptr<const server_facts> facts = nullptr);

  asio::awaitable<void> handle(exchange& ex) override;

  // The page bodies, for the handler and the tests.
  std::string json() const;
  std::string prometheus() const;

 private:
  asio::awaitable<void> ping(exchange& ex);

  const config::config& cfg_;
  // Every pool now: the plain ones, then each account's of the impersonating ones.
  std::vector<std::shared_ptr<fastcgi_pool>> all_pools() const;

  std::vector<std::shared_ptr<fastcgi_pool>> pools_;
  std::vector<std::shared_ptr<pool_family>> families_;
  std::shared_ptr<const server_facts> facts_;
};

}  // namespace cgihost::host
