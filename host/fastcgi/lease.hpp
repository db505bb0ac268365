#pragma once
// One request's hold on a pool instance and its connection: acquired from the
// pool, connected on the caller's io thread (the connection the instance kept
// from its last request, moved here, or a new one), and given back to the
// pool exactly once with how the request went.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "host/fastcgi/fastcgi_pool.hpp"
#include "host/gateway/request_board.hpp"

namespace cgihost::host {

// The retry rule: a request refused or reset before any byte of an answer may
// be tried once more on another instance when that is safe: an idempotent
// method (RFC 9110 §9.2.2) and a body that can be sent again (none, or spooled).
bool may_retry(boost::beast::http::verb method, std::uint64_t length, bool spooled);

class lease {
 public:
  using socket = fastcgi_pool::socket;
  using clock = std::chrono::steady_clock;

  // Holds `inst`, just acquired from `pool` (which must outlive the lease).
  lease(fastcgi_pool& pool, std::shared_ptr<fastcgi_pool::instance> inst)
      : pool_(pool), inst_(std::move(inst)) {}
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;

  // The connection the instance kept from its last request, made usable on
  // `here` (the caller's executor): moved here when it was kept on another
  // thread; dropped when a remote server closed it meanwhile. False when
  // there is none: then connect(). No coroutine: the common path.
  bool take_kept(const asio::any_io_executor& here);

  // A new connection on the caller's executor by `deadline`: nullopt; or
  // what failed, and the instance went back to the pool as refused.
  asio::awaitable<std::optional<std::string>> connect(clock::time_point deadline);

  // Shows the request on the pool's board (the status page's ?full) as the
  // instance's, in phase "connecting", until the instance goes back; `method`
  // and `uri` view the request head, which outlives the lease.
  void show(request_id rid, std::string_view method, std::string_view uri, clock::time_point since);
  // The request's phase on the board, as the exchange goes.
  void set_phase(run_phase p) noexcept { shown_.set_phase(p); }

  // True when the connection was kept from an earlier request.
  bool reused() const noexcept { return reused_; }
  socket& sock() noexcept { return *sock_; }
  const fastcgi_pool::instance& instance() const noexcept { return *inst_; }
  fastcgi_pool& pool() const noexcept { return pool_; }

  // Gives the instance back with the connection kept for the next request:
  // this one ended cleanly on both sides. The socket is not touched after it.
  void keep();
  // Gives the instance back with `how`, closing the connection (anything but
  // `ok` ends the instance). Does nothing once the instance went back.
  void give_back(fastcgi_pool::outcome how);
  bool given_back() const noexcept { return given_back_; }

 private:
  fastcgi_pool& pool_;
  std::shared_ptr<fastcgi_pool::instance> inst_;
  std::unique_ptr<socket> sock_;
  bool reused_ = false;
  bool given_back_ = false;
  request_board::entry shown_;  // on the pool's board until the instance goes back
};

}  // namespace cgihost::host
