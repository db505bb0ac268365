#pragma once
// The FastCGI module: a request over FastCGI records to an instance lent by
// its pool; STDOUT through the same strict relay as CGI, STDERR to the log.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/fastcgi/fastcgi_pool.hpp"
#include "protocol/cgi_env.hpp"
#include "spawner/files.hpp"

namespace cgihost::host {

class fastcgi_handler final : public handler {
 public:
  // Keeps references to `cfg` and `h`; shares the pool with other handlers.
  // With `family` (impersonate = true), each request goes to the pool of its
  // own account instead of `pool`.
  fastcgi_handler(const config::config& cfg, const config::handler& h,
                  std::shared_ptr<fastcgi_pool> pool,
                  std::shared_ptr<pool_family> family = nullptr);
  ~fastcgi_handler() override;
  fastcgi_handler(const fastcgi_handler&) = delete;
  fastcgi_handler& operator=(const fastcgi_handler&) = delete;

  // The exchange as steps: prepare, then per attempt lease (acquire and
  // connect), exchange (fcgi_exchange), classify (gateway/verdict.hpp) and
  // answer.
  asio::awaitable<void> handle(exchange& ex) override;

 private:
  // What prepare() makes of a request before any instance is lent.
  struct prepared {
    std::shared_ptr<fastcgi_pool> pool;
    spawner::spool_file spool;  // a chunked body, spooled; else closed
    std::uint64_t length = 0;   // the body's
    std::string head_records;   // BEGIN_REQUEST and PARAMS, encoded
    bool may_retry = false;     // see may_retry() in lease.hpp
  };
  // The script, the pool (and its account), the body's length (spooled when
  // chunked) and the PARAMS, into `p`; or the refusal handle() answers.
  asio::awaitable<std::optional<refusal>> prepare(exchange& ex, prepared& p);

  const config::config& cfg_;
  const config::handler& h_;
  // The pool for this request: the one pool (whose account must read the
  // script `st`), or its account's (check_identity); else the refusal (401,
  // 403, 500, or 503 while stopping).
  checked<std::shared_ptr<fastcgi_pool>> pool_for(const exchange& ex, const spawner::file_info& st);

  std::shared_ptr<fastcgi_pool> single_;
  std::shared_ptr<pool_family> family_;
  // The account the one local pool's instances run as (identity.process):
  // it must be able to read a script before a request goes there.
  std::optional<spawner::identity> instance_account_;
  protocol::cgi::variables pass_through_;
};

}  // namespace cgihost::host
