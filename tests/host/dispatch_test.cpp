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
#include "support/test_client.hpp"

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

// The dispatch over a real folder: default documents, fallbacks, rewrites,
// the locations' deny, scripts and root. Handlers record the route they got.
class LocateTest : public DispatchTest {
 protected:
  LocateTest() {
    site_.write("site/index.html", "home\n");
    site_.write("site/hello.txt", "hi\n");
    site_.write("site/index.pl", "#!/usr/bin/perl\n");
    site_.write("site/app/index.pl", "#!/usr/bin/perl\n");
    site_.write("site/both/index.html", "both\n");
    site_.write("site/both/index.pl", "#!/usr/bin/perl\n");
    site_.write("site/empty/file.bin", "x");
    site_.write("site/fetch.pl", "#!/usr/bin/perl\n");
    site_.write("other/style.css", "p {}\n");
    cfg_.document_root = site_ / "site";
    cfg_.static_files.index = {"index.html", "index.pl"};
    auto record = [this](std::string& seen) {
      return [this, &seen](exchange& ex) -> asio::awaitable<void> {
        const route& r = ex.route();
        seen = r.script_name + "|" + r.path_info + "|" + std::string(ex.request().target) + "|" +
               ex.target().query;
        chosen_ = r.chosen_by;
        root_fd_ = r.root_fd;
        co_await answer_ok(ex);
      };
    };
    handlers_.script.body = record(script_seen_);
    handlers_.files.body = record(files_seen_);
  }

  void add_rewrite(const char* match, const char* to, unsigned redirect = 0,
                   bool if_missing = false) {
    config::rewrite rw;
    rw.match = match;
    rw.to = to;
    rw.redirect = redirect;
    rw.if_missing = if_missing;
    rw.where = "c.toml:" + std::to_string(10 + cfg_.rewrites.size()) + ":1";
    cfg_.rewrites.push_back(rw);
  }

  test::temp_dir site_;
  std::string script_seen_, files_seen_, chosen_;
  int root_fd_ = -2;
};

TEST_F(LocateTest, AFolderRunsItsFirstDefaultDocumentThroughItsHandler) {
  auto ex = run("/app/?x=1");
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(handlers_.script.calls, 1);
  EXPECT_EQ(handlers_.files.calls, 0);  // never the source as a file
  EXPECT_EQ(script_seen_, "/app/index.pl||/app/?x=1|x=1");
  EXPECT_EQ(chosen_, "default document index.pl of /app/");
  EXPECT_GE(root_fd_, 0);
  auto both = run("/both/");  // the first name that exists wins
  EXPECT_EQ(files_seen_, "/both/index.html||/both/|");
  EXPECT_EQ(handlers_.script.calls, 1);
  auto root = run("/");
  EXPECT_EQ(files_seen_, "/index.html||/|");
}

TEST_F(LocateTest, AFolderWithoutADefaultDocumentIs403NamingWhatWasTried) {
  auto ex = run("/empty/");
  EXPECT_EQ(ex->status(), 403u);
  EXPECT_EQ(ex->error_reason(),
            "folder without a default document: /empty/; tried: index.html (missing), index.pl "
            "(missing)");
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
  // A name request filtering refuses, or a location forbids, is passed over.
  cfg_.static_files.index = {".index.html", "index.pl"};
  config::location uploads;
  uploads.prefix = "/empty/";
  uploads.scripts = false;
  cfg_.locations = {uploads};
  site_.write("site/empty/index.pl", "#!/usr/bin/perl\n");
  auto ex2 = run("/empty/");
  EXPECT_EQ(ex2->status(), 403u);
  EXPECT_NE(ex2->error_reason().find(".index.html (filter.dot_segment"), std::string::npos)
      << ex2->error_reason();
  EXPECT_NE(ex2->error_reason().find("index.pl (location /empty/ scripts = false"),
            std::string::npos)
      << ex2->error_reason();
}

TEST_F(LocateTest, AFolderWithoutItsSlashIsLeftToTheStaticRedirect) {
  run("/app");
  EXPECT_EQ(files_seen_, "/app||/app|");
}

