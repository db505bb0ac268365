#pragma once
// One FastCGI request as the exchange a handler answers: its head from
// PARAMS (fcgi_params.hpp), its body from STDIN records (held at most
// fcgi_connection::kStdinWindow at a time in memory; past that, while other
// requests are live on the connection, in a temporary file), its response
// as CGI output in STDOUT records (a Status line and the fields; the web
// server makes the HTTP response of it), its access log line.

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/fcgi_front/fcgi_params.hpp"
#include "host/http/session_host.hpp"
#include "spawner/files.hpp"

namespace cgihost::host {

class fcgi_connection;

class fcgi_request final : public exchange {
 public:
  using clock = std::chrono::steady_clock;

  fcgi_request(fcgi_connection& c, std::uint16_t fcgi_id, bool keep_conn);

  // The head from the PARAMS stream; a refusal to answer instead of
  // dispatching (400, 403, 413, 431), or nullopt.
  std::optional<refusal> take_params(const protocol::fcgi::name_values& params);

  // The reader's side. With `may_spill` (other requests are live on the
  // connection) the bytes past kStdinWindow go to a temporary file instead
  // of holding the reader back; once some are there, the next ones follow
  // them, so that read_body hands them over in order.
  void stdin_data(std::string_view d, bool may_spill);
  void stdin_end();
  // ABORT_REQUEST, or the connection ended: the body fails and client_gone() completes.
  void abort();
  std::size_t held() const { return stdin_.size() - stdin_pos_; }
  // STDIN bytes the handler has not taken, in memory and in the file.
  std::uint64_t pending() const { return held() + spilled(); }
  bool keep_conn() const { return keep_conn_; }
  bool aborted() const { return aborted_; }
  bool started() const { return started_; }
  void mark_started() { started_ = true; }
  std::uint16_t fcgi_id() const { return fcgi_id_; }

  // The end of STDOUT and END_REQUEST (request_complete).
  asio::awaitable<void> finish(error_code& ec);
  void log_access() const;

  const config::config& settings() const override;
  const served& served_by() const { return *gen_; }
  spdlog::logger& log() const override;
  bool head_sent() const override { return head_sent_; }
  const std::string& peer_address() const override { return peer_address_; }
  std::uint16_t peer_port() const override { return peer_port_; }
  const std::string& local_address() const override { return local_address_; }
  std::uint16_t local_port() const override { return local_port_; }
  void set_identity(std::string who) override { identity_ = std::move(who); }
  void complete_client(host::client& c) const override;

  std::optional<std::uint64_t> body_length() const override;
  asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) override;
  asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) override;
  asio::awaitable<void> write_response(http::response_header<>& head, asio::const_buffer first,
                                       error_code& ec) override;
  asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<void> finish_body(error_code& ec) override;
  asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) override;
  asio::awaitable<bool> client_gone() override;

 protected:
  asio::awaitable<void> send_error_page(http::status status, std::string_view reason,
                                        const error_answer& extra) override;

 private:
  std::uint64_t spilled() const { return spill_in_ - spill_out_; }
  void spill(std::string_view d);
  // Up to `size` bytes of what is held in memory, else of the file.
  std::size_t take_stdin(void* data, std::size_t size, error_code& ec);
  std::optional<refusal> check_head();
  std::optional<refusal> check_user();
  // `data` as STDOUT records.
  asio::awaitable<void> send_stdout(std::string_view data, error_code& ec);
  // The nph output's status line as a Status field, once it is whole.
  asio::awaitable<void> raw_status_line(error_code& ec);

  fcgi_connection& c_;
  // The config the request began under, held until it ends.
  std::shared_ptr<const served> gen_;
  std::uint16_t fcgi_id_;
  bool keep_conn_;
  clock::time_point started_at_;
  std::int64_t arrived_;
  fcgi_params p_;
  std::string peer_address_, local_address_;
  std::uint16_t peer_port_ = 0, local_port_ = 0;
  std::string request_line_;
  std::string identity_;
  std::string stdin_;
  std::size_t stdin_pos_ = 0;
  std::uint64_t body_read_ = 0;
  spawner::spool_file spill_;  // open while it holds bytes not yet taken
  std::uint64_t spill_in_ = 0, spill_out_ = 0;
  std::uint64_t spilled_total_ = 0;
  std::error_code spill_error_;
  bool spill_over_limit_ = false;  // bytes past CONTENT_LENGTH were dropped
  bool stdin_ended_ = false;
  bool aborted_ = false;
  bool started_ = false;
  asio::steady_timer body_wake_;  // cancelled on STDIN bytes, its end, or an abort
  asio::steady_timer gone_wake_;  // cancelled on an abort
  bool head_sent_ = false;
  bool body_allowed_ = true;  // false for HEAD and bodyless statuses
  bool finished_ = false;
  bool failed_ = false;
  bool raw_ = false;
  std::string raw_line_;  // nph: the status line until its end
  unsigned status_ = 0;
  std::optional<std::uint64_t> expected_;
  std::uint64_t written_ = 0;
};

}  // namespace cgihost::host
