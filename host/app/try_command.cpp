#include "host/app/try_command.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <iostream>

#include "host/app/server.hpp"
#include "protocol/cgi_response.hpp"

namespace cgihost::host {
namespace {

// The exchange of `try`: the request from the command line, the response
// kept in memory.
class try_exchange final : public exchange {
 public:
  // `fields`: the request's header fields, kept here; the head views them.
  try_exchange(const config::config& cfg, dispatcher& d, spdlog::logger& log, std::string method,
               std::string target_text, std::vector<std::pair<std::string, std::string>> fields,
               protocol::normalized_target target, std::string body,
               std::optional<std::string> user)
      : exchange(&d),
        cfg_(cfg),
        log_(log),
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

  const config::config& settings() const override { return cfg_; }
  spdlog::logger& log() const override { return log_; }
  bool head_sent() const override { return status_ != 0; }
  const std::string& peer_address() const override { return peer_; }
  std::uint16_t peer_port() const override { return 0; }
  const std::string& local_address() const override { return local_; }
  std::uint16_t local_port() const override { return local_port_; }
  std::optional<std::uint64_t> body_length() const override {
    return redirected() ? 0 : body_.size();
  }
  cgi_trace* trace() override { return &trace_; }
  void set_identity(std::string who) override { identity_ = std::move(who); }
  void on_redirect(const std::string& location) override {
    redirects_.push_back(location);
    trace_ = {};
  }

  asio::awaitable<std::size_t> read_body(void* data, std::size_t size, error_code& ec) override {
    ec = {};
    if (redirected()) co_return 0;
    std::size_t n = std::min(size, body_.size() - body_pos_);
    std::memcpy(data, body_.data() + body_pos_, n);
    body_pos_ += n;
    co_return n;
  }

  asio::awaitable<void> write_head(http::response_header<>& head, error_code& ec) override {
    ec = {};
    status_ = head.result_int();
    head_ = head;
    co_return;
  }
  asio::awaitable<void> write_response(http::response_header<>& head, asio::const_buffer first,
                                       error_code& ec) override {
    co_await write_head(head, ec);
    co_await write_body(first, ec);
  }
  asio::awaitable<void> write_body(asio::const_buffer data, error_code& ec) override {
    ec = {};
    body_total_ += data.size();
    if (response_body_.size() < 4096)
      response_body_.append(static_cast<const char*>(data.data()),
                            std::min<std::size_t>(data.size(), 4096));
    co_return;
  }
  asio::awaitable<void> finish_body(error_code& ec) override {
    ec = {};
    co_return;
  }
  asio::awaitable<void> write_raw(asio::const_buffer data, error_code& ec) override {
    if (status_ == 0) status_ = 200;
    co_await write_body(data, ec);
  }
  asio::awaitable<void> send_error(http::status status, std::string_view reason) override {
    co_await send_error(status, reason, {});
  }
  asio::awaitable<void> send_error(http::status status, std::string_view reason,
                                   std::string_view) override {
    if (status_ == 0) status_ = static_cast<unsigned>(status);
    error_reason_ = std::string(reason);
    co_return;
  }
  asio::awaitable<bool> client_gone() override {
    asio::steady_timer forever(co_await asio::this_coro::executor,
                               std::chrono::steady_clock::time_point::max());
    co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return false;
  }
  void report(std::ostream& out) const {
    out << "== request\n"
        << request().method << " " << request().target << "  as "
        << (authenticated_user() ? "authenticated \"" + *authenticated_user() + "\""
                                 : std::string("anonymous"))
        << "\n";
    for (const auto& r : redirects_) out << "  local redirect -> " << r << "\n";
    out << "== route\n";
    const host::route& route_ = route();
    if (!route_.refused.empty())
      out << "refused by request filtering: " << route_.refused;
    else if (route_.handler)
      out << "handler " << route_.handler->match << " (" << config::to_string(route_.module) << ")";
    else
      out << "no handler matches: static file";
    out << ", SCRIPT_NAME " << route_.script_name << ", PATH_INFO \"" << route_.path_info << "\"\n";
    if (!trace_.program.empty()) {
      out << "== identity\n" << trace_.identity << "\n";
      out << "== command\n";
      for (const auto& a : trace_.argv) out << a << " ";
      out << "\n== environment\n";
      for (const auto& [n, v] : trace_.env) out << n << "=" << v << "\n";
      out << "== stdout (" << trace_.stdout_total << " bytes)\n" << trace_.stdout_bytes;
      if (trace_.stdout_total > trace_.stdout_bytes.size())
        out << "\n[... " << trace_.stdout_total - trace_.stdout_bytes.size() << " more bytes]";
      out << "\n== stderr (" << trace_.stderr_total << " bytes)\n" << trace_.stderr_bytes;
      out << "\n== exit\n" << (trace_.exit.empty() ? "-" : trace_.exit) << "\n";
      out << "== verdict of the strict parser\n" << trace_.verdict << "\n";
    }
    out << "== the client would get\n"
        << status_ << " " << http::obsolete_reason(static_cast<http::status>(status_));
    if (!error_reason_.empty()) out << "  (" << error_reason_ << ")";
    out << "\n";
    for (const auto& f : head_) out << f.name_string() << ": " << f.value() << "\n";
    if (body_total_) out << "[" << body_total_ << " body bytes]\n";
  }