TEST_F(LocateTest, AFallbackRunsForPathsThatNameNothing) {
  config::location all;
  all.prefix = "/";
  all.fallback = "/index.pl";
  cfg_.locations = {all};
  struct row {
    const char* target;
    const char* script;  // what the script handler saw, or "" for the static one
    const char* file;
  };
  for (const auto& [target, script, file] : std::vector<row>{
           {"/hello-world/?p=2", "/index.pl||/hello-world/?p=2|p=2", ""},
           {"/wp-json/wp/v2", "/index.pl||/wp-json/wp/v2|", ""},
           {"/nothere.pl/x", "/index.pl||/nothere.pl/x|", ""},  // the script is what must exist
           {"/index.pl/foo", "/index.pl|/foo|/index.pl/foo|", ""},
           {"/hello.txt", "", "/hello.txt||/hello.txt|"},
           {"/app/", "/app/index.pl||/app/|", ""},  // a folder: its default document
       }) {
    script_seen_.clear();
    files_seen_.clear();
    auto ex = run(target);
    EXPECT_EQ(ex->status(), 200u) << target;
    EXPECT_EQ(script_seen_, script) << target;
    EXPECT_EQ(files_seen_, file) << target;
  }
  auto empty = run("/empty/");  // an existing folder is no fallback's business
  EXPECT_EQ(empty->status(), 403u);
  run("/nothere");
  EXPECT_EQ(chosen_, "fallback /index.pl of [[locations]] \"/\"");
}

TEST_F(LocateTest, ADeniedLocationIs404LoggedWithTheRule) {
  config::location data;
  data.prefix = "/data/";
  data.deny = true;
  cfg_.locations = {data};
  site_.write("site/data/pages/start.txt", "secret\n");
  for (const char* target : {"/data/pages/start.txt", "/data/", "/data/x.pl"}) {
    auto ex = run(target);
    EXPECT_EQ(ex->status(), 404u) << target;
    EXPECT_NE(logged().find("[filter] rid=" + ex->id().str() + " 404 GET " + std::string(target) +
                            ": location /data/ deny = true"),
              std::string::npos)
        << logged();
  }
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
}

TEST_F(LocateTest, ScriptsOffIs403ForScriptsAndStaticForTheRest) {
  config::location uploads;
  uploads.prefix = "/uploads/";
  uploads.scripts = false;
  cfg_.locations = {uploads};
  site_.write("site/uploads/evil.pl", "#!/usr/bin/perl\n");
  site_.write("site/uploads/a.txt", "a\n");
  auto evil = run("/uploads/evil.pl");
  EXPECT_EQ(evil->status(), 403u);
  EXPECT_NE(logged().find("[filter] rid=" + evil->id().str() +
                          " 403 GET /uploads/evil.pl: location /uploads/ scripts = false"),
            std::string::npos)
      << logged();
  EXPECT_EQ(handlers_.script.calls + handlers_.files.calls, 0);
  auto text = run("/uploads/a.txt");
  EXPECT_EQ(text->status(), 200u);
  EXPECT_EQ(files_seen_, "/uploads/a.txt||/uploads/a.txt|");
}

TEST_F(LocateTest, ARootLocationLooksBeneathItsOwnFolder) {
  config::location css;
  css.prefix = "/cgit-css/";
  css.root = site_ / "other";
  cfg_.locations = {css};
  auto ex = run("/cgit-css/style.css");
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(files_seen_, "/cgit-css/style.css||/cgit-css/style.css|");
  EXPECT_GE(root_fd_, 0);
  // A fallback under it decides on its own folder: style.css exists there.
  css.fallback = "/index.pl";
  cfg_.locations = {css};
  files_seen_.clear();
  run("/cgit-css/style.css");
  EXPECT_EQ(files_seen_, "/cgit-css/style.css||/cgit-css/style.css|");
  run("/cgit-css/hello.txt");  // in document_root, not in the location's root
  EXPECT_EQ(script_seen_, "/index.pl||/cgit-css/hello.txt|");
}

TEST_F(LocateTest, AMissingRootFolderStopsTheDispatcherFromStarting) {
  config::location css;
  css.prefix = "/x/";
  css.root = site_ / "no-such-folder";
  cfg_.locations = {css};
  EXPECT_THROW(dispatcher(cfg_, handlers_, nullptr), std::system_error);
}

