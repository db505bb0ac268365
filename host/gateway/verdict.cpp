#include "host/gateway/verdict.hpp"

#include "host/gateway/response_relay.hpp"

namespace cgihost::host {

verdict classify(const exchange_facts& f) {
  using kind = verdict::kind;
  using cause = verdict::cause;
  using status = boost::beast::http::status;
  // A failure once a head went out cannot be answered: the response is cut.
  auto failed = [&](cause why, status s, bool timeout = false) {
    return verdict{f.head_sent ? kind::cut : kind::refuse, why, s, static_cast<unsigned>(s),
                   timeout};
  };
  if (f.how == ending::broken && f.may_retry && !f.got_bytes) return {kind::retry};
  if (f.how == ending::client_left) return {kind::client_left, cause::aborted, status::ok, 499};
  if (f.how == ending::timed_out) return failed(cause::timed_out, status::gateway_timeout, true);
  if (f.stderr_refused)
    return {kind::refuse, cause::stderr_written, status::internal_server_error, 500};
  // A refused head never went out: always an error page.
  if (f.rejected) return {kind::refuse, cause::rejected, status::bad_gateway, 502};
  if (f.client_failed) return {kind::client_left, cause::client_failed, status::ok, 499};
  if (f.nph) return {kind::ok, cause::nph};
  if (f.how == ending::broken) return failed(cause::broken, status::bad_gateway);
  if (f.local_redirect) return {kind::local_redirect, cause::none, status::ok, f.head_status};
  if (f.body_short) return failed(cause::body_short, status::bad_gateway);
  if (f.killed) return failed(cause::killed, status::bad_gateway);
  return {f.finished ? kind::ok : kind::finish_body, cause::none, status::ok, f.head_status};
}

void relay_facts(const response_relay& relay, const exchange& ex, exchange_facts& f) {
  f.rejected = relay.rejected();
  f.stderr_refused = relay.stderr_refused();
  f.client_failed = f.client_failed || relay.client_failed();
  f.nph = relay.nph();
  f.local_redirect = relay.head().kind == protocol::cgi::response_kind::local_redirect;
  f.body_short = relay.body_short();
  f.finished = relay.finished();
  f.head_sent = ex.head_sent();
  f.head_status = relay.head().status;
}

bool sends(const verdict& v) {
  using kind = verdict::kind;
  return v.what == kind::refuse || v.what == kind::local_redirect || v.what == kind::finish_body;
}

void settle(exchange& ex, const verdict& v, gateway_voice& voice) {
  if (v.what == verdict::kind::cut) {
    const refusal no = voice.refusal_for(v);
    if (!no.module_line.empty()) ex.log().log(no.module_level, "{}", no.module_line);
    return;
  }
  if (v.what != verdict::kind::retry) voice.note(v);
}

asio::awaitable<void> carry_out(exchange& ex, const verdict& v, const response_relay& relay,
                                gateway_voice& voice) {
  switch (v.what) {
    case verdict::kind::refuse:
      co_await answer(ex, voice.refusal_for(v));
      break;
    case verdict::kind::local_redirect:
      co_await ex.redispatch(relay.head().location);
      break;
    case verdict::kind::finish_body: {
      error_code ec;
      co_await ex.finish_body(ec);
      voice.note(v);
      break;
    }
    default:
      settle(ex, v, voice);
      break;
  }
}

}  // namespace cgihost::host
