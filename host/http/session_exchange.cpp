#include "host/http/session_exchange.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <charconv>
#include <cstdio>

#ifdef __linux__
#include <sys/sendfile.h>
#include <sys/socket.h>
#endif

#include "host/http/http_session.hpp"
#include "host/http/response_head.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

bool expects_continue(const http::request_header<>& req) {
  return req.version() == 11 && protocol::iequals(req[http::field::expect], "100-continue");
}

}  // namespace

session_exchange::session_exchange(http_session& s, std::shared_ptr<const served> gen,
                                   protocol::normalized_target target, request_id id,
                                   clock::time_point started, std::int64_t arrived)
    : exchange(&gen->dispatch), s_(s), gen_(std::move(gen)), started_(started), arrived_(arrived) {
  const auto& req = s_.reader_.parser().get();
  auto& st = state();
  st.head.method = req.method_string();
  st.head.target = req.target();
  st.head.version = req.version();
  st.head.fields.reserve(16);
  for (const auto& f : req) st.head.fields.add(f.name_string(), f.value());
  st.target = std::move(target);
  st.id = id;
}

const config::config& session_exchange::settings() const { return gen_->settings; }
spdlog::logger& session_exchange::log() const { return *s_.server_.log().error; }
const std::string& session_exchange::peer_address() const { return s_.peer_; }
std::uint16_t session_exchange::peer_port() const { return s_.peer_port_; }
const std::string& session_exchange::local_address() const { return s_.local_; }
std::uint16_t session_exchange::local_port() const { return s_.local_port_; }

std::optional<std::uint64_t> session_exchange::body_length() const {
  if (redirected()) return 0;
  const auto& p = s_.reader_.parser();
  if (p.chunked()) return std::nullopt;
  return p.content_length().value_or(0);
}

asio::awaitable<std::size_t> session_exchange::read_body(void* data, std::size_t size,
                                                         error_code& ec) {
  ec = {};
  auto& reader = s_.reader_;
  if (refused_) {
    ec = refused_error_;
    co_return 0;
  }
  if (redirected() || reader.parser().is_done() || size == 0) co_return 0;
  if (!continue_sent_ && expects_continue(reader.parser().get())) {
    continue_sent_ = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    s_.within(settings().http.send_timeout);
    auto [wec, wn] = co_await asio::async_write(s_.socket_, asio::buffer(kContinue), nothrow);
    s_.done_waiting();
    if (wec) {
      ec = wec;
      co_return 0;
    }
  }
  while (true) {
    std::size_t got = 0;
    auto step = reader.parse_body(data, size, got);
    if (step == request_reader::step::ready) co_return got;
    if (step == request_reader::step::need_more) {
      s_.within(settings().http.body_timeout);
      auto [rec, rn] = co_await s_.socket_.async_read_some(reader.prepare(), nothrow);
      s_.done_waiting();
      if (!rec) {
        reader.commit(rn);
        continue;
      }
      if (rec != asio::error::eof) {
        ec = rec;
        co_return 0;
      }
      step = reader.end_of_input();
    }
    // The body broke a limit or the framing: whatever the handler does
    // with the error, the client is answered with this refusal
    // (send_error_page) unless a response has already started.
    refused_ = reader.why();
    refused_error_ = ec = reader.error();
    keep_alive_ = false;
    co_return 0;
  }
}

asio::awaitable<void> session_exchange::write_head(http::response_header<>& head, error_code& ec) {
  co_await write_response(head, asio::const_buffer{}, ec);
}

void session_exchange::prepare_head(http::response_header<>& head) {
  const auto& req = request();
  head.version(req.version == 10 ? 10 : 11);
  head.set(http::field::server, "cgihost/" CGIHOST_VERSION);
  head.set(http::field::date, current_http_date());
  head.erase(http::field::transfer_encoding);
  if (auto cl = head.find(http::field::content_length); cl != head.end()) {
    std::uint64_t n = 0;
    auto v = cl->value();
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc{}) expected_ = n;
  }
  const auto status = head.result_int();
  const bool bodyless = status == 304 || status == 204 || status < 200;
  if (bodyless) {
    expected_ = 0;
    head.erase(http::field::content_length);
  }
  // Without a length: chunked on HTTP/1.1, the end of the connection on 1.0.
  const bool chunked = !expected_ && !bodyless && head.version() == 11;
  if (chunked) head.set(http::field::transfer_encoding, "chunked");
  framing_ = req.is_head() || bodyless ? framing::none
             : expected_               ? framing::length
             : chunked                 ? framing::chunked
                                       : framing::until_close;
  keep_alive_ = keep_alive_ && s_.reader_.parser().keep_alive() && !s_.stop_requested_ &&
                !s_.server_.stopping() && s_.requests_ < settings().http.max_keepalive_requests &&
                (expected_.has_value() || bodyless || chunked);
  set_connection(head, keep_alive_);
  status_ = status;
  phase_ = progress::sending;
}

