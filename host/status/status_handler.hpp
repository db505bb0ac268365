#pragma once
// The status page ([status] path): per pool its instances (pid, identity,
// state, requests served, started at), queue length, and totals, and CGI's
// children (max_children, running, waiting), as JSON, or as Prometheus text
// with ?format=prometheus. With ?full the JSON also lists each busy
// instance's request and each running CGI child and waiting request (as
// php-fpm's ?full). Only peers in [status] allow get it; others get 403.
// [status] ping_path answers ping_response to anyone.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/fastcgi/fastcgi_pool.hpp"
#include "host/gateway/request_board.hpp"

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

// What the status page's query asks for: keys separated by "&" (in any
// order). `format=prometheus`: the Prometheus text (any other format, or
// none, the JSON); `full` (also `full=1`, `full=true`; `full=0`,
// `full=false`, `full=no` and `full=off` do not ask): the requests too.
struct status_query {
  bool prometheus = false;
  bool full = false;
};
status_query parse_status_query(std::string_view query);

class status_handler final : public handler {
 public:
  // Keeps a reference to `cfg`; shares the pools.
  // `facts`: the server's (generation, reloads); without them the handler's own start.
  // `cgi`: CGI's children and waiting requests (nullptr: none are counted).
  status_handler(const config::config& cfg, std::vector<std::shared_ptr<fastcgi_pool>> pools,
                 std::vector<std::shared_ptr<pool_family>> families = {},
                 std::shared_ptr<const server_facts> facts = nullptr,
                 std::shared_ptr<const cgi_board> cgi = nullptr);

  asio::awaitable<void> handle(exchange& ex) override;

  // The page bodies, for the handler and the tests; `full`: with the requests.
  std::string json(bool full = false) const;
  std::string prometheus() const;

 private:
  asio::awaitable<void> ping(exchange& ex);

  const config::config& cfg_;
  // Every pool now: the plain ones, then each account's of the impersonating ones.
  std::vector<std::shared_ptr<fastcgi_pool>> all_pools() const;
  // One pool's object of the JSON page, onto `o`.
  void pool_json(std::string& o, fastcgi_pool& p, bool full) const;
  // The "cgi" object of the JSON page, onto `o`.
  void cgi_json(std::string& o, bool full) const;

  std::vector<std::shared_ptr<fastcgi_pool>> pools_;
  std::vector<std::shared_ptr<pool_family>> families_;
  std::shared_ptr<const server_facts> facts_;
  std::shared_ptr<const cgi_board> cgi_;
};

}  // namespace cgihost::host
