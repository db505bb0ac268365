// [errors]: the administrator's pages read once (error_pages::load), and the
// answer every exchange builds from them: `cgihost try`'s memory exchange here,
// the HTTP session in forwarded_http_test.
#include "host/dispatch/error_pages.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <stdexcept>

#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/memory_exchange.hpp"
#include "support/test_client.hpp"

namespace cgihost::host {
namespace {
namespace fs = std::filesystem;
namespace http = boost::beast::http;

class ErrorPagesTest : public ::testing::Test {
 protected:
  ErrorPagesTest() {
    fs::create_directories(dir_ / "site/errors");
    dir_.write("site/errors/404.html", "<h1>Not here</h1>\n");
    dir_.write("site/errors/503.txt", "busy\n");
    cfg_.document_root = dir_ / "site";
  }
  // The message of load()'s exception, or "" when it loaded.
  std::string load_error() {
    try {
      (void)error_pages::load(cfg_);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return {};
  }
  test::temp_dir dir_;
  config::config cfg_;
};

TEST_F(ErrorPagesTest, NoneConfiguredRendersTheBuiltInPage) {
  const auto pages = error_pages::load(cfg_);
  EXPECT_EQ(pages.find(404), nullptr);
  const auto p = pages.render(http::status::not_found, {}, {});
  EXPECT_EQ(p.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(p.body, error_page(http::status::not_found));
  // The gateway's phase and the dev detail stay on the built-in page.
  const auto g = pages.render(http::status::bad_gateway, "why", "pool php");
  EXPECT_NE(g.body.find("pool php"), std::string::npos);
  EXPECT_NE(g.body.find("why"), std::string::npos);
}

TEST_F(ErrorPagesTest, ConfiguredPagesAreReadOnceWithTheirType) {
  cfg_.error_pages = {{404, "/errors/404.html"}, {503, "/errors/503.txt"}};
  const auto pages = error_pages::load(cfg_);
  // Read now: changing or removing the file later changes nothing.
  fs::remove(dir_ / "site/errors/404.html");
  auto p = pages.render(http::status::not_found, "dev detail", {});
  EXPECT_EQ(p.body, "<h1>Not here</h1>\n");
  EXPECT_EQ(p.content_type, "text/html; charset=utf-8");
  p = pages.render(http::status::service_unavailable, {}, "pool php, phase queue wait");
  EXPECT_EQ(p.body, "busy\n");
  EXPECT_EQ(p.content_type, "text/plain; charset=utf-8");
  // Another status: the built-in page.
  EXPECT_EQ(pages.render(http::status::forbidden, {}, {}).body,
            error_page(http::status::forbidden));
}

TEST_F(ErrorPagesTest, ContentTypeByExtension) {
  EXPECT_EQ(error_page_type("/e/404.HTM"), "text/html; charset=utf-8");
  EXPECT_EQ(error_page_type("/e/404.json"), "application/json");
  EXPECT_EQ(error_page_type("/e.d/404"), "application/octet-stream");
  EXPECT_EQ(error_page_type("/e/404.png"), "application/octet-stream");
}

TEST_F(ErrorPagesTest, AnUnreadablePageIsAStartUpErrorNamingIt) {
  cfg_.error_pages = {{500, "/errors/missing.html"}};
  auto why = load_error();
  EXPECT_NE(why.find("[errors] 500 = \"/errors/missing.html\" cannot be read"), std::string::npos)
      << why;
  EXPECT_NE(why.find("No such file"), std::string::npos) << why;

  cfg_.error_pages = {{404, "/errors"}};
  EXPECT_NE(load_error().find("not a regular file"), std::string::npos) << load_error();

  dir_.write("site/errors/big.html", std::string(error_pages::kMaxSize + 1, 'x'));
  cfg_.error_pages = {{404, "/errors/big.html"}};
  EXPECT_NE(load_error().find("more than 1048576"), std::string::npos) << load_error();

  // Never outside document_root, whatever a symlink says.
  dir_.write("secret.html", "secret");
  fs::create_symlink(dir_ / "secret.html", dir_ / "site/errors/link.html");
  cfg_.error_pages = {{404, "/errors/link.html"}};
  EXPECT_NE(load_error().find("cannot be read"), std::string::npos) << load_error();
  cfg_.error_pages = {{404, "/../secret.html"}};
  EXPECT_NE(load_error().find("cannot be read"), std::string::npos) << load_error();
}

// What `cgihost try` shows: the same page, head and body, as a session sends.
class table final : public handler_table {
 public:
  struct none final : handler {
    asio::awaitable<void> handle(exchange& ex) override {
      co_await answer(ex, make_refusal(http::status::not_found, "script.missing", "no such file"));
    }
  } h;
  handler& for_route(const route&) override { return h; }
};

TEST_F(ErrorPagesTest, TheMemoryExchangeAnswersWithThePage) {
  cfg_.error_pages = {{404, "/errors/404.html"}};
  table t;
  dispatcher d(cfg_, t, nullptr);
  spdlog::logger log("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  for (const char* method : {"GET", "HEAD"}) {
    memory_exchange ex(cfg_, d, log, method, "/x", {}, *protocol::normalize_target("/x"));
    asio::io_context ctx;
    asio::co_spawn(ctx, d.serve(ex), asio::detached);
    ctx.run();
    EXPECT_EQ(ex.status(), 404u);
    EXPECT_EQ(ex.head()[http::field::content_type], "text/html; charset=utf-8");
    EXPECT_EQ(ex.head()[http::field::content_length], "18");
    EXPECT_EQ(ex.body(), std::string(method) == "HEAD" ? "" : "<h1>Not here</h1>\n") << method;
  }
}

TEST_F(ErrorPagesTest, TheMemoryExchangeRefusesAnUnreadablePage) {
  cfg_.error_pages = {{404, "/errors/gone.html"}};
  table t;
  dispatcher d(cfg_, t, nullptr);
  spdlog::logger log("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  EXPECT_THROW(memory_exchange(cfg_, d, log, "GET", "/x", {}, *protocol::normalize_target("/x")),
               std::runtime_error);
}

}  // namespace
}  // namespace cgihost::host
