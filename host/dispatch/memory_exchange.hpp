#pragma once
// An exchange without a connection: the request given whole (head fields and
// body as strings), the response kept in memory. `cgihost try` runs a
// request through it, and handler tests use it to run the dispatch and the
// modules without a server or a socket.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/dispatch/error_pages.hpp"
#include "host/dispatch/exchange.hpp"

namespace cgihost::host {

class memory_exchange : public exchange {
 public:
  // The request `method` `target_text` (its normalized form `target`) with
  // `fields` and `body` (Content-Length is the caller's to add), from
  // 127.0.0.1 to the first listen address of `cfg`; `user` set as if the
  // front had authenticated it. Keeps references to `cfg`, `log`. Reads the
  // pages of [errors] (error_pages::load: throws when one cannot be read).
  memory_exchange(const config::config& cfg, dispatcher& d, spdlog::logger& log, std::string method,
                  std::string target_text, std::vector<std::pair<std::string, std::string>> fields,
                  protocol::normalized_target target, std::string body = {},
                  std::optional<std::string> user = std::nullopt);

  // What was answered.
  unsigned status() const { return status_; }
  const http::response_header<>& head() const { return head_; }
  // The first bytes of the body (at most kKept) and how many there were.
  const std::string& body() const { return response_body_; }
  std::uint64_t body_total() const { return body_total_; }
  // The log reason of an error answer; its phase (gateway errors); whether
  // the 401 carried the Basic challenge. An error answer's head and body are
  // what a session sends (the page of [errors], Allow, Retry-After).
  const std::string& error_reason() const { return error_reason_; }
  const std::string& error_phase() const { return error_phase_; }
  bool challenged() const { return challenged_; }
  const std::vector<std::string>& redirects() const { return redirects_; }
  const std::string& identity() const { return identity_; }
  // finish_body was called (the response ended whole).
  bool finished() const { return finished_; }
  static constexpr std::size_t kKept = 4096;

  const config::config& settings() const override { return cfg_; }
  spdlog::logger& log() const override { return log_; }
  bool head_sent() const override { return status_ != 0; }
  const std::string& peer_address() const override { return peer_; }
  std::uint16_t peer_port() const override { return 0; }
  const std::string& local_address() const override { return local_; }
  std::uint16_t local_port() const override { return local_port_; }
  std::optional<std::uint64_t> body_length() const override;
  void set_identity(std::string who) override { identity_ = std::move(who); }
  void on_redirect(const std::string& location) override { redirects_.push_back(location); }

  asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) override;
  asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) override;
  asio::awaitable<void> write_response(http::response_header<>& head, asio::const_buffer first,
                                       error_code& ec) override;
  asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<void> finish_body(error_code& ec) override;
  asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) override;
  // Never: a memory exchange's client does not leave (completes when cancelled).
  asio::awaitable<bool> client_gone() override;

 protected:
  // Only answer() reaches it, through exchange's send_* (exchange.hpp).
  asio::awaitable<void> send_error_page(http::status status, std::string_view reason,
                                        const error_answer& extra) override;

 private:
  const config::config& cfg_;
  spdlog::logger& log_;
  error_pages pages_;
  std::string method_;
  std::string target_text_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::string body_;
  std::size_t body_pos_ = 0;
  std::string peer_ = "127.0.0.1";
  std::string local_ = "127.0.0.1";
  std::uint16_t local_port_ = 80;
  std::string identity_;
  unsigned status_ = 0;
  http::response_header<> head_;
  std::string response_body_;
  std::uint64_t body_total_ = 0;
  std::string error_reason_;
  std::string error_phase_;
  std::chrono::seconds retry_after_{5};
  bool challenged_ = false;
  bool finished_ = false;
  std::vector<std::string> redirects_;
};

}  // namespace cgihost::host
