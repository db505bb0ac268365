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
#include "host/dispatch/refusal.hpp"
#include "host/gateway/gateway.hpp"
#include "host/gateway/request_board.hpp"
#include "protocol/cgi_env.hpp"
#include "spawner/broker.hpp"
#include "spawner/files.hpp"
#include "spawner/identity.hpp"
#include "spawner/launch.hpp"

namespace cgihost::host {

class after_response;

class cgi_handler final : public handler {
 public:
  // Keeps references to `cfg` and `h`.
  // Children start through `broker` when given (privilege separation: it may
  // switch accounts); without it, here, switching only when cgihost is root.
  // `limit`: [cgi] max_children, shared by every CGI handler (nullptr: none).
  // `after`: where children that go on after their complete response run to
  // their end, shared by every CGI handler (nullptr: each is awaited in its
  // exchange, and the next request on the connection waits for it).
  // `board`: where running children and requests waiting for max_children
  // are shown (the status page's ?full), shared likewise (nullptr: nowhere).
  cgi_handler(const config::config& cfg, const config::handler& h,
              spawner::broker* broker = nullptr, std::shared_ptr<run_limit> limit = nullptr,
              std::shared_ptr<after_response> after = nullptr,
              std::shared_ptr<cgi_board> board = nullptr);
  ~cgi_handler() override;
  cgi_handler(const cgi_handler&) = delete;
  cgi_handler& operator=(const cgi_handler&) = delete;

  // The script and its account, the body and the child's launch spec, then a
  // room under max_children, the spawn and the exchange (cgi_run), whose end
  // is classified by gateway/verdict.hpp like a FastCGI one.
  asio::awaitable<void> handle(exchange& ex) override;

 private:
  // What prepare() makes of a request before anything is spawned.
  struct prepared {
    std::string script_path;
    bool nph = false;
    std::string who;  // the account it runs as, described
    std::string why;  // and why (the identity decision)
    spawner::spool_file spool;
    spawner::launch_spec spec;
  };
  // The script, the account (checked), the body's length (spooled when
  // chunked), the CGI variables and the launch spec, into `p`; or the
  // refusal handle() answers.
  asio::awaitable<std::optional<refusal>> prepare(exchange& ex, prepared& p);
  spawner::launch_spec launch_spec_of(const std::string& script_path,
                                      std::optional<spawner::identity> as,
                                      const protocol::cgi::variables& vars) const;

  const config::config& cfg_;
  const config::handler& h_;
  spawner::broker* broker_;
  std::shared_ptr<run_limit> limit_;
  std::shared_ptr<after_response> after_;
  std::shared_ptr<cgi_board> board_;
  bool switch_identity_ = false;  // only root can run children as another account
  std::string process_identity_;  // cgihost's own account, for the spawn log line
  protocol::cgi::variables pass_through_;
};

}  // namespace cgihost::host
