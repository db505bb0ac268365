// The FastCGI module end to end with real php-cgi instances in a pool.

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "config/load.hpp"
#include "host/server.hpp"
#include "tests/host/test_client.hpp"
#include "tests/host/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class FastcgiTest : public ::testing::Test {
 protected:
  void TearDown() override {
    stop();
    EXPECT_TRUE(children_of(::getpid()).empty()) << "a php-cgi instance was left behind";
  }

  void start(const std::string& pool_settings) {
    ::chmod(site_.path().c_str(), 0755);
    site_.write("site/hello.php", "<?php header('Content-Type: text/plain'); echo 'hello ', getmypid();");
    site_.write("site/missing.php", "<?php header('Status: 404 Not Found'); header('Content-Type: text/plain'); echo 'nope';");
    site_.write("site/fatal.php", "<?php undefined_function();");
    site_.write("site/echo.php", "<?php header('Content-Type: application/octet-stream'); readfile('php://input');");
    site_.write("site/sleep.php", "<?php sleep((int)($_GET['s'] ?? 5)); echo 'woke';");
    site_.write("site/crash.php", "<?php posix_kill(getmypid(), 9); echo 'unreachable';");
    site_.write("site/info.php", "<?php header('Content-Type: text/plain'); echo $_SERVER['SCRIPT_NAME'], '|', $_SERVER['PATH_INFO'] ?? '', '|', $_SERVER['QUERY_STRING'], '|', $_SERVER['REQUEST_METHOD'];");
    ::chmod((site_ / "site").c_str(), 0755);
    for (const char* f : {"hello.php", "missing.php", "fatal.php", "echo.php", "sleep.php", "crash.php", "info.php"})
      ::chmod((site_ / ("site/" + std::string(f))).c_str(), 0644);
    std::string toml = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
)" + pool_settings + R"(
[http]
max_body_size = "64m"
[server]
threads = 2
grace_period = "5s"
)";
    server_ = std::make_unique<running_server>(toml, site_.path());
    port_ = server_->port();
  }

  void stop() {
    if (server_) server_->stop();
  }

  std::string log() const { return server_ ? server_->error_log() : std::string(); }

  temp_dir site_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(FastcgiTest, HelloStatusAndFatalError) {
  start("max_instances = 2");
  auto hello = fetch(port_, "/hello.php");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body.rfind("hello ", 0), 0u) << hello->body;
  EXPECT_EQ(fetch(port_, "/missing.php")->status, 404);
  EXPECT_EQ(fetch(port_, "/fatal.php")->status, 500);  // php-cgi's own Status: 500
  auto info = fetch(port_, "/info.php/extra?q=1", "POST", "Content-Length: 0\r\n");
  EXPECT_EQ(info->body, "/info.php|/extra|q=1|POST");
  EXPECT_EQ(fetch(port_, "/nothing.php")->status, 404);
}

TEST_F(FastcgiTest, InstancesAreRecycledAfterMaxRequestsWithoutAFailedRequest) {
  start("max_instances = 1\nmax_requests = 3");
  std::vector<std::string> pids;
  for (int i = 0; i < 10; ++i) {
    auto r = fetch(port_, "/hello.php");
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->status, 200) << i << " " << r->body;
    pids.push_back(r->body.substr(6));
  }
  // Three requests per instance: pids change after the 3rd, 6th and 9th.
  EXPECT_EQ(pids[0], pids[2]);
  EXPECT_NE(pids[2], pids[3]);
  EXPECT_EQ(pids[3], pids[5]);
  EXPECT_NE(pids[5], pids[6]);
}

TEST_F(FastcgiTest, PostBodiesReachPhpIntact) {
  start("max_instances = 2");
  std::string body(10 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7919 >> 3);
  connection c(port_);
  c.send("POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  std::thread writer([&] { c.send(body); });
  auto r = c.read_response();
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == body) << r->body.size();
}

TEST_F(FastcgiTest, ManyConcurrentRequestsWithFourInstances) {
  start("max_instances = 4");
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 50; ++t) {
    clients.emplace_back([&] {
      connection c(port_);
      for (int i = 0; i < 4; ++i) {
        c.send("GET /hello.php HTTP/1.1\r\nHost: t\r\n\r\n");
        auto r = c.read_response();
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_LE(children_of(::getpid()).size(), 4u);
}

TEST_F(FastcgiTest, QueueOverflowIs503AndATimeoutIs504) {
  start("max_instances = 1\nqueue_length = 0\nrequest_timeout = \"1s\"");
  connection busy(port_);
  busy.send("GET /sleep.php?s=3 HTTP/1.1\r\nHost: t\r\n\r\n");
  // The only instance is started by, and busy with, that request once it exists (bounded wait).
  for (int i = 0; i < 500 && children_of(::getpid()).empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(children_of(::getpid()).size(), 1u);
  auto overflow = fetch(port_, "/hello.php");
  ASSERT_TRUE(overflow);
  EXPECT_EQ(overflow->status, 503);
  EXPECT_EQ(overflow->header("Retry-After"), "1");
  EXPECT_NE(overflow->body.find("pool php, phase queue wait"), std::string::npos) << overflow->body;
  auto slow = busy.read_response();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504);
  // The instance that overran was ended; the next request gets a new one.
  auto after = fetch(port_, "/hello.php");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  std::string l = log();
  EXPECT_NE(l.find("503 phase queue wait: all 1 instances busy"), std::string::npos) << l;
  EXPECT_NE(l.find("504 phase response headers: no END_REQUEST within request_timeout (1000 ms)"), std::string::npos) << l;
}

TEST_F(FastcgiTest, AnInstanceKilledMidRequestIs502AndTheNextRequestWorks) {
  start("max_instances = 1");
  auto crash = fetch(port_, "/crash.php");
  ASSERT_TRUE(crash);
  EXPECT_EQ(crash->status, 502) << log();
  auto next = fetch(port_, "/hello.php");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(FastcgiTest, IdleInstancesEnd) {
  start("max_instances = 2\nidle_timeout = \"300ms\"");
  ASSERT_EQ(fetch(port_, "/hello.php")->status, 200);
  ASSERT_EQ(children_of(::getpid()).size(), 1u);
  bool ended = false;
  for (int i = 0; i < 300 && !ended; ++i) {  // bounded: 3 s
    ended = children_of(::getpid()).empty();
    if (!ended) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(ended);
  EXPECT_NE(log().find("(idle_timeout): ending it"), std::string::npos) << log();
}

}  // namespace
}  // namespace cgihost::test
