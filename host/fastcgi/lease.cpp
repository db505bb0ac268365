#include "host/fastcgi/lease.hpp"

#include <boost/asio/this_coro.hpp>

namespace cgihost::host {
namespace {

namespace http = boost::beast::http;
using error_code = boost::system::error_code;

}  // namespace

bool may_retry(http::verb method, std::uint64_t length, bool spooled) {
  const bool idempotent = method == http::verb::get || method == http::verb::head ||
                          method == http::verb::options || method == http::verb::trace ||
                          method == http::verb::put || method == http::verb::delete_;
  return idempotent && (length == 0 || spooled);
}

bool lease::take_kept(const asio::any_io_executor& here) {
  sock_ = std::move(inst_->kept);
  // A remote server or an instance's pipe may have closed it meanwhile.
  if (sock_ && (pool_.remote() || is_pipe(*sock_)) && !still_open(*sock_)) sock_.reset();
  if (sock_ && home_of(sock_->get_executor()) != home_of(here))
    move_conn(sock_, here, pool_.protocol());
  reused_ = sock_ != nullptr;
  return reused_;
}

void lease::show(request_id rid, std::string_view method, std::string_view uri,
                 clock::time_point since) {
  request_facts facts{.rid = rid,
                      .method = method,
                      .uri = uri,
                      .account = pool_.remote() ? std::string() : pool_.account_name(),
                      .pid = pool_.remote() ? -1 : inst_->pid,
                      .slot = inst_->number,
                      .since = since};
  shown_.post(&pool_.board(), std::move(facts), run_phase::connecting);
}

asio::awaitable<std::optional<std::string>> lease::connect(clock::time_point deadline) {
  sock_ = std::make_unique<socket>(co_await asio::this_coro::executor);
  auto error = co_await pool_.connect(*inst_, *sock_, deadline);
  if (error) {
    given_back_ = true;
    shown_.take_down();
    pool_.release(inst_, fastcgi_pool::outcome::refused, nullptr);
  }
  co_return error;
}

void lease::keep() {
  if (std::exchange(given_back_, true)) return;
  shown_.take_down();  // before the instance may go to another request
  pool_.release(inst_, fastcgi_pool::outcome::ok, std::move(sock_));
}

void lease::give_back(fastcgi_pool::outcome how) {
  if (std::exchange(given_back_, true)) return;
  shown_.take_down();
  if (sock_) {
    error_code ignored;
    sock_->close(ignored);
  }
  pool_.release(inst_, how, nullptr);
}

}  // namespace cgihost::host
