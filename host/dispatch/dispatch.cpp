#include "host/dispatch/dispatch.hpp"

#include "host/dispatch/methods.hpp"

namespace cgihost::host {

dispatcher::dispatcher(const config::config& cfg, handler_table& handlers, authenticator* auth)
    : cfg_(cfg),
      router_(cfg),
      roots_(cfg),
      locator_(cfg, router_, roots_),
      rewriter_(cfg),
      handlers_(handlers),
      auth_(auth) {}

asio::awaitable<void> exchange::redispatch(std::string location) {
  co_await dispatcher_->redispatch(*this, std::move(location));
}

std::optional<refusal> dispatcher::settle(request_state& st) const {
  st.route = router_.resolve(st.target.path);
  return locator_.locate(st.target.path, st.route);
}

asio::awaitable<void> dispatcher::serve(exchange& ex) {
  resolve_client(ex, cfg_.proxy);
  auto& st = ex.state();
  std::string rewritten;
  if (!rewriter_.empty() && co_await rewrite(ex, rewritten)) co_return;
  auto no_file = settle(st);
  if (!rewritten.empty())
    st.route.chosen_by =
        rewritten + (st.route.chosen_by.empty() ? "" : "; then " + st.route.chosen_by);
  if (!st.route.chosen_by.empty())
    ex.log().debug("[http] rid={} {}", ex.id().str(), st.route.chosen_by);
  if (st.route.not_found) {
    co_await answer(ex, make_refusal(http::status::not_found, "route.none",
                                     "no handler matches and [static] enabled = false"));
  } else {
    // With no authentication configured, every request is anonymous: no
    // coroutine for it per request.
    std::optional<refusal> no;
    // A name the front authenticated (a web server's REMOTE_USER under
    // [fastcgi] trust_remote_user) is not asked again.
    if (!st.route.status && auth_ && auth_->active() && !st.user) no = co_await authenticate(ex);
    if (no)
      co_await answer(ex, *no);
    else if (no_file)
      co_await answer(ex, *no_file);
    else
      co_await run_route(ex);
  }
  if (!ex.head_sent() && !st.client_left)
    co_await answer(ex, make_refusal(http::status::internal_server_error, "handler.no_response",
                                     "handler sent no response"));
}

asio::awaitable<std::optional<refusal>> dispatcher::authenticate(exchange& ex) {
  const connection_ends ends{ex.peer_port(), ex.local_address(), ex.local_port()};
  auto a = co_await auth_->authenticate(ex.request(), ex.peer_address(), &ends);
  using kind = authenticator::outcome::kind;
  refusal no;
  switch (a.what) {
    case kind::anonymous:
      co_return std::nullopt;
    case kind::authenticated:
      // A token IIS forwarded is its own user's identity (IIS starts CGI
      // with it); every other name must be mapped.
      if (!a.token_identity && !cfg_.accounts.contains(a.user)) {
        no.status = http::status::forbidden;
        no.code = "auth.no_account";
        no.reason = "authenticated as \"" + a.user + "\" (" + a.reason +
                    "), but [accounts] maps that name to no OS account";
        co_return no;
      }
      ex.log().debug("[auth] rid={} {} authenticated by {}", ex.id().str(), a.user, a.reason);
      ex.state().user = std::move(a.user);
      ex.state().auth_type = std::move(a.auth_type);
      if (a.token_identity)
        ex.state().token_identity =
            std::make_shared<const spawner::identity>(std::move(*a.token_identity));
      co_return std::nullopt;
    case kind::challenge:
      no.status = http::status::unauthorized;
      no.code = "auth.challenge";
      no.challenge = true;
      break;
    case kind::forbidden:
      no.status = http::status::forbidden;
      no.code = "auth.forbidden";
      break;
    case kind::bad_request:
      no.status = http::status::bad_request;
      no.code = "auth.bad_request";
      break;
    case kind::unauthorized:
      no.status = http::status::unauthorized;
      no.code = "auth.unauthorized";
      break;
  }
  no.reason = std::move(a.reason);
  co_return no;
}

asio::awaitable<void> dispatcher::run_route(exchange& ex) {
  const route& r = ex.route();
  if (r.not_found) {
    co_await answer(ex, make_refusal(http::status::not_found, "route.none",
                                     "no handler matches and [static] enabled = false"));
    co_return;
  }
  if (!r.refused.empty()) {
    // 404, so that nothing says whether it exists; the log line names the rule.
    refusal no;
    no.status = http::status::not_found;
    no.code = r.refused_code.empty() ? "filter.refused" : r.refused_code;
    no.reason = "refused by " + r.refused;
    no.module_line = "[filter] rid=" + ex.id().str() + " 404 " + std::string(ex.request().method) +
                     " " + ex.target().path + ": " + r.refused;
    no.module_level = spdlog::level::info;
    co_await answer(ex, no);
    co_return;
  }
  if (!r.forbidden.empty()) {
    refusal no = make_refusal(http::status::forbidden, "location.scripts_off", r.forbidden);
    no.module_line = "[filter] rid=" + ex.id().str() + " 403 " + std::string(ex.request().method) +
                     " " + ex.target().path + ": " + r.forbidden;
    no.module_level = spdlog::level::info;
    co_await answer(ex, no);
    co_return;
  }
  if (auto no = check_method(r, ex.request().method)) co_return co_await answer(ex, *no);
  co_await handlers_.for_route(r).handle(ex);
}

asio::awaitable<bool> dispatcher::rewrite(exchange& ex, std::string& note) {
  auto& st = ex.state();
  auto missing = [&] {
    route r = router_.resolve(st.target.path);
    r.root_fd = roots_.fd_for(r);
    return !locator_.exists(st.target.path, r);
  };
  auto out = rewriter_.apply(st.target, missing);
  if (!out.rule) co_return false;
  const config::rewrite& rule = *out.rule;
  const std::string from = st.target.path + (st.target.has_query ? "?" + st.target.query : "");
  if (rule.redirect) {
    ex.log().debug("[rewrite] rid={} {} -> {} {} (rule {})", ex.id().str(), from, rule.redirect,
                   out.target, rule.where);
    http::response_header<> head;
    head.result(static_cast<http::status>(rule.redirect));
    head.set(http::field::location, out.target);
    head.set(http::field::content_length, "0");
    error_code ec;
    co_await ex.write_head(head, ec);
    co_return true;
  }
  auto normalized = protocol::normalize_target(out.target);
  if (!normalized) {
    refusal no = make_refusal(http::status::internal_server_error, "rewrite.bad_target",
                              "rewrite rule " + rule.where + " made \"" + out.target + "\" of " +
                                  from + ", which is refused: " + normalized.error().message());
    no.module_line = "[rewrite] rid=" + ex.id().str() + " 500: " + no.reason;
    co_await answer(ex, no);
    co_return true;
  }
  ex.log().debug("[rewrite] rid={} {} -> {} (rule {})", ex.id().str(), from, out.target,
                 rule.where);
  note = "rewrite " + rule.where + ": " + from + " -> " + out.target;
  st.target = std::move(*normalized);
  co_return false;
}

asio::awaitable<void> dispatcher::redispatch(exchange& ex, std::string location) {
  auto& st = ex.state();
  if (ex.head_sent()) {
    // Not reached by the modules (a redirect has no head of its own); the
    // exchange counts the response as cut.
    co_await answer(ex, make_refusal(http::status::bad_gateway, "redirect.after_head",
                                     "local redirect to " + location + " after the response head"));
    co_return;
  }
  if (++st.hops > 10) {
    co_await answer(ex, make_refusal(http::status::bad_gateway, "redirect.too_many",
                                     "more than 10 local redirects, the last to " + location));
    co_return;
  }
  auto normalized = protocol::normalize_target(location);
  if (!normalized) {
    co_await answer(ex, make_refusal(http::status::bad_gateway, "redirect.refused",
                                     "local redirect to \"" + location +
                                         "\" refused: " + normalized.error().message()));
    co_return;
  }
  ex.on_redirect(location);
  // The new request: a GET of the location, without the original body.
  st.storage.push_back(location);
  st.head.method = "GET";
  st.head.target = st.storage.back();
  for (auto name : {"Content-Length", "Content-Type", "Transfer-Encoding"})
    st.head.fields.erase(name);
  st.redirected = true;
  st.target = std::move(*normalized);
  auto no_file = settle(st);
  ex.log().debug("[http] rid={} local redirect to {}", ex.id().str(), location);
  if (no_file)
    co_await answer(ex, *no_file);
  else
    co_await run_route(ex);
}

}  // namespace cgihost::host
