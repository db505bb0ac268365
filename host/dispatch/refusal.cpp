#include "host/dispatch/refusal.hpp"

#include "host/dispatch/exchange.hpp"

namespace cgihost::host {

asio::awaitable<void> answer(exchange& ex, const refusal& no) {
  if (!no.module_line.empty()) ex.log().log(no.module_level, "{}", no.module_line);
  if (no.challenge) {
    co_await ex.send_unauthorized(no.reason);
  } else if (!no.phase.empty() || no.retry_after) {
    co_await ex.send_gateway_error(no.status, no.phase, no.reason, no.dev_detail, no.retry_after);
  } else {
    co_await ex.send_error(no.status, no.reason, no.dev_detail, no.allow);
  }
}

}  // namespace cgihost::host
