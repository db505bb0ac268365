// Issue 13's parts of the dispatch, without a server: a handler's `methods`
// (405 with Allow), the client the dispatch resolves (forwarded.hpp) and the
// CGI variables built from it (pass_authorization, a location's env and
// DOCUMENT_ROOT), run through a memory_exchange.
#include "host/dispatch/methods.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <map>

#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/memory_exchange.hpp"
#include "host/gateway/gateway.hpp"
#include "support/test_client.hpp"

namespace cgihost::host {
namespace {

using vars_map = std::map<std::string, std::string>;

// A handler that records the client and the CGI variables it would run with.
class recording_handler final : public handler {
 public:
  int calls = 0;
  host::client seen;
  vars_map vars;
  protocol::cgi::variables pass_through = {{"PATH", "/usr/bin:/bin"}};
  asio::awaitable<void> handle(exchange& ex) override {
    ++calls;
    seen = ex.client();
    vars.clear();
    for (auto& [n, v] :
         request_variables(ex, ex.settings(), "/srv/x", 0, ex.authenticated_user(), pass_through))
      vars[n] = v;
    http::response_header<> head;
    head.result(http::status::ok);
    head.set(http::field::content_length, "0");
    error_code ec;
    co_await ex.write_head(head, ec);
  }
};

class table final : public handler_table {
 public:
  recording_handler h;
  handler& for_route(const route&) override { return h; }
};

config::handler handler_for(std::string ext, config::module_kind m,
                            std::vector<std::string> methods = {}) {
  config::handler h;
  h.match = "*" + ext;
  h.kind = config::handler::match_kind::extension;
  h.value = std::move(ext);
  h.module = m;
  h.pool = m == config::module_kind::fastcgi ? "php" : "";
  h.methods = std::move(methods);
  return h;
}

class MethodsTest : public ::testing::Test {
 protected:
  MethodsTest() : log_("methods", sink_) {
    log_.set_level(spdlog::level::debug);
    cfg_.document_root = root_.path();
    cfg_.handlers = {handler_for(".pl", config::module_kind::cgi, {"GET", "HEAD", "POST"}),
                     handler_for(".php", config::module_kind::fastcgi),
                     handler_for(".cgi", config::module_kind::cgi)};
    cfg_.pools["php"].name = "php";
  }

