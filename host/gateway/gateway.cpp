#include "host/gateway/gateway.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <cstring>

#include "protocol/iis_token.hpp"

namespace cgihost::host {

namespace {
constexpr std::size_t kKeptBuffers = 8;  // per thread
thread_local std::vector<std::unique_ptr<char[]>> free_buffers;
}  // namespace

gateway_buffer::gateway_buffer() {
  if (free_buffers.empty()) {
    p_ = std::make_unique_for_overwrite<char[]>(kGatewayBuffer);
  } else {
    p_ = std::move(free_buffers.back());
    free_buffers.pop_back();
  }
}

gateway_buffer::~gateway_buffer() {
  if (p_ && free_buffers.size() < kKeptBuffers) free_buffers.push_back(std::move(p_));
}

struct run_limit::waiter {
  explicit waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;  // under run_limit::mu_
};

asio::awaitable<bool> run_limit::acquire(std::chrono::steady_clock::time_point deadline) {
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock(mu_);
    if (running_ < max_ && waiting_.empty()) {
      ++running_;
      co_return true;
    }
    w = std::make_shared<waiter>(co_await asio::this_coro::executor);
    w->timer.expires_at(deadline);
    waiting_.push_back(w);
  }
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(mu_);
  if (w->granted) co_return true;  // handed over by release(), even at the deadline
  std::erase(waiting_, w);
  co_return false;
}

bool run_limit::try_acquire() {
  std::lock_guard lock(mu_);
  if (running_ >= max_ || !waiting_.empty()) return false;
  ++running_;
  return true;
}

void run_limit::release() {
  std::shared_ptr<waiter> next;
  {
    std::lock_guard lock(mu_);
    if (waiting_.empty()) {
      --running_;
      return;
    }
    next = std::move(waiting_.front());  // the room goes to it: running_ stays
    waiting_.pop_front();
    next->granted = true;
  }
  asio::post(next->timer.get_executor(), [next] { next->timer.cancel(); });
}

namespace {

refusal body_refusal(http::status status, std::string code, std::string reason) {
  refusal no;
  no.status = status;
  no.code = std::move(code);
  no.reason = std::move(reason);
  return no;
}

}  // namespace

asio::awaitable<checked<std::uint64_t>> body_length_or_spool(exchange& ex,
                                                             spawner::spool_file& spool) {
  if (auto length = ex.body_length()) co_return *length;
  std::error_code sec;
  spool = spawner::spool_file::create(sec);
  if (!spool.is_open())
    co_return body_refusal(http::status::internal_server_error, "body.spool",
                           "cannot spool body: " + sec.message());
  auto buf = std::make_unique_for_overwrite<char[]>(kGatewayBuffer);
  std::uint64_t total = 0;
  while (true) {
    error_code ec;
    std::size_t n = co_await ex.read_body(buf.get(), kGatewayBuffer, ec);
    if (ec) {
      const bool too_big = ec == http::error::body_limit;
      co_return body_refusal(too_big ? http::status::payload_too_large : http::status::bad_request,
                             too_big ? "body.too_large" : "body.refused",
                             "request body: " + ec.message());
    }
    if (n == 0) break;
    if (spool.write_at(total, buf.get(), n))
      co_return body_refusal(http::status::internal_server_error, "body.spool",
                             "cannot spool body");
    total += n;
  }
  co_return total;
}

asio::awaitable<std::size_t> body_source::read(char* buf, std::size_t size, error_code& ec) {
  ec = {};
  if (!spool_.is_open()) co_return co_await ex_.read_body(buf, size, ec);
  std::error_code rec;
  const std::size_t n = spool_.read_at(offset_, buf, size, rec);
  offset_ += n;
  co_return n;
}

bool passes_authorization(const route& r, const config::config& cfg, std::string_view auth_type) {
  // A location's own setting wins, even over cgihost's own Basic: only then
  // does a password cgihost checked reach the script.
  if (r.pass_authorization) return *r.pass_authorization;
  if (auth_type == "Basic") return false;
  if (r.module == config::module_kind::fastcgi && r.handler) {
    auto pool = cfg.pools.find(r.handler->pool);
    return pool != cfg.pools.end() && pool->second.pass_authorization;
  }
  return r.module == config::module_kind::cgi && cfg.cgi.pass_authorization;
}

