#include "host/fcgi_front/fcgi_request.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstring>

#include "host/fcgi_front/fcgi_connection.hpp"
#include "host/http/response_head.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

namespace fcgi = protocol::fcgi;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

bool has_ctl(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return true;
  return false;
}

// The response head as CGI output (RFC 3875 §6.3): a Status line, then the
// fields; the web server writes the HTTP framing, Date and Server.
std::string cgi_head(const http::response_header<>& head) {
  std::string out = "Status: " + std::to_string(head.result_int()) + " ";
  out += head.reason().empty() ? std::string(http::obsolete_reason(head.result()))
                               : std::string(head.reason());
  out += "\r\n";
  for (const auto& f : head) {
    const auto n = f.name();
    if (n == http::field::connection || n == http::field::transfer_encoding ||
        n == http::field::keep_alive)
      continue;
    out.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
  }
  out += "\r\n";
  return out;
}

}  // namespace

fcgi_request::fcgi_request(fcgi_connection& c, std::uint16_t fcgi_id, bool keep_conn)
    : c_(c),
      gen_(c.server_.current()),
      fcgi_id_(fcgi_id),
      keep_conn_(keep_conn),
      started_at_(clock::now()),
      arrived_(unix_now()),
      body_wake_(c.socket_.get_executor(), clock::time_point::max()),
      gone_wake_(c.socket_.get_executor(), clock::time_point::max()) {
  state().id = request_id::next();
}

const config::config& fcgi_request::settings() const { return gen_->settings; }
spdlog::logger& fcgi_request::log() const { return *c_.server_.log().error; }

std::optional<refusal> fcgi_request::take_params(const fcgi::name_values& params) {
  p_ = read_params(params);
  peer_address_ = p_.remote_addr.empty() ? c_.peer_.address : p_.remote_addr;
  peer_port_ = p_.remote_addr.empty() ? c_.peer_.port : p_.remote_port;
  local_address_ = p_.server_addr.empty() ? c_.local_.address : p_.server_addr;
  local_port_ = p_.server_port ? p_.server_port : c_.local_.port;
  auto& st = state();
  st.head.method = p_.method;
  st.head.target = p_.target;
  st.head.version = p_.version;
  st.head.fields.reserve(p_.fields.size());
  for (const auto& [n, v] : p_.fields) st.head.fields.add(n, v);
  request_line_ = p_.method + " " + p_.target + (p_.version == 10 ? " HTTP/1.0" : " HTTP/1.1");
  if (auto no = check_head()) return no;
  auto target = routing_target(p_);
  if (!target)
    return make_refusal(http::status::bad_request, "fastcgi.bad_target",
                        "the request's path (SCRIPT_NAME/PATH_INFO or REQUEST_URI \"" + p_.target +
                            "\") does not normalize: " + target.error().message());
  st.target = std::move(*target);
  std::vector<std::filesystem::path> roots{settings().document_root};
  for (const auto& loc : settings().locations)
    if (loc.root) {
      std::error_code ec;
      auto r = std::filesystem::weakly_canonical(*loc.root, ec);
      roots.push_back(ec ? *loc.root : r);
    }
  if (auto outside = outside_roots(p_, roots))
    return make_refusal(http::status::forbidden, "fastcgi.outside_root",
                        "the web server's " + *outside + " is outside document_root \"" +
                            settings().document_root.string() + "\"");
  return check_user();
}

std::optional<refusal> fcgi_request::check_head() {
  const auto& h = settings().http;
  if (p_.method.empty() || !std::all_of(p_.method.begin(), p_.method.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
      }))
    return make_refusal(http::status::bad_request, "fastcgi.bad_method",
                        "REQUEST_METHOD \"" + p_.method + "\" is missing or not a token");
  if (p_.target.empty() || has_ctl(p_.target))
    return make_refusal(http::status::bad_request, "fastcgi.bad_target",
                        "no REQUEST_URI nor SCRIPT_NAME, or one with a control character");
  if (p_.fields.size() > h.max_header_count || p_.field_bytes > h.max_header_bytes)
    return make_refusal(
        http::status::request_header_fields_too_large, "fastcgi.head_too_large",
        std::to_string(p_.fields.size()) + " header fields of " + std::to_string(p_.field_bytes) +
            " bytes: past http.max_header_count (" + std::to_string(h.max_header_count) +
            ") or http.max_header_bytes (" + std::to_string(h.max_header_bytes) + ")");
  for (const auto& [n, v] : p_.fields)
    if (has_ctl(v))
      return make_refusal(http::status::bad_request, "fastcgi.bad_field",
                          "header field " + n + " holds a control character");
  if (p_.bad_content_length)
    return make_refusal(http::status::bad_request, "fastcgi.bad_length",
                        "CONTENT_LENGTH is not a number");
  if (p_.content_length && *p_.content_length > h.max_body_size)
    return make_refusal(http::status::payload_too_large, "fastcgi.body_too_large",
                        "CONTENT_LENGTH " + std::to_string(*p_.content_length) +
                            " is past http.max_body_size (" + std::to_string(h.max_body_size) +
                            ")");
  return std::nullopt;
}

