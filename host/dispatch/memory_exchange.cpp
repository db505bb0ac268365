#include "host/dispatch/memory_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

namespace cgihost::host {

memory_exchange::memory_exchange(const config::config& cfg, dispatcher& d, spdlog::logger& log,
                                 std::string method, std::string target_text,
                                 std::vector<std::pair<std::string, std::string>> fields,
                                 protocol::normalized_target target, std::string body,
                                 std::optional<std::string> user)
    : exchange(&d),
      cfg_(cfg),
      log_(log),
      pages_(error_pages::load(cfg)),
      method_(std::move(method)),
      target_text_(std::move(target_text)),
      fields_(std::move(fields)),
      body_(std::move(body)) {
  auto& st = state();
  st.head.method = method_;
  st.head.target = target_text_;
  st.head.version = 11;
  for (const auto& [name, value] : fields_) st.head.fields.add(name, value);
  st.target = std::move(target);
  st.id = request_id::next();
  st.user = std::move(user);
  if (!cfg.listen.empty()) {
    local_ = cfg.listen[0].address;
    local_port_ = cfg.listen[0].port;
  }
}

std::optional<std::uint64_t> memory_exchange::body_length() const {
  return redirected() ? 0 : body_.size();
}

asio::awaitable<std::size_t> memory_exchange::read_body(void* data, std::size_t size,
                                                        error_code& ec) {
  ec = {};
  if (redirected()) co_return 0;
  std::size_t n = std::min(size, body_.size() - body_pos_);
  std::memcpy(data, body_.data() + body_pos_, n);
  body_pos_ += n;
  co_return n;
}

asio::awaitable<void> memory_exchange::write_head(http::response_header<>& head, error_code& ec) {
  ec = {};
  status_ = head.result_int();
  head_ = head;
  co_return;
}

asio::awaitable<void> memory_exchange::write_response(http::response_header<>& head,
                                                      asio::const_buffer first, error_code& ec) {
  co_await write_head(head, ec);
  co_await write_body(first, ec);
}

asio::awaitable<void> memory_exchange::write_body(asio::const_buffer data, error_code& ec) {
  ec = {};
  body_total_ += data.size();
  if (response_body_.size() < kKept)
    response_body_.append(static_cast<const char*>(data.data()),
                          std::min<std::size_t>(data.size(), kKept - response_body_.size()));
  co_return;
}

asio::awaitable<void> memory_exchange::finish_body(error_code& ec) {
  ec = {};
  finished_ = status_ != 0;
  co_return;
}

asio::awaitable<void> memory_exchange::write_raw(asio::const_buffer data, error_code& ec) {
  if (status_ == 0) status_ = 200;
  co_await write_body(data, ec);
}

asio::awaitable<void> memory_exchange::send_error_page(http::status status, std::string_view reason,
                                                       const error_answer& extra) {
  error_reason_ = std::string(reason);
  if (extra.challenge) challenged_ = status_ == 0 && cfg_.authentication.basic;
  error_phase_ = std::string(extra.phase);
  retry_after_ = extra.retry_after.value_or(std::chrono::seconds(5));
  if (status_ != 0) co_return;
  // The head and body a session would send (session_exchange::send_error_page).
  const auto page =
      pages_.render(status, cfg_.dev_mode ? extra.dev_detail : std::string_view{}, error_phase_);
  http::response_header<> head;
  head.result(status);
  head.set(http::field::content_type, page.content_type);
  head.set(http::field::content_length, std::to_string(page.body.size()));
  if (status == http::status::method_not_allowed)
    head.set(http::field::allow, extra.allow.empty() ? "GET, HEAD" : extra.allow);
  if (status == http::status::service_unavailable)
    head.set(http::field::retry_after, std::to_string(retry_after_.count()));
  error_code ec;
  co_await write_head(head, ec);
  if (!request().is_head()) co_await write_body(asio::buffer(page.body), ec);
  finished_ = true;
}

asio::awaitable<bool> memory_exchange::client_gone() {
  asio::steady_timer forever(co_await asio::this_coro::executor,
                             std::chrono::steady_clock::time_point::max());
  co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return false;
}

}  // namespace cgihost::host