asio::awaitable<void> session_exchange::write_response(http::response_header<>& head,
                                                       asio::const_buffer first, error_code& ec) {
  ec = {};
  prepare_head(head);
  const std::string text = serialize_head(head);
  if (framing_ == framing::none || first.size() == 0) {
    co_await send(std::array<asio::const_buffer, 1>{asio::buffer(text)}, ec);
    co_return;
  }
  if (!check_length(first.size(), ec)) co_return;
  // Head and first bytes in one gather write: one system call for a small response.
  char size_line[24];
  std::array<asio::const_buffer, 4> parts{asio::buffer(text), chunk_prefix(first.size(), size_line),
                                          first, chunk_suffix()};
  co_await send(parts, ec);
  if (!ec) written_ += first.size();
}

asio::awaitable<void> session_exchange::write_body(asio::const_buffer data, error_code& ec) {
  ec = {};
  if (phase_ == progress::before_head || phase_ == progress::failed || framing_ == framing::raw) {
    ec = asio::error::not_connected;
    co_return;
  }
  if (framing_ == framing::none || data.size() == 0) co_return;
  if (!check_length(data.size(), ec)) co_return;
  char size_line[24];
  std::array<asio::const_buffer, 3> parts{chunk_prefix(data.size(), size_line), data,
                                          chunk_suffix()};
  co_await send(parts, ec);
  if (!ec) written_ += data.size();
}

asio::awaitable<void> session_exchange::write_last(asio::const_buffer data, error_code& ec) {
  ec = {};
  if (framing_ != framing::chunked || data.size() == 0 || phase_ != progress::sending) {
    co_await write_body(data, ec);
    if (!ec) co_await finish_body(ec);
    co_return;
  }
  char size_line[24];
  // The chunk's CRLF, then the last chunk: the data and the end in one write.
  static constexpr std::string_view kLast = "\r\n0\r\n\r\n";
  std::array<asio::const_buffer, 3> parts{chunk_prefix(data.size(), size_line), data,
                                          asio::buffer(kLast)};
  co_await send(parts, ec);
  if (!ec) {
    written_ += data.size();
    phase_ = progress::finished;
  }
}

asio::awaitable<void> session_exchange::finish_body(error_code& ec) {
  ec = {};
  if (phase_ == progress::failed) {
    ec = asio::error::not_connected;
    co_return;
  }
  if (phase_ != progress::sending) co_return;
  if (framing_ == framing::chunked) {
    static constexpr std::string_view kLast = "0\r\n\r\n";
    co_await send(std::array<asio::const_buffer, 1>{asio::buffer(kLast)}, ec);
  }
  if (!ec) phase_ = progress::finished;
}

asio::awaitable<void> session_exchange::write_raw(asio::const_buffer data, error_code& ec) {
  ec = {};
  if (phase_ != progress::before_head && framing_ != framing::raw) {
    ec = asio::error::already_connected;
    co_return;
  }
  if (framing_ != framing::raw) {
    framing_ = framing::raw;
    phase_ = progress::sending;
    keep_alive_ = false;
    status_ = 200;  // nph: the script's own status line is not parsed
  }
  if (data.size() == 0) co_return;
  co_await send(std::array<asio::const_buffer, 1>{data}, ec);
  if (!ec) written_ += data.size();
}