// REMOTE_USER is the web server's word only with trust_remote_user; an empty
// one (nginx always sends the param) is no user.
std::optional<refusal> fcgi_request::check_user() {
  if (!settings().fastcgi.trust_remote_user || p_.remote_user.empty()) return std::nullopt;
  if (!settings().accounts.contains(p_.remote_user))
    return make_refusal(http::status::forbidden, "auth.no_account",
                        "authenticated as \"" + p_.remote_user +
                            "\" (REMOTE_USER from the web server), but [accounts] maps that name "
                            "to no OS account");
  state().user = p_.remote_user;
  state().auth_type = p_.auth_type.empty() ? "Basic" : p_.auth_type;
  return std::nullopt;
}

void fcgi_request::complete_client(host::client& c) const {
  c.https = p_.https;
  c.scheme = p_.https ? "https" : "http";
  if (!p_.server_name.empty()) c.server_name = p_.server_name;
}

void fcgi_request::stdin_data(std::string_view d, bool may_spill) {
  // What the handler took goes before more is held: the buffer stays
  // about as large as the window, however long the body.
  if (stdin_pos_ > 0) {
    stdin_.erase(0, stdin_pos_);
    stdin_pos_ = 0;
  }
  constexpr std::size_t window = fcgi_connection::kStdinWindow;
  if (spilled() == 0 && (!may_spill || held() + d.size() <= window)) {
    stdin_.append(d);
  } else {
    const std::size_t room = spilled() == 0 && held() < window ? window - held() : 0;
    stdin_.append(d.substr(0, std::min(room, d.size())));
    spill(d.substr(std::min(room, d.size())));
  }
  body_wake_.cancel();
}

// nginx's client_body_temp_path, for one request among others on the
// connection: the file is unnamed (spawner::spool_file), gone with it.
void fcgi_request::spill(std::string_view d) {
  if (d.empty() || spill_error_) return;
  const std::uint64_t cap = p_.content_length.value_or(settings().http.max_body_size);
  const std::uint64_t stored = body_read_ + pending();
  if (stored + d.size() > cap) {
    // Past CONTENT_LENGTH (itself within http.max_body_size): read_body
    // fails with body_limit once it reaches them.
    spill_over_limit_ = true;
    d = d.substr(0, stored < cap ? cap - stored : 0);
    if (d.empty()) return;
  }
  if (!spill_.is_open()) {
    spill_ = spawner::spool_file::create(spill_error_);
    if (spill_error_) {
      log().error("[fastcgi] rid={} no temporary file for STDIN: {}", id().str(),
                  spill_error_.message());
      return;
    }
    if (spilled_total_ == 0)
      log().debug(
          "[fastcgi] rid={} spills STDIN past {} KiB to a temporary file: other "
          "requests are live on the connection",
          id().str(), fcgi_connection::kStdinWindow / 1024);
  }
  spill_error_ = spill_.write_at(spill_in_, d.data(), d.size());
  if (spill_error_) {
    log().error("[fastcgi] rid={} writing STDIN to its temporary file failed: {}", id().str(),
                spill_error_.message());
    return;
  }
  spill_in_ += d.size();
  spilled_total_ += d.size();
}

void fcgi_request::stdin_end() {
  stdin_ended_ = true;
  body_wake_.cancel();
}

void fcgi_request::abort() {
  aborted_ = true;
  body_wake_.cancel();
  gone_wake_.cancel();
}

std::optional<std::uint64_t> fcgi_request::body_length() const {
  if (redirected()) return 0;
  return p_.content_length.value_or(0);
}

