#pragma once
// The exchange a handler sees for one request of an HTTP session, backed by
// the session's stream and parser: HTTP/1.x framing (Content-Length, chunked,
// the end of the connection), HEAD, 100-continue, nph pass-through, error
// pages and the access log line. Private to host/http: the session builds
// one per request.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/http/http_request.hpp"
#include "host/http/session_host.hpp"

namespace cgihost::host {

class http_session;

class session_exchange final : public exchange {
 public:
  using clock = std::chrono::steady_clock;

  // The request the session's parser holds, whose target is `target`,
  // served under `gen` (held until the exchange ends).
  session_exchange(http_session& s, std::shared_ptr<const served> gen,
                   protocol::normalized_target target, request_id id, clock::time_point started,
                   std::int64_t arrived);

  const config::config& settings() const override;
  const served& served_by() const { return *gen_; }
  spdlog::logger& log() const override;
  bool head_sent() const override { return phase_ != progress::before_head; }
  const std::string& peer_address() const override;
  std::uint16_t peer_port() const override;
  const std::string& local_address() const override;
  std::uint16_t local_port() const override;
  void set_identity(std::string who) override { identity_ = std::move(who); }

  std::optional<std::uint64_t> body_length() const override;
  asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) override;
  asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) override;
  asio::awaitable<void> write_response(http::response_header<>& head, asio::const_buffer first,
                                       error_code& ec) override;
  asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<void> write_last(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<void> finish_body(error_code& ec) override;
  // A body of at least kSendfileMin bytes under Content-Length goes by
  // sendfile(2), straight from the page cache; smaller ones as the default
  // (one gather write of head and body).
  asio::awaitable<file_read> write_file(http::response_header<>& head, file_part part,
                                        error_code& ec) override;
  asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<bool> client_gone() override;

  // True when the response went out whole and the connection may carry another.
  bool complete() const;
  bool keep_alive() const { return keep_alive_ && framing_ != framing::raw; }
  // True when the client waits for "100 Continue" that was never sent: its
  // body will not come, so the connection cannot be reused.
  bool awaiting_continue() const;
  void log_access() const;

 protected:
  // Only answer() reaches it, through exchange's send_* (exchange.hpp).
  asio::awaitable<void> send_error_page(http::status status, std::string_view reason,
                                        const error_answer& extra) override;

 private:
  // Where the response is: nothing sent; head sent, body going; ended whole;
  // failed (a write failed, or the handler broke the framing: cut).
  enum class progress { before_head, sending, finished, failed };
  // How the body's end is told: Content-Length, chunked, the connection's
  // end (HTTP/1.0 without a length), no body (HEAD, 204, 304, 1xx), or nph
  // bytes passed on as they are.
  enum class framing { length, chunked, until_close, none, raw };

  // Fills Server, Date, Connection and the framing fields; decides keep-alive.
  void prepare_head(http::response_header<>& head);
  template <class Buffers>
  asio::awaitable<void> send(const Buffers& buffers, error_code& ec);
  // The chunk framing around `n` bytes when the response is chunked; empty otherwise.
  asio::const_buffer chunk_prefix(std::size_t n, char (&buf)[24]) const;
  asio::const_buffer chunk_suffix() const;
  // `part` after the head went out, by sendfile(2); waits for the socket
  // within send_timeout for each 64 KiB, as send() does for each write.
  asio::awaitable<file_read> send_file_body(file_part part, error_code& ec);
  // Never send more than the head announced: that would corrupt the next response.
  bool check_length(std::size_t more, error_code& ec);

  http_session& s_;
  std::shared_ptr<const served> gen_;
  clock::time_point started_;
  std::int64_t arrived_;
  std::string identity_;
  std::optional<head_refusal> refused_;  // the request body was refused: the answer
  error_code refused_error_;
  bool continue_sent_ = false;
  bool keep_alive_ = true;
  progress phase_ = progress::before_head;
  framing framing_ = framing::until_close;
  unsigned status_ = 0;
  std::optional<std::uint64_t> expected_;
  std::uint64_t written_ = 0;
};

}  // namespace cgihost::host