asio::awaitable<void> session_exchange::send_error_page(http::status status,
                                                        std::string_view reason,
                                                        const error_answer& extra) {
  std::string_view dev_detail = extra.dev_detail, phase = extra.phase;
  if (refused_) {
    // The request body was refused (read_body): that is the answer, not
    // the handler's view of the failed read.
    status = refused_->status;
    reason = refused_->reason;
    dev_detail = phase = {};
  }
  const auto code = static_cast<unsigned>(status);
  const auto level = code >= 500   ? spdlog::level::warn
                     : code == 404 ? spdlog::level::debug
                                   : spdlog::level::info;
  log().log(level, "[http] rid={} {} {} {}: {}", id().str(), code, request().method, target().path,
            reason);
  if (head_sent()) {
    phase_ = progress::failed;
    co_return;
  }
  const auto page =
      gen_->pages.render(status, settings().dev_mode ? dev_detail : std::string_view{}, phase);
  http::response_header<> head;
  head.result(status);
  if (extra.challenge && status == http::status::unauthorized && settings().authentication.basic)
    head.set(http::field::www_authenticate, gen_->dispatch.auth()->challenge());
  head.set(http::field::content_type, page.content_type);
  head.set(http::field::content_length, std::to_string(page.body.size()));
  if (status == http::status::method_not_allowed)
    head.set(http::field::allow, extra.allow.empty() ? "GET, HEAD" : extra.allow);
  if (status == http::status::service_unavailable)
    head.set(http::field::retry_after,
             std::to_string(extra.retry_after ? extra.retry_after->count() : 5));
  error_code ec;
  co_await write_response(head, asio::buffer(page.body), ec);
}

asio::awaitable<bool> session_exchange::client_gone() {
  auto& sock = s_.socket_;
  if (s_.reader_.buffered() == 0) {
    auto [ec] = co_await sock.async_wait(asio::socket_base::wait_read, nothrow);
    if (ec == asio::error::operation_aborted) co_return false;
    // Readable: the client closed (EOF, or an error), or bytes of a next
    // request came. The socket is non-blocking (send() made it so).
    if (ec) co_return true;
    char probe;
    error_code pec;
    if (!sock.non_blocking()) sock.non_blocking(true, pec);
    const std::size_t n =
        sock.receive(asio::buffer(&probe, 1), asio::socket_base::message_peek, pec);
    const bool waiting = pec == asio::error::would_block || pec == asio::error::try_again;
    if ((pec && !waiting) || (!pec && n == 0)) co_return true;
  }
  // Bytes of a next request are waiting: the client is there. Wait until cancelled.
  asio::steady_timer forever(s_.socket_.get_executor(), clock::time_point::max());
  co_await forever.async_wait(nothrow);
  co_return false;
}

bool session_exchange::complete() const {
  switch (phase_) {
    case progress::before_head:
    case progress::failed:
      return false;
    case progress::sending:
    case progress::finished:
      break;
  }
  switch (framing_) {
    case framing::raw:
    case framing::none:
      return true;
    case framing::length:
      return written_ == *expected_;
    case framing::chunked:
    case framing::until_close:
      return phase_ == progress::finished;
  }
  return false;
}

bool session_exchange::awaiting_continue() const {
  return !continue_sent_ && expects_continue(s_.reader_.parser().get());
}

void session_exchange::log_access() const {
  auto& acc = s_.server_.log().access;
  if (!acc) return;
  const auto& req = s_.reader_.parser().get();
  access_record r;
  // The client's address: a trusted proxy's forwarded one (forwarded.hpp).
  r.peer = client().address.empty() ? s_.peer_ : client().address;
  r.time = arrived_;
  r.request_line = request_line_of(req);
  // nginx's 499: the client closed the connection before the response was complete.
  r.status = client_left() && !complete() ? 499 : status_;
  r.body_bytes = written_;
  r.referer = std::string(req[http::field::referer]);
  r.user_agent = std::string(req[http::field::user_agent]);
  r.id = id();
  r.identity = identity_;
  r.run = run();
  r.started = started_;
  r.ended = clock::now();
  r.micros = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(r.ended - started_).count());
  acc->info(format_access(s_.server_.log(), r));
}

