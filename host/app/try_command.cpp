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
#include "host/dispatch/memory_exchange.hpp"
#include "protocol/cgi_response.hpp"

namespace cgihost::host {
namespace {

// The exchange of `try`: a memory exchange that shows inside a CGI run.
class try_exchange final : public memory_exchange {
 public:
  using memory_exchange::memory_exchange;

  cgi_trace* trace() override { return &trace_; }
  void on_redirect(const std::string& location) override {
    memory_exchange::on_redirect(location);
    trace_ = {};
  }

  void report(std::ostream& out) const {
    out << "== request\n"
        << request().method << " " << request().target << "  as "
        << (authenticated_user() ? "authenticated \"" + *authenticated_user() + "\""
                                 : std::string("anonymous"))
        << "\n";
    for (const auto& r : redirects()) out << "  local redirect -> " << r << "\n";
    out << "== route\n";
    const host::route& route_ = route();
    if (!route_.chosen_by.empty()) out << route_.chosen_by << "\n";
    if (!route_.refused.empty())
      out << (route_.refused_code == "location.deny" ? "refused by "
                                                     : "refused by request filtering: ")
          << route_.refused;
    else if (!route_.forbidden.empty())
      out << "refused: " << route_.forbidden;
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
        << status() << " " << http::obsolete_reason(static_cast<http::status>(status()));
    if (!error_reason().empty()) out << "  (" << error_reason() << ")";
    out << "\n";
    for (const auto& f : head()) out << f.name_string() << ": " << f.value() << "\n";
    if (body_total()) out << "[" << body_total() << " body bytes]\n";
  }

 private:
  cgi_trace trace_;
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
