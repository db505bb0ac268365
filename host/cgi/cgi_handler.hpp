#pragma once
// The CGI module: one child per request (RFC 3875), its output checked by the
// strict response parser, with full-duplex streaming and bounded buffers.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/gateway/gateway.hpp"
#include "protocol/cgi_env.hpp"
#include "spawner/broker.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

class cgi_handler final : public handler {
 public:
  // Keeps references to `cfg` and `h`. Opens the document root once.
  // Children start through `broker` when given (privilege separation: it may
  // switch accounts); without it, here, switching only when cgihost is root.
  // `limit`: [cgi] max_children, shared by every CGI handler (nullptr: none).
  cgi_handler(const config::config& cfg, const config::handler& h,
              spawner::broker* broker = nullptr, std::shared_ptr<run_limit> limit = nullptr);
  ~cgi_handler() override;
  cgi_handler(const cgi_handler&) = delete;
  cgi_handler& operator=(const cgi_handler&) = delete;

  asio::awaitable<void> handle(exchange& ex) override;

 private:
  const config::config& cfg_;
  const config::handler& h_;
  int root_fd_ = -1;
  spawner::broker* broker_;
  std::shared_ptr<run_limit> limit_;
  bool switch_identity_ = false;  // only root can run children as another account
  std::string process_identity_;  // cgihost's own account, for the spawn log line
  protocol::cgi::variables pass_through_;
};

}  // namespace cgihost::host
