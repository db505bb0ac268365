#pragma once
// What the CGI and FastCGI exchanges share: finding the script, getting the
// request body's length (spooling a chunked one), and the CGI variables.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/refusal.hpp"
#include "protocol/cgi_env.hpp"
#include "spawner/files.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

inline constexpr std::size_t kGatewayBuffer = 64 * 1024;  // per direction, per request

// A kGatewayBuffer-sized buffer, taken from a small free list of the calling
// thread and given back to it: a session stays on one io thread, and a request
// then costs no 64 KiB allocation (nor the heap trimming its free causes).
// A bound on things running at once (CGI children), shared by io threads:
// a request waits its turn, first come first served, until a deadline.
class run_limit {
 public:
  explicit run_limit(std::size_t max) : max_(max) {}
  run_limit(const run_limit&) = delete;
  run_limit& operator=(const run_limit&) = delete;
  // True once there is room (counted: give it back with release()); false at
  // `deadline`.
  asio::awaitable<bool> acquire(std::chrono::steady_clock::time_point deadline);
  // True when there is room now, with no one waiting (counted, as by
  // acquire()); false, and nothing counted, otherwise.
  bool try_acquire();
  void release();
  std::size_t max() const { return max_; }

 private:
  struct waiter;
  std::mutex mu_;
  const std::size_t max_;
  std::size_t running_ = 0;
  std::deque<std::shared_ptr<waiter>> waiting_;
};

class gateway_buffer {
 public:
  gateway_buffer();
  ~gateway_buffer();
  gateway_buffer(const gateway_buffer&) = delete;
  gateway_buffer& operator=(const gateway_buffer&) = delete;
  char* data() const { return p_.get(); }

 private:
  std::unique_ptr<char[]> p_;
};

// The body's length. A chunked body is first spooled to an unnamed file in
// `spool` (CGI and PHP need CONTENT_LENGTH; http.max_body_size bounds it).
// Refusals: 413 body.too_large, 400 body.refused (framing, cut short), 500
// body.spool.
asio::awaitable<checked<std::uint64_t>> body_length_or_spool(exchange& ex,
                                                             spawner::spool_file& spool);

// The request body as a program is fed it: from the spool that holds it
// (a chunked body, counted first), else from the client through the exchange.
class body_source {
 public:
  // Keeps references to both.
  body_source(exchange& ex, const spawner::spool_file& spool) : ex_(ex), spool_(spool) {}
  // Up to `size` bytes into `buf`; 0 at the body's end. `ec` when the
  // client's body failed (gone, too slow, refused); a spool that cannot be
  // read ends the body there, as its end would.
  asio::awaitable<std::size_t> read(char* buf, std::size_t size, error_code& ec);

 private:
  exchange& ex_;
  const spawner::spool_file& spool_;
  std::uint64_t offset_ = 0;
};

// Whether HTTP_AUTHORIZATION reaches the script of route `r` (Apache
// CGIPassAuth): the location's pass_authorization when it sets one; else
// never for a request cgihost authenticated with Basic (`auth_type`), so
// the password it checked stays with it; else the module's ([cgi], or the
// handler's [pools.NAME]).
bool passes_authorization(const route& r, const config::config& cfg, std::string_view auth_type);

// Adds the location's env (r.env) to `vars`, the variables built for the
// request: a name already there keeps the request's own value (REMOTE_USER,
// SCRIPT_FILENAME, HTTP_*... are never replaced: a debug line says so),
// except the host's defaults in `pass_through` (PATH, LANG...), which it
// replaces.
void add_location_env(protocol::cgi::variables& vars, const route& r,
                      const protocol::cgi::variables& pass_through, exchange& ex);

// The CGI variables of the request (the environment of a CGI child, the
// PARAMS of a FastCGI request), from protocol/'s one builder: the client as
// the dispatch resolved it (REMOTE_ADDR, HTTPS... of a trusted proxy's
// client), DOCUMENT_ROOT the route's (a location's root) or document_root,
// HTTP_AUTHORIZATION as passes_authorization says, then the location's env.
protocol::cgi::variables request_variables(exchange& ex, const config::config& cfg,
                                           const std::string& script_path, std::uint64_t length,
                                           const std::optional<std::string>& user,
                                           const protocol::cgi::variables& pass_through);

// The host's environment as children may see it: a fixed PATH, and LANG,
// LC_ALL and TZ when set.
protocol::cgi::variables pass_through_environment();

}  // namespace cgihost::host
