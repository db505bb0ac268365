// The steps of a script request without a server: find_script (the script
// beneath the root) and the response relay (the child's stdout through the
// strict parser to a memory exchange, split at every byte).
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "host/dispatch/checks.hpp"
#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/memory_exchange.hpp"
#include "host/gateway/response_relay.hpp"

namespace cgihost::host {
namespace {
namespace fs = std::filesystem;

class FindScript : public ::testing::Test {
 protected:
  FindScript() {
    root_ = fs::temp_directory_path() / ("cgihost-find-" + std::to_string(::getpid()));
    outside_ = root_.string() + "-outside";
    fs::create_directories(root_ / "dir");
    fs::create_directories(outside_);
    write(root_ / "run.cgi", 0755);
    write(root_ / "plain.pl", 0644);
    write(outside_ / "evil.cgi", 0755);
    fs::create_symlink(outside_ / "evil.cgi", root_ / "out.cgi");
    fs::create_symlink("run.cgi", root_ / "in.cgi");
    fs::create_symlink(root_ / "run.cgi", root_ / "abs.cgi");
    cfg_.document_root = root_;
  }
  ~FindScript() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
    fs::remove_all(outside_, ec);
  }
  static void write(const fs::path& p, mode_t mode) {
    std::ofstream(p) << "#!/bin/sh\n";
    ::chmod(p.c_str(), mode);
  }
  fs::path root_, outside_;
  config::config cfg_;
};

TEST_F(FindScript, FindsTheScriptOrSaysWhyNot) {
  struct row {
    std::string script_name;
    bool need_exec;
    bool allow_symlinks_outside;
    unsigned status;  // 0: found
    std::string code;
  };
  const std::vector<row> rows = {
      {"/run.cgi", true, false, 0, ""},
      {"/plain.pl", false, false, 0, ""},
      {"/plain.pl", true, false, 403, "script.not_executable"},
      {"/missing.pl", false, false, 404, "script.missing"},
      {"/dir", false, false, 403, "script.not_regular"},
      {"/", false, false, 403, "script.unnamed"},
      {"/dir/", false, false, 403, "script.unnamed"},
      {"/in.cgi", true, false, 0, ""},  // a relative symlink that stays inside
      // An absolute symlink is resolved from "/", not from the root: it leaves.
      {"/abs.cgi", true, false, 403, "script.outside_root"},
      {"/out.cgi", true, false, 403, "script.outside_root"},
      {"/out.cgi", true, true, 0, ""},  // allow_symlinks_outside_root
  };
  auto root = open_document_root(cfg_);
  for (const auto& r : rows) {
    cfg_.allow_symlinks_outside_root = r.allow_symlinks_outside;
    auto found = find_script(root.get(), r.script_name, cfg_, r.need_exec);
    if (r.status == 0) {
      ASSERT_TRUE(found.has_value()) << r.script_name << ": " << found.error().reason;
      EXPECT_EQ(found->path, root_.string() + r.script_name);
      EXPECT_TRUE(found->st.is_regular());
    } else {
      ASSERT_FALSE(found.has_value()) << r.script_name;
      EXPECT_EQ(static_cast<unsigned>(found.error().status), r.status) << r.script_name;
      EXPECT_EQ(found.error().code, r.code) << r.script_name;
      EXPECT_NE(found.error().reason.find(r.script_name), std::string::npos)
          << found.error().reason;
    }
  }
}

// What the relay made of one output fed in pieces of `step` bytes.
struct relayed {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  bool rejected = false;
  std::string rejection;  // code_name
  bool redirect = false;
  std::string location;
};

class empty_table final : public handler_table {
 public:
  handler& for_route(const route&) override { std::abort(); }
};

relayed relay_in_pieces(std::string_view output, std::size_t step) {
  config::config cfg;
  empty_table table;
  dispatcher d(cfg, table, nullptr);
  spdlog::logger log("relay", std::make_shared<spdlog::sinks::null_sink_mt>());
  memory_exchange ex(cfg, d, log, "GET", "/x.cgi", {}, *protocol::normalize_target("/x.cgi"));
  response_relay relay(ex, "/x.cgi", false);
  asio::io_context ctx;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        for (std::size_t at = 0; at < output.size(); at += step)
          if (!co_await relay.feed(output.substr(at, step))) break;
        relay.end();
        error_code ec;
        if (!relay.rejected() && relay.head().kind != protocol::cgi::response_kind::local_redirect)
          co_await ex.finish_body(ec);
      },
      asio::detached);
  ctx.run();
  relayed out;
  out.status = ex.status();
  out.content_type = std::string(ex.head()[http::field::content_type]);
  out.body = ex.body();
  out.rejected = relay.rejected();
  if (out.rejected) out.rejection = std::string(protocol::cgi::code_name(relay.rejection().code));
  out.redirect = relay.head().kind == protocol::cgi::response_kind::local_redirect;
  out.location = relay.head().location;
  return out;
}

TEST(Relay, AnswersTheSameWhateverTheSplit) {
  struct row {
    std::string output;
    unsigned status;  // what the client got (0: nothing yet: a rejection or a redirect)
    std::string body;
    std::string rejection;  // code name, when rejected
  };
  const std::vector<row> rows = {
      {"Content-Type: text/plain\r\n\r\nhello", 200, "hello", ""},
      {"Content-Type: text/plain\n\nhello\n", 200, "hello\n", ""},
      {"Status: 404 Not Here\r\nContent-Type: text/html\r\n\r\n<p>", 404, "<p>", ""},
      {"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc", 200, "abc", ""},
      {"Location: http://example.org/\r\n\r\n", 302, "", ""},
      {"", 0, "", "cgi.no_output"},
      {"Content-Type: text/plain\r\n", 0, "", "cgi.eof_before_headers"},
      {"Content-Type text/plain\r\n\r\n", 0, "", "cgi.header.no_colon"},
      {"Status: 600\r\nContent-Type: text/plain\r\n\r\n", 0, "", "cgi.status.range"},
      {"Status: 99\r\nContent-Type: text/plain\r\n\r\n", 0, "", "cgi.status.format"},
      {"Status: 103\r\nContent-Type: text/plain\r\n\r\n", 0, "", "cgi.status.interim"},
      {"X-A: 1\r\n\r\nbody", 0, "", "cgi.document.no_content_type"},
  };
  for (const auto& r : rows) {
    for (std::size_t step = 1; step <= std::max<std::size_t>(r.output.size(), 1); ++step) {
      auto got = relay_in_pieces(r.output, step);
      EXPECT_EQ(got.rejected, !r.rejection.empty()) << r.output << " step " << step;
      EXPECT_EQ(got.rejection, r.rejection) << r.output << " step " << step;
      EXPECT_EQ(got.status, r.status) << r.output << " step " << step;
      EXPECT_EQ(got.body, r.body) << r.output << " step " << step;
    }
  }
}

TEST(Relay, ALocalRedirectSendsNothingAndNamesTheLocation) {
  for (std::size_t step : {1, 3, 100}) {
    auto got = relay_in_pieces("Location: /other.cgi?x=1\r\n\r\n", step);
    EXPECT_FALSE(got.rejected);
    EXPECT_TRUE(got.redirect);
    EXPECT_EQ(got.location, "/other.cgi?x=1");
    EXPECT_EQ(got.status, 0u);  // the dispatch serves the location instead
  }
}

}  // namespace
}  // namespace cgihost::host