asio::awaitable<file_read> session_exchange::write_file(http::response_header<>& head,
                                                        file_part part, error_code& ec) {
#ifdef __linux__
  constexpr std::uint64_t kSendfileMin = 16 * 1024;
  if (part.length < kSendfileMin || head.find(http::field::content_length) == head.end())
    co_return co_await exchange::write_file(head, part, ec);
  ec = {};
  prepare_head(head);
  if (framing_ != framing::length) {
    co_await send(std::array<asio::const_buffer, 1>{asio::buffer(serialize_head(head))}, ec);
    co_return file_read{};
  }
  if (!check_length(part.length, ec)) co_return file_read{};
  const std::string text = serialize_head(head);
  // MSG_MORE: the head leaves with the body's first bytes, not in a packet of its own.
  auto& sock = s_.socket_;
  error_code wec;
  if (!sock.non_blocking()) sock.non_blocking(true, wec);
  std::size_t done = wec ? 0 : sock.send(asio::buffer(text), MSG_MORE, wec);
  if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
  if (wec) {
    phase_ = progress::failed;
    ec = wec;
    co_return file_read{};
  }
  if (done < text.size()) {
    co_await send(std::array<asio::const_buffer, 1>{asio::buffer(text) + done}, ec);
    if (ec) co_return file_read{};
  }
  co_return co_await send_file_body(part, ec);
#else
  co_return co_await exchange::write_file(head, part, ec);
#endif
}

asio::awaitable<file_read> session_exchange::send_file_body(file_part part, error_code& ec) {
  file_read result;
#ifdef __linux__
  constexpr std::uint64_t kStep = 64 * 1024;  // as much as send() is given at once
  auto& sock = s_.socket_;
  const auto timeout = settings().http.send_timeout;
  auto deadline = clock::now() + timeout;
  std::uint64_t since_deadline = 0;
  auto offset = static_cast<off_t>(part.offset);
  std::uint64_t left = part.length;
  while (left > 0) {
    const ssize_t n = ::sendfile(sock.native_handle(), part.file, &offset, left);
    if (n > 0) {
      left -= static_cast<std::uint64_t>(n);
      written_ += static_cast<std::uint64_t>(n);
      since_deadline += static_cast<std::uint64_t>(n);
      if (since_deadline >= kStep) {
        since_deadline = 0;
        deadline = clock::now() + timeout;
      }
      continue;
    }
    const int err = n == 0 ? 0 : errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      // The session's one deadline: when it rings the socket is closed and the wait fails.
      s_.within(deadline - clock::now());
      auto [why] = co_await sock.async_wait(asio::socket_base::wait_write, nothrow);
      s_.done_waiting();
      if (!why) continue;
      ec = why;
    } else if (!sock.is_open() || err == EPIPE || err == ECONNRESET || err == ENOTCONN ||
               err == ETIMEDOUT) {
      ec = error_code(err, boost::system::system_category());
    } else {
      // The file's side: it shrank (0), or cannot be read.
      result.failed = true;
      if (err) result.error = std::error_code(err, std::generic_category());
      result.offset = static_cast<std::uint64_t>(offset);
    }
    phase_ = progress::failed;
    co_return result;
  }
#else
  (void)part;
  (void)ec;
#endif
  co_return result;
}

template <class Buffers>
asio::awaitable<void> session_exchange::send(const Buffers& buffers, error_code& ec) {
  // What the socket takes at once goes without a timer or a trip through
  // the scheduler (nearly every response); only the rest is written async.
  auto& sock = s_.socket_;
  error_code wec;
  if (!sock.non_blocking()) sock.non_blocking(true, wec);  // kept with the connection
  std::size_t done = wec ? 0 : sock.write_some(buffers, wec);
  if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
  if (!wec && done < asio::buffer_size(buffers)) {
    boost::beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(done);
    s_.within(settings().http.send_timeout);
    std::tie(wec, std::ignore) = co_await asio::async_write(sock, rest, nothrow);
    s_.done_waiting();
  }
  if (wec) {
    phase_ = progress::failed;
    ec = wec;
  }
}

asio::const_buffer session_exchange::chunk_prefix(std::size_t n, char (&buf)[24]) const {
  if (framing_ != framing::chunked) return {};
  int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
  return asio::buffer(buf, static_cast<std::size_t>(len));
}

asio::const_buffer session_exchange::chunk_suffix() const {
  return framing_ == framing::chunked ? asio::buffer("\r\n", 2) : asio::const_buffer{};
}

bool session_exchange::check_length(std::size_t more, error_code& ec) {
  if (expected_ && written_ + more > *expected_) {
    log().error("[http] rid={} handler wrote past Content-Length {}", id().str(), *expected_);
    phase_ = progress::failed;
    ec = http::error::body_limit;
    return false;
  }
  return true;
}

}  // namespace cgihost::host
