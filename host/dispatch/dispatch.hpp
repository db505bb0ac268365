#pragma once
// The one dispatch every front shares (`cgihost serve`'s HTTP sessions,
// `cgihost try`): route → authenticate → request filtering → handler, with
// local redirects, the 404 and "the handler sent no response" written once.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "host/dispatch/auth.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/locate.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/dispatch/rewrites.hpp"
#include "host/dispatch/router.hpp"
#include "host/dispatch/site_roots.hpp"

namespace cgihost::host {

// The handler that serves a route: the modules, as host/app wired them.
class handler_table {
 public:
  // Never called for a route that is not_found or refused.
  virtual handler& for_route(const route& r) = 0;

 protected:
  ~handler_table() = default;
};

class dispatcher {
 public:
  // Keeps references to all three. `auth` null: requests keep the name the
  // front set (`try --user`), else they are anonymous. Opens the site's root
  // folders (site_roots) and compiles [[rewrites]] once; throws
  // std::system_error when a root folder cannot be opened.
  dispatcher(const config::config& cfg, handler_table& handlers, authenticator* auth);

  const host::router& router() const { return router_; }
  const site_roots& roots() const { return roots_; }
  // The authenticator, or null.
  authenticator* auth() const { return auth_; }

  // Serves the request the front put in `ex.state()` (head, target, id):
  // applies [[rewrites]] (a redirect is answered here; an internal rewrite
  // changes the normalized target, never the client's REQUEST_URI), routes
  // and locates it (default documents, fallbacks: locate.hpp), authenticates it unless it is the
  // status page (which checks addresses itself) or nothing is configured to authenticate, then runs
  // its handler. Every refusal on the way is answered (answer()); a handler that sent nothing is
  // answered 500. Exceptions a handler throws pass through to the front (a bug: the front logs it
  // and answers 500).
  asio::awaitable<void> serve(exchange& ex);

  // A CGI local redirect (RFC 3875 §6.2.2): the request becomes a GET of
  // `location` without its body, routed, located and run again (not
  // authenticated, nor rewritten, again). More than 10 hops, or a location that does not normalize:
  // 502.
  asio::awaitable<void> redispatch(exchange& ex, std::string location);

  // Who the request is: nullopt with the name set in `ex.state()`, or the
  // refusal (400 two Authorization fields, 401 with the challenge, 403 a
  // name [accounts] does not map).
  asio::awaitable<std::optional<refusal>> authenticate(exchange& ex);

 private:
  // The routed request to its handler: the 404s first (no handler, request
  // filtering, a location's deny), the 403 of `scripts = false`, then the handler.
  asio::awaitable<void> run_route(exchange& ex);

  // The first [[rewrites]] rule that takes the request, applied: true when
  // that answered it (a redirect, or a rewritten URL that does not normalize);
  // `note` says what an internal rewrite did.
  asio::awaitable<bool> rewrite(exchange& ex, std::string& note);

  // st.route for st.target: routed, then located (locate.hpp); the refusal
  // of a folder without a default document.
  std::optional<refusal> settle(request_state& st) const;

  const config::config& cfg_;
  host::router router_;
  site_roots roots_;
  locator locator_;
  rewriter rewriter_;
  handler_table& handlers_;
  authenticator* auth_;
};

}  // namespace cgihost::host