TEST_F(LocateTest, ARewriteChangesTheRouteButNotTheClientsRequestUri) {
  add_rewrite("^/_media/(.*)$", "/fetch.pl?media=$1");
  add_rewrite("^/(.*)$", "/never/$1");  // the first match wins
  auto ex = run("/_media/wiki/logo.png?w=10");
  EXPECT_EQ(ex->status(), 200u);
  EXPECT_EQ(script_seen_, "/fetch.pl||/_media/wiki/logo.png?w=10|media=wiki/logo.png&w=10");
  EXPECT_EQ(chosen_,
            "rewrite c.toml:10:1: /_media/wiki/logo.png?w=10 -> "
            "/fetch.pl?media=wiki/logo.png&w=10");
  EXPECT_NE(logged().find("[rewrite] rid=" + ex->id().str() +
                          " /_media/wiki/logo.png?w=10 -> /fetch.pl?media=wiki/logo.png&w=10 "
                          "(rule c.toml:10:1)"),
            std::string::npos)
      << logged();
}

TEST_F(LocateTest, TheQueryRuleOfARewrite) {
  add_rewrite("^/a$", "/fetch.pl");       // no "?": the client's query becomes the query
  add_rewrite("^/b$", "/fetch.pl?x=1?");  // ends in "?": the client's query is dropped
  add_rewrite("^/c$", "/fetch.pl?x=1");   // appended with "&"
  run("/a?q=1");
  EXPECT_EQ(script_seen_, "/fetch.pl||/a?q=1|q=1");
  run("/b?q=1");
  EXPECT_EQ(script_seen_, "/fetch.pl||/b?q=1|x=1");
  run("/c?q=1");
  EXPECT_EQ(script_seen_, "/fetch.pl||/c?q=1|x=1&q=1");
  run("/c");
  EXPECT_EQ(script_seen_, "/fetch.pl||/c|x=1");
  // Captures are decoded text: put back into a URL they stay what they were.
  add_rewrite("^/d/(.*)$", "/fetch.pl?m=$1");
  run("/d/100%25%3F");
  EXPECT_EQ(script_seen_, "/fetch.pl||/d/100%25%3F|m=100%25%3F");
}

TEST_F(LocateTest, ARewriteIsAppliedOnceAndNeverToALocalRedirect) {
  add_rewrite("^/(.*)$", "/x/$1");
  run("/hello.txt");
  EXPECT_EQ(files_seen_, "/x/hello.txt||/hello.txt|");  // not /x/x/hello.txt
  cfg_.rewrites.clear();
  add_rewrite("^/_media/(.*)$", "/never.pl");
  handlers_.script.body = [](exchange& ex) -> asio::awaitable<void> {
    co_await ex.redispatch("/_media/logo.png");
  };
  run("/x.pl");
  EXPECT_EQ(files_seen_, "/_media/logo.png||/_media/logo.png|");
}

TEST_F(LocateTest, IfMissingRewritesOnlyPathsThatNameNothing) {
  add_rewrite("^/([a-z.]+)$", "/fetch.pl?page=$1", 0, true);
  run("/hello.txt");
  EXPECT_EQ(files_seen_, "/hello.txt||/hello.txt|");
  EXPECT_EQ(script_seen_, "");
  run("/start");
  EXPECT_EQ(script_seen_, "/fetch.pl||/start|page=start");
}

TEST_F(LocateTest, ARedirectRuleAnswersWithItsStatusAndLocation) {
  add_rewrite("^/old/(.*)$", "/new/$1", 301);
  add_rewrite("^/tmp$", "/elsewhere?", 307);
  auto ex = run("/old/a/b?x=1");
  EXPECT_EQ(ex->status(), 301u);
  EXPECT_EQ(ex->head()[http::field::location], "/new/a/b?x=1");
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
  auto tmp = run("/tmp?x=1");
  EXPECT_EQ(tmp->status(), 307u);
  EXPECT_EQ(tmp->head()[http::field::location], "/elsewhere");
}

TEST_F(LocateTest, ARewrittenUrlThatDoesNotNormalizeIs500NamingTheRule) {
  add_rewrite("^/up/(.*)$", "/../$1");
  auto ex = run("/up/etc/passwd");
  EXPECT_EQ(ex->status(), 500u);
  EXPECT_EQ(handlers_.files.calls + handlers_.script.calls, 0);
  EXPECT_NE(ex->error_reason().find("rewrite rule c.toml:10:1 made \"/../etc/passwd\""),
            std::string::npos)
      << ex->error_reason();
  EXPECT_NE(logged().find("[rewrite] rid=" + ex->id().str() + " 500: rewrite rule c.toml:10:1"),
            std::string::npos)
      << logged();
}

}  // namespace
}  // namespace cgihost::host