  unsigned status() const { return status_; }

 private:
  const config::config& cfg_;
  spdlog::logger& log_;
  std::string method_;
  std::string target_text_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::string body_;
  std::size_t body_pos_ = 0;
  std::string peer_ = "127.0.0.1";
  std::string local_ = "127.0.0.1";
  std::uint16_t local_port_ = 80;
  cgi_trace trace_;
  std::string identity_;
  unsigned status_ = 0;
  http::response_header<> head_;
  std::string response_body_;
  std::uint64_t body_total_ = 0;
  std::string error_reason_;
  std::vector<std::string> redirects_;
};

}  // namespace

std::string target_of_url(const std::string& url, std::string* host) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return url;
  auto start = url.find("//") + 2;
  auto slash = url.find('/', start);
  if (host)
    *host = url.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

namespace {

// The request `try` sends, from its command line.
struct try_input {
  std::string target;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
};

// The fields and body of `tr`; nullopt after saying on stderr what is wrong.
std::optional<try_input> read_input(const try_request& tr) {
  try_input in;
  std::string host = "localhost";
  in.target = target_of_url(tr.url, &host);
  in.fields.emplace_back("Host", host);
  for (const auto& h : tr.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::cerr << "cgihost: try: --header \"" << h << "\" is not \"Name: value\"\n";
      return std::nullopt;
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    in.fields.emplace_back(h.substr(0, colon), value);
  }
  if (!tr.data) return in;
  if (!tr.data->empty() && (*tr.data)[0] == '@') {
    std::ifstream file(tr.data->substr(1), std::ios::binary);
    if (!file) {
      std::cerr << "cgihost: try: cannot read " << tr.data->substr(1) << "\n";
      return std::nullopt;
    }
    in.body.assign(std::istreambuf_iterator<char>(file), {});
  } else {
    in.body = *tr.data;
  }
  std::erase_if(in.fields,
                [](const auto& f) { return protocol::iequals(f.first, "Content-Length"); });
  in.fields.emplace_back("Content-Length", std::to_string(in.body.size()));
  return in;
}

}  // namespace

int run_try(const config::config& cfg, const try_request& tr) {
  auto target = protocol::normalize_target(target_of_url(tr.url));
  if (!target) {
    std::cerr << "cgihost: try: URL \"" << tr.url << "\" refused: " << target.error().message()
              << "\n";
    return 2;
  }
  auto in = read_input(tr);
  if (!in) return 2;

  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::logger log("try", sink);
  log.set_pattern("[%l] %v");
  log.set_level(spdlog::level::from_str(cfg.log.level));
  asio::io_context ctx;
  auto shared_log = std::shared_ptr<spdlog::logger>(&log, [](spdlog::logger*) {});
  // What the child leaves behind ends with it here too (spawner/reaper.hpp).
  std::string reaper_error;
  auto reaper = spawner::subreaper::start(reaper_error);
  handler_set handlers = make_handlers(cfg, ctx.get_executor(), shared_log);
  // No authenticator: the request is the --user name's, or anonymous.
  dispatcher dispatch(cfg, handlers, nullptr);
  try_exchange ex(cfg, dispatch, log, tr.method, std::move(in->target), std::move(in->fields),
                  std::move(*target), std::move(in->body), tr.user);
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        co_await dispatch.serve(ex);
        // FastCGI instances end; ctx.run() returns once they are reaped.
        handlers.stop(std::chrono::seconds(2));
      },
      asio::detached);
  ctx.run();
  ex.report(std::cout);
  return ex.status() < 500 ? 0 : 1;
}

}  // namespace cgihost::host