std::size_t fcgi_request::take_stdin(void* data, std::size_t size, error_code& ec) {
  std::size_t n = 0;
  if (held() > 0) {
    n = std::min(size, held());
    std::memcpy(data, stdin_.data() + stdin_pos_, n);
    stdin_pos_ += n;
  } else {
    std::error_code fec;
    n = spill_.read_at(spill_out_, static_cast<char*>(data),
                       static_cast<std::size_t>(std::min<std::uint64_t>(size, spilled())), fec);
    if (fec || n == 0) {
      log().error("[fastcgi] rid={} reading STDIN from its temporary file failed: {}", id().str(),
                  fec ? fec.message() : "short file");
      ec = fec ? error_code(fec) : error_code(asio::error::eof);
      return 0;
    }
    spill_out_ += n;
    if (spilled() == 0) {
      // All taken: the file goes; the next bytes are held in memory again.
      spill_ = spawner::spool_file();
      spill_in_ = spill_out_ = 0;
    }
  }
  body_read_ += n;
  c_.room_.cancel();
  if (p_.content_length && body_read_ > *p_.content_length) {
    ec = http::error::body_limit;
    return 0;
  }
  return n;
}

asio::awaitable<std::size_t> fcgi_request::read_body(void* data, std::size_t size, error_code& ec) {
  using namespace asio::experimental::awaitable_operators;
  ec = {};
  if (redirected() || size == 0) co_return 0;
  while (true) {
    if (aborted_) {
      ec = asio::error::connection_aborted;
      co_return 0;
    }
    if (pending() > 0) co_return take_stdin(data, size, ec);
    if (spill_error_) {
      ec = spill_error_;
      co_return 0;
    }
    if (spill_over_limit_) {
      ec = http::error::body_limit;
      co_return 0;
    }
    if (stdin_ended_) {
      if (p_.content_length && body_read_ < *p_.content_length) ec = http::error::partial_message;
      co_return 0;
    }
    asio::steady_timer limit(c_.socket_.get_executor(), settings().http.body_timeout);
    auto r = co_await (body_wake_.async_wait(nothrow) || limit.async_wait(nothrow));
    if (r.index() == 1) {
      ec = asio::error::timed_out;
      co_return 0;
    }
  }
}

asio::awaitable<bool> fcgi_request::client_gone() {
  if (aborted_) co_return true;
  co_await gone_wake_.async_wait(nothrow);
  co_return aborted_;
}

asio::awaitable<void> fcgi_request::send_stdout(std::string_view data, error_code& ec) {
  std::string out;
  fcgi::append_stream(out, fcgi::record_type::stdout_stream, fcgi_id_, data);
  co_await c_.send(std::move(out), ec);
  if (ec) failed_ = true;
}

asio::awaitable<void> fcgi_request::write_head(http::response_header<>& head, error_code& ec) {
  co_await write_response(head, asio::const_buffer{}, ec);
}

asio::awaitable<void> fcgi_request::write_response(http::response_header<>& head,
                                                   asio::const_buffer first, error_code& ec) {
  ec = {};
  if (head_sent_) {
    ec = asio::error::already_connected;
    co_return;
  }
  head_sent_ = true;
  status_ = head.result_int();
  body_allowed_ = !request().is_head() && status_ != 204 && status_ != 304 && status_ >= 200;
  if (auto cl = head.find(http::field::content_length); cl != head.end()) {
    std::uint64_t n = 0;
    auto v = cl->value();
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc{}) expected_ = n;
  }
  std::string text = cgi_head(head);
  if (body_allowed_ && first.size() > 0) {
    if (expected_ && first.size() > *expected_) {
      failed_ = true;
      ec = http::error::body_limit;
      co_return;
    }
    text.append(static_cast<const char*>(first.data()), first.size());
    written_ += first.size();
  }
  co_await send_stdout(text, ec);
}

asio::awaitable<void> fcgi_request::write_body(asio::const_buffer data, error_code& ec) {
  ec = {};
  if (!head_sent_ || failed_ || raw_) {
    ec = asio::error::not_connected;
    co_return;
  }
  if (!body_allowed_ || data.size() == 0) co_return;
  if (expected_ && written_ + data.size() > *expected_) {
    log().error("[fastcgi] rid={} handler wrote past Content-Length {}", id().str(), *expected_);
    failed_ = true;
    ec = http::error::body_limit;
    co_return;
  }
  written_ += data.size();
  co_await send_stdout(std::string_view(static_cast<const char*>(data.data()), data.size()), ec);
}

