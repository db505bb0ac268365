// The one dispatch, without a server: route, authentication, request
// filtering, local redirects, the 404s and "no response", run through a
// memory_exchange with handlers that record what they were given.
#include "host/dispatch/dispatch.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>

#include "host/dispatch/memory_exchange.hpp"

namespace cgihost::host {
namespace {

// A handler that runs `body` and counts its calls.
class scripted_handler final : public handler {
 public:
  std::function<asio::awaitable<void>(exchange&)> body;
  int calls = 0;
  asio::awaitable<void> handle(exchange& ex) override {
    ++calls;
    if (body) co_await body(ex);
  }
};

class table final : public handler_table {
 public:
  scripted_handler script, files;
  handler& for_route(const route& r) override {
    return r.module == config::module_kind::static_files ? files : script;
  }
};

asio::awaitable<void> answer_ok(exchange& ex) {
  http::response_header<> head;
  head.result(http::status::ok);
  head.set(http::field::content_length, "0");
  error_code ec;
  co_await ex.write_head(head, ec);
}

class DispatchTest : public ::testing::Test {
 protected:
  DispatchTest() : log_("dispatch", sink_) {
    log_.set_level(spdlog::level::debug);
    config::handler h;
    h.match = "*.pl";
    h.kind = config::handler::match_kind::extension;
    h.value = ".pl";
    h.module = config::module_kind::cgi;
    cfg_.handlers = {h};
    cfg_.accounts["alice"] = config::account{"alice", 1001, 1001, "/"};
  }

  // Runs `method target` with `fields` through the dispatch.
  std::unique_ptr<memory_exchange> run(const std::string& target,
                                       std::vector<std::pair<std::string, std::string>> fields = {},
                                       const std::string& method = "GET") {
    if (cfg_.authentication.trusted_header || cfg_.authentication.basic)
      auth_.emplace(cfg_, std::make_shared<spdlog::logger>("auth", sink_));
    dispatcher d(cfg_, handlers_, auth_ ? &*auth_ : nullptr);
    auto normalized = protocol::normalize_target(target);
    EXPECT_TRUE(normalized.has_value()) << target;
    auto ex = std::make_unique<memory_exchange>(cfg_, d, log_, method, target, std::move(fields),
                                                std::move(*normalized));
    asio::io_context ctx;
    asio::co_spawn(ctx, d.serve(*ex), asio::detached);
    ctx.run();
    return ex;
  }

  std::string logged() const {
    std::string all;
    for (const auto& l : sink_->last_formatted()) all += l;
    return all;
  }