  std::unique_ptr<memory_exchange> run(const std::string& target, const std::string& method = "GET",
                                       std::vector<std::pair<std::string, std::string>> fields = {},
                                       std::optional<std::string> user = std::nullopt,
                                       const std::function<void(route&)>& adjust = {}) {
    dispatcher d(cfg_, handlers_, nullptr);
    auto normalized = protocol::normalize_target(target);
    EXPECT_TRUE(normalized.has_value()) << target;
    auto ex = std::make_unique<memory_exchange>(cfg_, d, log_, method, target, std::move(fields),
                                                std::move(*normalized), "", user);
    if (adjust) {
      // What the router gives a location's settings (the url helper's part),
      // set on the route the handler sees.
      struct adjusting final : handler_table {
        handler_table* inner;
        const std::function<void(route&)>* f;
        exchange* ex;
        handler& for_route(const route& r) override {
          (*f)(ex->state().route);
          return inner->for_route(r);
        }
      } t;
      t.inner = &handlers_;
      t.f = &adjust;
      t.ex = ex.get();
      dispatcher da(cfg_, t, nullptr);
      asio::io_context ctx;
      asio::co_spawn(ctx, da.serve(*ex), asio::detached);
      ctx.run();
      return ex;
    }
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

  test::temp_dir root_;
  config::config cfg_;
  table handlers_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  spdlog::logger log_;
};

TEST(CheckMethod, AnyMethodWithoutAList) {
  const auto h = handler_for(".php", config::module_kind::fastcgi);
  route r;
  r.handler = &h;
  EXPECT_FALSE(check_method(r, "PROPFIND"));
  route none;  // a static file: the static module's own check
  EXPECT_FALSE(check_method(none, "DELETE"));
}

TEST(CheckMethod, OnlyTheListedMethodsCaseSensitive) {
  const auto h = handler_for(".pl", config::module_kind::cgi, {"GET", "HEAD", "POST"});
  route r;
  r.handler = &h;
  EXPECT_FALSE(check_method(r, "GET"));
  EXPECT_FALSE(check_method(r, "POST"));
  for (const char* m : {"PUT", "DELETE", "get", "OPTIONS", ""}) {
    auto no = check_method(r, m);
    ASSERT_TRUE(no) << m;
    EXPECT_EQ(no->status, http::status::method_not_allowed);
    EXPECT_EQ(no->code, "handler.method");
    EXPECT_EQ(no->allow, "GET, HEAD, POST");
    EXPECT_NE(no->reason.find("*.pl"), std::string::npos) << no->reason;
  }
  EXPECT_EQ(allow_field({"GET"}), "GET");
}

TEST_F(MethodsTest, AnotherMethodIs405WithAllowAndRunsNothing) {
  auto ex = run("/a.pl", "DELETE");
  EXPECT_EQ(ex->status(), 405u);
  EXPECT_EQ(ex->head()[http::field::allow], "GET, HEAD, POST");
  EXPECT_EQ(handlers_.h.calls, 0);
  EXPECT_NE(ex->body().find("405"), std::string::npos);
  // The listed ones run; a handler without a list runs any method.
  EXPECT_EQ(run("/a.pl", "POST")->status(), 200u);
  EXPECT_EQ(run("/a.php", "DELETE")->status(), 200u);
  EXPECT_EQ(handlers_.h.calls, 2);
}

TEST_F(MethodsTest, TheDispatchResolvesTheClientOnce) {
  cfg_.proxy.trusted = {std::get<config::cidr>(config::parse_cidr("127.0.0.1/32"))};
  auto ex =
      run("/a.php", "GET", {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(ex->client().address, "203.0.113.9");
  EXPECT_EQ(handlers_.h.seen.address, "203.0.113.9");
  const auto& v = handlers_.h.vars;
  EXPECT_EQ(v.at("REMOTE_ADDR"), "203.0.113.9");
  EXPECT_EQ(v.at("HTTPS"), "on");
  EXPECT_EQ(v.at("REQUEST_SCHEME"), "https");
  EXPECT_EQ(v.at("SERVER_PORT"), "443");
  EXPECT_EQ(v.at("HTTP_X_FORWARDED_FOR"), "203.0.113.9");  // the field still reaches scripts
}

TEST_F(MethodsTest, AnUntrustedPeerIsTheClient) {
  cfg_.proxy.trusted = {std::get<config::cidr>(config::parse_cidr("10.0.0.0/8"))};
  run("/a.php", "GET", {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}});
  const auto& v = handlers_.h.vars;
  EXPECT_EQ(v.at("REMOTE_ADDR"), "127.0.0.1");
  EXPECT_FALSE(v.contains("HTTPS"));
  EXPECT_EQ(v.at("REQUEST_SCHEME"), "http");
  EXPECT_EQ(v.at("SERVER_PORT"), "80");
  EXPECT_EQ(v.at("HTTP_X_FORWARDED_FOR"), "203.0.113.9");
  EXPECT_EQ(v.at("HTTP_X_FORWARDED_PROTO"), "https");
}

TEST_F(MethodsTest, AMalformedFieldFromATrustedPeerIsLogged) {
  cfg_.proxy.trusted = {std::get<config::cidr>(config::parse_cidr("127.0.0.1/32"))};
  run("/a.php", "GET", {{"X-Forwarded-For", "not-an-address"}});
  EXPECT_EQ(handlers_.h.vars.at("REMOTE_ADDR"), "127.0.0.1");
  EXPECT_NE(logged().find("[proxy] rid="), std::string::npos) << logged();
  EXPECT_NE(logged().find("\"not-an-address\" is not an IP address"), std::string::npos);
}

const std::pair<std::string, std::string> kBearer = {"Authorization", "Bearer tok"};

TEST_F(MethodsTest, AuthorizationOnlyWhereAsked) {
  run("/a.cgi", "GET", {kBearer});
  EXPECT_FALSE(handlers_.h.vars.contains("HTTP_AUTHORIZATION"));
  cfg_.cgi.pass_authorization = true;
  run("/a.cgi", "GET", {kBearer});
  EXPECT_EQ(handlers_.h.vars.at("HTTP_AUTHORIZATION"), "Bearer tok");
  // FastCGI: the pool's setting, not [cgi]'s.
  run("/a.php", "GET", {kBearer});
  EXPECT_FALSE(handlers_.h.vars.contains("HTTP_AUTHORIZATION"));
  cfg_.pools["php"].pass_authorization = true;
  run("/a.php", "GET", {kBearer});
  EXPECT_EQ(handlers_.h.vars.at("HTTP_AUTHORIZATION"), "Bearer tok");
  // The location's wins both ways.
  run("/a.php", "GET", {kBearer}, std::nullopt, [](route& r) { r.pass_authorization = false; });
  EXPECT_FALSE(handlers_.h.vars.contains("HTTP_AUTHORIZATION"));
  cfg_.pools["php"].pass_authorization = false;
  run("/a.php", "GET", {kBearer}, std::nullopt, [](route& r) { r.pass_authorization = true; });
  EXPECT_EQ(handlers_.h.vars.at("HTTP_AUTHORIZATION"), "Bearer tok");
}

TEST(PassesAuthorization, CgihostsOwnBasicOnlyWhenTheLocationSaysSo) {
  config::config cfg;
  cfg.cgi.pass_authorization = true;
  cfg.pools["php"].pass_authorization = true;
  const auto cgi = handler_for(".pl", config::module_kind::cgi);
  const auto php = handler_for(".php", config::module_kind::fastcgi);
  route r;
  r.handler = &cgi;
  r.module = config::module_kind::cgi;
  EXPECT_TRUE(passes_authorization(r, cfg, ""));
  EXPECT_TRUE(passes_authorization(r, cfg, "Proxy"));
  EXPECT_FALSE(passes_authorization(r, cfg, "Basic"));
  r.handler = &php;
  r.module = config::module_kind::fastcgi;
  EXPECT_FALSE(passes_authorization(r, cfg, "Basic"));
  r.pass_authorization = true;
  EXPECT_TRUE(passes_authorization(r, cfg, "Basic"));
  r.pass_authorization = false;
  EXPECT_FALSE(passes_authorization(r, cfg, ""));
  // A pool the config does not name, a static route: never.
  route none;
  EXPECT_FALSE(passes_authorization(none, cfg, ""));
}

TEST_F(MethodsTest, TryUserStandsForBasicAndKeepsThePassword) {
  cfg_.cgi.pass_authorization = true;
  run("/a.cgi", "GET", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}, "alice");
  EXPECT_EQ(handlers_.h.vars.at("REMOTE_USER"), "alice");
  EXPECT_FALSE(handlers_.h.vars.contains("HTTP_AUTHORIZATION"));
  run("/a.cgi", "GET", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}, "alice",
      [](route& r) { r.pass_authorization = true; });
  EXPECT_EQ(handlers_.h.vars.at("HTTP_AUTHORIZATION"), "Basic YWxpY2U6c2VjcmV0");
}

TEST_F(MethodsTest, TheLocationsEnvAndDocumentRoot) {
  run("/a.cgi/more", "GET", {{"Gitweb-Config", "client"}}, "alice", [](route& r) {
    r.env = {{"GITWEB_CONFIG", "/etc/gitweb.conf"},
             {"REMOTE_USER", "mallory"},
             {"SCRIPT_FILENAME", "/bin/sh"},
             {"HTTP_GITWEB_CONFIG", "admin"},
             {"PATH", "/opt/git/bin:/usr/bin"}};
    r.document_root = "/usr/share/gitweb";
  });
  const auto& v = handlers_.h.vars;
  EXPECT_EQ(v.at("GITWEB_CONFIG"), "/etc/gitweb.conf");
  EXPECT_EQ(v.at("REMOTE_USER"), "alice");           // the request's own wins
  EXPECT_EQ(v.at("SCRIPT_FILENAME"), "/srv/x");      // never replaced
  EXPECT_EQ(v.at("HTTP_GITWEB_CONFIG"), "client");   // the request's own wins
  EXPECT_EQ(v.at("PATH"), "/opt/git/bin:/usr/bin");  // a host default it may change
  EXPECT_EQ(v.at("DOCUMENT_ROOT"), "/usr/share/gitweb");
  EXPECT_EQ(v.at("PATH_TRANSLATED"), "/usr/share/gitweb/more");
  EXPECT_NE(logged().find("env REMOTE_USER of the location not set"), std::string::npos)
      << logged();
  // Without a location root: document_root.
  run("/a.cgi");
  EXPECT_EQ(handlers_.h.vars.at("DOCUMENT_ROOT"), root_.path());
}

}  // namespace
}  // namespace cgihost::host