void add_location_env(protocol::cgi::variables& vars, const route& r,
                      const protocol::cgi::variables& pass_through, exchange& ex) {
  for (const auto& [name, value] : r.env) {
    auto same = [&](const auto& v) { return v.first == name; };
    auto it = std::find_if(vars.begin(), vars.end(), same);
    if (it == vars.end()) {
      vars.emplace_back(name, value);
    } else if (std::any_of(pass_through.begin(), pass_through.end(), same)) {
      it->second = value;  // the host's PATH, LANG...: defaults a location may change
    } else {
      ex.log().debug("[gateway] rid={} env {} of the location not set: the request's own {} wins",
                     ex.id().str(), name, name);
    }
  }
}

namespace {

// The connection's and the client's part of the view (forwarded.hpp): the
// peer's when the dispatch did not resolve a client (a handler run alone).
void client_view(exchange& ex, protocol::cgi::request_view& view) {
  const host::client& c = ex.client();
  const bool resolved = !c.address.empty();
  view.peer_address = resolved ? std::string_view(c.address) : ex.peer_address();
  view.peer_port = resolved ? c.port : ex.peer_port();
  view.local_address = ex.local_address();
  view.local_port = resolved ? c.server_port : ex.local_port();
  view.tls = c.https;
  view.scheme = c.scheme;
  view.server_name = c.server_name;
}

}  // namespace

protocol::cgi::variables request_variables(exchange& ex, const config::config& cfg,
                                           const std::string& script_path, std::uint64_t length,
                                           const std::optional<std::string>& user,
                                           const protocol::cgi::variables& pass_through) {
  const route& r = ex.route();
  const auto& req = ex.request();
  protocol::cgi::request_view view;
  view.method = req.method;
  view.target = req.target;
  view.query = ex.target().query;
  view.version = req.version;
  view.headers.assign(req.fields.begin(), req.fields.end());
  client_view(ex, view);
  view.script_name = r.script_name;
  view.path_info = r.path_info;
  view.script_filename = script_path;
  std::string root = r.document_root.empty() ? cfg.document_root.string() : r.document_root;
  view.document_root = root;
  // RFC 3875 §4.1.2: CONTENT_LENGTH only when there is a body (or the method has one).
  if (length > 0 || req.is("POST") || req.is("PUT")) view.content_length = length;
  std::string software = "cgihost/" CGIHOST_VERSION;
  view.server_software = software;
  std::string user_name = user.value_or("");
  view.remote_user = user_name;
  std::string auth_type = user ? ex.auth_type() : std::string();
  if (user && auth_type.empty()) auth_type = "Basic";  // `try --user NAME` stands for Basic
  view.auth_type = auth_type;
  protocol::cgi::env_options options;
  options.pass_through = pass_through;
  options.pass_authorization = passes_authorization(r, cfg, auth_type);
  if (cfg.authentication.trusted_header)
    options.drop_headers.push_back(*cfg.authentication.trusted_header);
  // A token handle IIS forwarded is cgihost's to use and close, never a
  // script's (on every platform, whether iis_token is on or not).
  options.drop_headers.emplace_back(protocol::iis::token_header);
  auto vars = protocol::cgi::build_env(view, options);
  add_location_env(vars, r, pass_through, ex);
  return vars;
}

protocol::cgi::variables pass_through_environment() {
  protocol::cgi::variables out;
#if defined(_WIN32)
  // What a Windows program needs to start at all (Winsock needs SystemRoot)
  // and what IIS's CGI and FastCGI modules pass: the system's folders and
  // PATH, never the operator's own profile.
  for (const char* name :
       {"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "OS", "NUMBER_OF_PROCESSORS",
        "PROCESSOR_ARCHITECTURE", "ProgramData", "ProgramFiles", "TEMP", "TMP", "TZ"}) {
    if (const char* v = std::getenv(name)) out.emplace_back(name, v);
  }
  const char* root = std::getenv("SystemRoot");
  const std::string r = root ? root : "C:\\Windows";
  out.emplace_back("PATH", r + "\\system32;" + r + ";" + r + "\\System32\\Wbem");
#else
  // A fixed, system-wide PATH, not whatever the operator's shell had.
  out.emplace_back("PATH", "/usr/local/bin:/usr/bin:/bin");
  for (const char* name : {"LANG", "LC_ALL", "TZ"}) {
    if (const char* v = std::getenv(name)) out.emplace_back(name, v);
  }
#endif
  return out;
}

}  // namespace cgihost::host