asio::awaitable<void> fcgi_request::finish_body(error_code& ec) {
  ec = {};
  if (failed_) ec = asio::error::not_connected;
  if (head_sent_ && !failed_) finished_ = true;
  co_return;
}

// nph- output over FastCGI: the web server writes the status line itself, so
// the script's own becomes a Status field; its fields pass through unparsed.
asio::awaitable<void> fcgi_request::write_raw(asio::const_buffer data, error_code& ec) {
  ec = {};
  if (head_sent_ && !raw_) {
    ec = asio::error::already_connected;
    co_return;
  }
  std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  if (!raw_) {
    raw_ = head_sent_ = true;
    status_ = 200;
  }
  if (!finished_) {
    raw_line_.append(bytes);
    co_await raw_status_line(ec);
    co_return;
  }
  written_ += bytes.size();
  if (!bytes.empty()) co_await send_stdout(bytes, ec);
}

asio::awaitable<void> fcgi_request::raw_status_line(error_code& ec) {
  const auto eol = raw_line_.find('\n');
  if (eol == std::string::npos) {
    if (raw_line_.size() > 8192) {
      failed_ = true;
      ec = asio::error::message_size;
    }
    co_return;
  }
  std::string_view line(raw_line_.data(), eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string out;
  // "HTTP/1.1 404 Not Found" -> "Status: 404 Not Found"
  if (auto sp = line.find(' '); line.starts_with("HTTP/") && sp != std::string_view::npos) {
    auto rest = line.substr(sp + 1);
    unsigned code = 0;
    std::from_chars(rest.data(), rest.data() + rest.size(), code);
    status_ = code ? code : 200;
    out = "Status: " + std::string(rest) + "\r\n";
  } else {
    out = std::string(line) + "\r\n";
  }
  out.append(raw_line_, eol + 1);
  raw_line_.clear();
  finished_ = true;  // from now on the bytes pass as they are
  written_ += out.size();
  co_await send_stdout(out, ec);
}

asio::awaitable<void> fcgi_request::finish(error_code& ec) {
  ec = {};
  if (raw_ && !raw_line_.empty()) co_await send_stdout(raw_line_ + "\r\n", ec);
  std::string out;
  fcgi::append_stream_end(out, fcgi::record_type::stdout_stream, fcgi_id_);
  fcgi::append_end_request(out, fcgi_id_, 0, fcgi::protocol_status::request_complete);
  co_await c_.send(std::move(out), ec);
}

asio::awaitable<void> fcgi_request::send_error_page(http::status status, std::string_view reason,
                                                    const error_answer& extra) {
  const auto code = static_cast<unsigned>(status);
  const auto level = code >= 500   ? spdlog::level::warn
                     : code == 404 ? spdlog::level::debug
                                   : spdlog::level::info;
  log().log(level, "[fastcgi] rid={} {} {} {}: {}", id().str(), code, request().method,
            target().path.empty() ? std::string(request().target) : target().path, reason);
  if (head_sent_) {
    failed_ = true;
    co_return;
  }
  const auto page = gen_->pages.render(
      status, settings().dev_mode ? extra.dev_detail : std::string_view{}, extra.phase);
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
  if (!ec) finished_ = true;
}

void fcgi_request::log_access() const {
  auto& acc = c_.server_.log().access;
  if (!acc) return;
  access_record r;
  r.peer = client().address.empty() ? peer_address_ : client().address;
  r.user = authenticated_user().value_or("");
  r.time = arrived_;
  r.request_line = request_line_.empty() ? "-" : request_line_;
  const bool complete = finished_ || (expected_ && written_ == *expected_) || !body_allowed_;
  r.status = (client_left() || aborted_) && !complete ? 499 : status_;
  r.body_bytes = written_;
  r.referer = std::string(request().fields["Referer"]);
  r.user_agent = std::string(request().fields["User-Agent"]);
  r.id = id();
  r.identity = identity_;
  r.run = run();
  r.started = started_at_;
  r.ended = clock::now();
  r.micros = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(r.ended - started_at_).count());
  acc->info(format_access(c_.server_.log(), r));
}

}  // namespace cgihost::host
