#pragma once
// The FastCGI module: a request over FastCGI records to an instance lent by
// its pool; STDOUT through the same strict relay as CGI, STDERR to the log.

#include <memory>

#include "config/config.hpp"
#include "host/fastcgi_pool.hpp"
#include "host/handler.hpp"
#include "protocol/cgi_env.hpp"

namespace cgihost::host {

class fastcgi_handler final : public handler {
 public:
  // Keeps references to `cfg` and `h`; shares the pool with other handlers.
  fastcgi_handler(const config::config& cfg, const config::handler& h,
                  std::shared_ptr<fastcgi_pool> pool);
  ~fastcgi_handler() override;
  fastcgi_handler(const fastcgi_handler&) = delete;
  fastcgi_handler& operator=(const fastcgi_handler&) = delete;

  asio::awaitable<void> handle(exchange& ex) override;

 private:
  const config::config& cfg_;
  const config::handler& h_;
  std::shared_ptr<fastcgi_pool> pool_;
  int root_fd_ = -1;
  protocol::cgi::variables pass_through_;
};

}  // namespace cgihost::host