  config::config cfg_;
  table handlers_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  spdlog::logger log_;
  std::optional<authenticator> auth_;
};

TEST_F(DispatchTest, RoutesAScriptToItsHandler) {
  handlers_.script.body = answer_ok;
  auto ex = run("/app/x.pl/more?q=1");
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(handlers_.script.calls, 1);
  EXPECT_EQ(ex->route().script_name, "/app/x.pl");
  EXPECT_EQ(ex->route().path_info, "/more");
}

TEST_F(DispatchTest, NothingServesThePathWhenStaticFilesAreOff) {
  cfg_.static_files.enabled = false;
  auto ex = run("/notes.txt");
  EXPECT_EQ(ex->status(), 404u);
  EXPECT_EQ(ex->error_reason(), "no handler matches and [static] enabled = false");
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
}

TEST_F(DispatchTest, RequestFilteringAnswers404AndLogsTheRule) {
  auto ex = run("/.git/config");
  EXPECT_EQ(ex->status(), 404u);
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
  EXPECT_NE(logged().find("[filter] rid=" + ex->id().str() + " 404 GET /.git/config: "),
            std::string::npos)
      << logged();
}

TEST_F(DispatchTest, AHandlerThatSendsNothingIs500) {
  auto ex = run("/x.pl");
  EXPECT_EQ(handlers_.script.calls, 1);
  EXPECT_EQ(ex->status(), 500u);
  EXPECT_EQ(ex->error_reason(), "handler sent no response");
}

TEST_F(DispatchTest, ALocalRedirectIsAGetWithoutItsBodyRoutedAgain) {
  std::string seen;
  handlers_.script.body = [&](exchange& ex) -> asio::awaitable<void> {
    co_await ex.redispatch("/page.html?from=x");
  };
  handlers_.files.body = [&](exchange& ex) -> asio::awaitable<void> {
    seen = std::string(ex.request().method) + " " + std::string(ex.request().target) + " " +
           std::to_string(ex.request().fields.count("Content-Type")) +
           std::to_string(ex.request().fields.count("Content-Length")) + " " +
           std::to_string(*ex.body_length());
    co_await answer_ok(ex);
  };
  auto ex = run("/x.pl", {{"Content-Type", "text/plain"}, {"Content-Length", "3"}}, "POST");
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(seen, "GET /page.html?from=x 00 0");
  EXPECT_EQ(ex->redirects(), std::vector<std::string>{"/page.html?from=x"});
  EXPECT_TRUE(ex->redirected());
}

TEST_F(DispatchTest, MoreThanTenLocalRedirectsAre502) {
  handlers_.script.body = [](exchange& ex) -> asio::awaitable<void> {
    co_await ex.redispatch("/again.pl");
  };
  auto ex = run("/x.pl");
  EXPECT_EQ(ex->status(), 502u);
  EXPECT_EQ(handlers_.script.calls, 11);
  EXPECT_EQ(ex->error_reason(), "more than 10 local redirects, the last to /again.pl");
}

TEST_F(DispatchTest, ALocalRedirectThatDoesNotNormalizeIs502) {
  handlers_.script.body = [](exchange& ex) -> asio::awaitable<void> {
    co_await ex.redispatch("/../../etc/passwd");
  };
  auto ex = run("/x.pl");
  EXPECT_EQ(ex->status(), 502u);
  EXPECT_EQ(ex->error_reason().rfind("local redirect to \"/../../etc/passwd\" refused: ", 0), 0u)
      << ex->error_reason();
}

TEST_F(DispatchTest, ATrustedProxysNameWithAnAccountIsTheRequestsUser) {
  cfg_.authentication.trusted_header = "X-Remote-User";
  cfg_.authentication.trusted_proxies = {std::get<config::cidr>(config::parse_cidr("127.0.0.1"))};
  std::optional<std::string> user;
  handlers_.script.body = [&](exchange& ex) -> asio::awaitable<void> {
    user = ex.authenticated_user();
    co_await answer_ok(ex);
  };
  auto ex = run("/x.pl", {{"X-Remote-User", "alice"}});
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(ex->auth_type(), "Proxy");
}

TEST_F(DispatchTest, AuthenticationRefusalsAreAnsweredBeforeAnyHandler) {
  cfg_.authentication.trusted_header = "X-Remote-User";
  cfg_.authentication.trusted_proxies = {std::get<config::cidr>(config::parse_cidr("127.0.0.1"))};
  struct row {
    std::vector<std::pair<std::string, std::string>> fields;
    unsigned status;
    std::string reason_starts;
  };
  const std::vector<row> rows = {
      {{{"X-Remote-User", "mallory"}},
       403,
       "authenticated as \"mallory\" (X-Remote-User from trusted proxy 127.0.0.1), but "
       "[accounts] maps that name to no OS account"},
      {{{"Authorization", "Basic a"}, {"Authorization", "Basic b"}}, 400, "2 Authorization fields"},
      {{{"X-Remote-User", "alice"}, {"X-Remote-User", "bob"}}, 400, "2 X-Remote-User fields"},
  };
  for (const auto& r : rows) {
    auto ex = run("/x.pl", r.fields);
    EXPECT_EQ(ex->status(), r.status) << r.reason_starts;
    EXPECT_EQ(ex->error_reason().rfind(r.reason_starts, 0), 0u) << ex->error_reason();
  }
  EXPECT_EQ(handlers_.script.calls, 0);
}

TEST_F(DispatchTest, AnonymousAccessOffChallengesWithBasic) {
  cfg_.authentication.basic = true;
  cfg_.authentication.anonymous = false;
  auto ex = run("/x.pl");
  EXPECT_EQ(ex->status(), 401u);
  EXPECT_TRUE(ex->challenged());
  EXPECT_EQ(handlers_.script.calls, 0);
}

}  // namespace
}  // namespace cgihost::host
