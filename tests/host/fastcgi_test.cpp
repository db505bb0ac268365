// The FastCGI module end to end with real php-cgi instances in a pool.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "config/load.hpp"
#include "host/app/server.hpp"
#include "spawner/launch.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A FastCGI program the pool tests run: php-cgi, and a minimal Perl FCGI
// application with the same behaviours (tests/data/fcgi_app.pl).
struct backend {
  std::string name;
  std::string ext;  // of the scripts it serves
};

// The account (quoted) the pool's instances run as: identity.process, which
// is this user's own when the tests do not run as root.
const std::string kOwnAccount = for_this_user("\"www-data\"");

std::string backend_name(const ::testing::TestParamInfo<backend>& info) { return info.param.name; }
void PrintTo(const backend& b, std::ostream* os) { *os << b.name; }

class FastcgiTest : public ::testing::TestWithParam<backend> {
 protected:
  void TearDown() override {
    stop();
    EXPECT_TRUE(children_of(::getpid()).empty()) << "an instance was left behind";
  }

  // The URL path of test script `name` for this backend.
  std::string u(const std::string& name) const { return "/" + name + "." + GetParam().ext; }

  // `pool_settings`: lines of [pools.app]; `more`: further tables.
  void start(const std::string& pool_settings, const std::string& more = "") {
    const auto& b = GetParam();
    ::chmod(site_.path().c_str(), 0755);
    // What the PHP scripts do, the Perl application does for the same names.
    const std::pair<const char*, const char*> scripts[] = {
        {"hello", "<?php header('Content-Type: text/plain'); echo 'hello ', getmypid();"},
        {"missing",
         "<?php header('Status: 404 Not Found'); header('Content-Type: text/plain'); echo 'nope';"},
        {"fatal", "<?php undefined_function();"},
        {"echo",
         "<?php header('Content-Type: application/octet-stream'); readfile('php://input');"},
        {"sleep", "<?php sleep((int)($_GET['s'] ?? 5)); echo 'woke';"},
        {"crash", "<?php posix_kill(getmypid(), 9); echo 'unreachable';"},
        {"crash_once",
         "<?php if (!file_exists($_GET['m'])) { touch($_GET['m']); posix_kill(getmypid(), 9); } "
         "echo 'survived';"},
        {"interim", "<?php http_response_code(100); echo 'after';"},
        {"warn", "<?php error_log('warned by the script'); echo 'ok';"},
        {"pause",
         "<?php header('Content-Type: text/plain'); echo 'part1 '; while (ob_get_level()) "
         "ob_end_flush(); flush(); "
         "sleep((int)($_GET['s'] ?? 5)); echo 'part2';"},
        {"warn_late",
         "<?php header('Content-Type: text/plain'); echo 'part1 '; while (ob_get_level()) "
         "ob_end_flush(); flush(); usleep(200000); "
         "error_log('late warning'); echo 'part2';"},
        {"info",
         "<?php header('Content-Type: text/plain'); echo $_SERVER['SCRIPT_NAME'], '|', "
         "$_SERVER['PATH_INFO'] ?? '', "
         "'|', $_SERVER['QUERY_STRING'], '|', $_SERVER['REQUEST_METHOD'];"},
        // A grandchild that leaves the instance's process group and session;
        // the answer is its pid.
        {"orphan",
         "<?php header('Content-Type: text/plain'); "
         "echo trim(shell_exec('setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!'));"},
    };
    for (auto [name, php] : scripts) {
      std::string file = "site/" + std::string(name) + "." + b.ext;
      site_.write(file, php);
      ::chmod((site_ / file).c_str(), 0644);
    }
    ::chmod((site_ / "site").c_str(), 0755);
    std::string command = "[\"/usr/bin/php-cgi\"]";
    if (b.name == "perl") {
      std::ifstream app(std::string(CGIHOST_SOURCE_DIR) + "/tests/data/fcgi_app.pl");
      site_.write("fcgi_app.pl", std::string(std::istreambuf_iterator<char>(app), {}));
      ::chmod((site_ / "fcgi_app.pl").c_str(), 0644);
      command = "[\"/usr/bin/perl\", \"" + (site_ / "fcgi_app.pl") + "\"]";
    }
    std::string toml = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.)" + b.ext + R"("
module = "fastcgi"
pool = "app"
[pools.app]
command = )" + command +
                       "\n" + pool_settings + R"(
[http]
max_body_size = "64m"
[server]
threads = 2
grace_period = "5s"
)" + more;
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

TEST_P(FastcgiTest, HelloStatusAndFatalError) {
  start("max_instances = 2");
  auto hello = fetch(port_, u("hello"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body.rfind("hello ", 0), 0u) << hello->body;
  EXPECT_EQ(fetch(port_, u("missing"))->status, 404);
  EXPECT_EQ(fetch(port_, u("fatal"))->status, 500);  // the program's own Status: 500
  auto info = fetch(port_, u("info") + "/extra?q=1", "POST", "Content-Length: 0\r\n");
  EXPECT_EQ(info->body, u("info") + "|/extra|q=1|POST");
  EXPECT_EQ(fetch(port_, u("nothing"))->status, 404);
}

// PHP's http_response_code(100) gives "Status: 100 Continue": an interim
// response alone is a 502 (the strict parser's cgi.status.interim), and the
// pipelined request behind it gets its own answer.
TEST_P(FastcgiTest, AnInterimStatusIs502AndThePipelinedRequestGetsItsOwnAnswer) {
  start("max_instances = 1");
  connection c(port_);
  c.send("GET " + u("interim") + " HTTP/1.1\r\nHost: t\r\n\r\nGET " + u("hello") +
         " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 502);
  auto second = c.read_response();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body.rfind("hello ", 0), 0u) << second->body;
  std::string after;
  EXPECT_TRUE(c.wait_closed(5s, &after));
  EXPECT_EQ(after, "");
  EXPECT_TRUE(eventually([&] { return log().find("cgi.status.interim") != std::string::npos; }))
      << log();
}

TEST_P(FastcgiTest, InstancesAreRecycledAfterMaxRequestsWithoutAFailedRequest) {
  start("max_instances = 1\nmax_requests = 3");
  std::vector<std::string> pids;
  for (int i = 0; i < 10; ++i) {
    auto r = fetch(port_, u("hello"));
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

TEST_P(FastcgiTest, PostBodiesOf10MiBArriveIntact) {
  start("max_instances = 2");
  std::string body(10 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7919 >> 3);
  connection c(port_);
  c.send("POST " + u("echo") +
         " HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  std::thread writer([&] { c.send(body); });
  auto r = c.read_response();
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == body) << r->body.size();
}

TEST_P(FastcgiTest, TwoHundredConcurrentRequestsWithFourInstancesAllSucceed) {
  start("max_instances = 4");
  std::atomic<int> ok{0};
  std::latch connected(200);
  std::vector<std::thread> clients;
  // 200 connections, each with a request in flight at once, twice over.
  for (int t = 0; t < 200; ++t) {
    clients.emplace_back([&] {
      connection c(port_);
      connected.arrive_and_wait();
      for (int i = 0; i < 2; ++i) {
        c.send("GET " + u("hello") + " HTTP/1.1\r\nHost: t\r\n\r\n");
        auto r = c.read_response();
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 400) << log();
  EXPECT_LE(children_of(server_->spawn_parent()).size(), 4u);
}

TEST_P(FastcgiTest, AScriptTheInstancesCannotReadIs403AndStartsNothing) {
  start("max_instances = 1");
  ::chmod((site_ / ("site/hello." + GetParam().ext)).c_str(), 0);
  auto r = fetch(port_, u("hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(log().find("may not read it"), std::string::npos) << log();
  EXPECT_NE(log().find("(fastcgi impersonate=false -> the process identity)"), std::string::npos)
      << log();
  EXPECT_EQ(log().find("started instance"), std::string::npos) << log();
  EXPECT_EQ(fetch(port_, u("info"))->status, 200);  // a readable one still runs
}

TEST_P(FastcgiTest, QueueOverflowIs503AndATimeoutIs504) {
  start("max_instances = 1\nqueue_length = 0\nrequest_timeout = \"1s\"");
  connection busy(port_);
  busy.send("GET " + u("sleep") + "?s=3 HTTP/1.1\r\nHost: t\r\n\r\n");
  // The only instance is started by, and busy with, that request once it exists.
  ASSERT_TRUE(eventually([&] { return !children_of(server_->spawn_parent()).empty(); }));
  ASSERT_EQ(children_of(server_->spawn_parent()).size(), 1u);
  auto overflow = fetch(port_, u("hello"));
  ASSERT_TRUE(overflow);
  EXPECT_EQ(overflow->status, 503);
  EXPECT_EQ(overflow->header("Retry-After"), "1");
  EXPECT_NE(overflow->body.find("pool app, phase queue wait"), std::string::npos) << overflow->body;
  auto slow = busy.read_response();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504);
  // The instance that overran was ended; the next request gets a new one.
  auto after = fetch(port_, u("hello"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  std::string l = log();
  EXPECT_NE(l.find("503 phase queue wait: all 1 instances busy"), std::string::npos) << l;
  EXPECT_NE(l.find("504 phase response headers: no END_REQUEST within request_timeout (1000 ms)"),
            std::string::npos)
      << l;
}

TEST_P(FastcgiTest, AnInstanceKilledMidRequestIs502AndTheNextRequestWorks) {
  start("max_instances = 1");
  auto crash = fetch(port_, u("crash"));
  ASSERT_TRUE(crash);
  EXPECT_EQ(crash->status, 502) << log();
  auto next = fetch(port_, u("hello"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_P(FastcgiTest, AGracefulStopLetsInstancesEndWithoutSigkill) {
  start("max_instances = 4");
  // Instances started from both io threads (an instance dies with the thread
  // that started it: the threads must outlive the stop).
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      for (int i = 0; i < 3; ++i) fetch(port_, u("hello"));
    });
  for (auto& t : clients) t.join();
  stop();
  std::string l = log();
  EXPECT_NE(l.find("ended ("), std::string::npos) << l;
  EXPECT_EQ(l.find("signal 9"), std::string::npos) << l;
}

TEST_P(FastcgiTest, IdleInstancesEnd) {
  start("max_instances = 2\nidle_timeout = \"300ms\"");
  ASSERT_EQ(fetch(port_, u("hello"))->status, 200);
  ASSERT_EQ(children_of(server_->spawn_parent()).size(), 1u);
  EXPECT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).empty(); }, 3s));
  EXPECT_NE(log().find("(idle_timeout): ending it"), std::string::npos) << log();
}

// min_instances: started with the pool before any request, and kept when
// idle_timeout ends the others.
TEST_P(FastcgiTest, MinInstancesRunBeforeAnyRequestAndOutliveIdleTimeout) {
  start("min_instances = 2\nmax_instances = 3\nidle_timeout = \"200ms\"");
  ASSERT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).size() == 2; }, 5s))
      << log();
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&] {
      auto r = fetch(port_, u("sleep") + "?s=1");
      EXPECT_TRUE(r && r->status == 200);
    });
  for (auto& t : clients) t.join();
  EXPECT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).size() == 2; }, 3s))
      << log();
  // Five idle_timeouts later (the pool looks every 50 ms), the two still run.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(children_of(server_->spawn_parent()).size(), 2u) << log();
  std::size_t ended = 0;
  for (std::size_t at = 0; (at = log().find("(idle_timeout): ending it", at)) != std::string::npos;
       ++at)
    ++ended;
  EXPECT_EQ(ended, 1u) << log();
}

// stderr_mode: "log_and_500" turns a response whose STDERR came first into a
// 500 (logged), and leaves one already begun alone; "ignore" logs nothing.
TEST_P(FastcgiTest, StderrModeLogAnd500AndIgnore) {
  start("stderr_mode = \"log_and_500\"");
  auto first = fetch(port_, u("warn"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 500) << first->body;
  EXPECT_EQ(first->body.find("warned"), std::string::npos) << "stderr never reaches the client";
  EXPECT_NE(log().find("warned by the script"), std::string::npos) << log();
  EXPECT_NE(log().find("500 the application wrote to STDERR before its response"),
            std::string::npos)
      << log();
  auto late = fetch(port_, u("warn_late"));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 200);
  EXPECT_EQ(late->body, "part1 part2");
  EXPECT_NE(log().find("wrote to stderr after its response began: the response stands"),
            std::string::npos)
      << log();
  EXPECT_EQ(fetch(port_, u("hello"))->status, 200);  // the instance serves on
  stop();
  start("stderr_mode = \"ignore\"");
  auto ignored = fetch(port_, u("warn"));
  ASSERT_TRUE(ignored);
  EXPECT_EQ(ignored->status, 200);
  EXPECT_EQ(ignored->body, "ok");
  EXPECT_EQ(log().find("warned by the script"), std::string::npos) << log();
}

// activity_timeout: an instance silent for that long ends the request: 504
// naming the phase before the head, a closed connection after it.
TEST_P(FastcgiTest, ActivityTimeoutEndsASilentRequestNamingThePhase) {
  start("max_instances = 1\nactivity_timeout = \"500ms\"");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(port_, u("sleep") + "?s=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_NE(log().find("504 phase waiting for the head: no output for activity_timeout (500 ms)"),
            std::string::npos)
      << log();
  {
    connection c(port_);
    c.send("GET " + u("pause") + "?s=5 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string got;
    EXPECT_TRUE(c.wait_closed(4s, &got)) << got;
    EXPECT_NE(got.find(" 200 "), std::string::npos) << got;
    EXPECT_NE(got.find("part1"), std::string::npos) << got;
    EXPECT_EQ(got.find("part2"), std::string::npos) << got;
  }
  EXPECT_TRUE(eventually([&] {
    return log().find("while streaming the body") != std::string::npos;
  })) << log();
  // A request that keeps writing within activity_timeout is not ended by it.
  auto ok = fetch(port_, u("hello"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// slow_request_log: one line for a request still running past it, none for
// a quick one.
TEST_P(FastcgiTest, SlowRequestLogNamesARequestOnceItRunsPastIt) {
  start("slow_request_log = \"300ms\"");
  auto r = fetch(port_, u("sleep") + "?s=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(fetch(port_, u("hello"))->status, 200);
  const std::string l = log();
  const auto at = l.find("slow request: pid ");
  ASSERT_NE(at, std::string::npos) << l;
  EXPECT_EQ(l.find("slow request:", at + 1), std::string::npos) << "once per request\n" << l;
  const std::string line = l.substr(at, l.find('\n', at) - at);
  EXPECT_NE(line.find(" GET " + u("sleep") + "?s=1 running for "), std::string::npos) << line;
  EXPECT_NE(line.find("(slow_request_log 300 ms), phase waiting for the head"), std::string::npos)
      << line;
  EXPECT_NE(line.find("account "), std::string::npos) << line;
}

// max_instances = 0: one instance per core, which the status page shows and
// the pool keeps to.
TEST_P(FastcgiTest, MaxInstancesZeroIsOnePerCore) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  start("max_instances = 0", "[status]\npath = \"/cgihost-status\"\n");
  auto page = fetch(port_, "/cgihost-status");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("\"max_instances\":" + std::to_string(cores) + ","), std::string::npos)
      << page->body;
  std::vector<std::thread> clients;
  for (unsigned i = 0; i <= cores; ++i)
    clients.emplace_back([&] { fetch(port_, u("sleep") + "?s=1"); });
  EXPECT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).size() == cores; }, 3s));
  EXPECT_EQ(children_of(server_->spawn_parent()).size(), cores);
  for (auto& t : clients) t.join();
}

// rapid_fails_per_minute: 3 crashes (a POST is not retried) stop the starts
// with 503 phase spawn; 0: a dozen crashes never do.
TEST_P(FastcgiTest, RapidFailsPerMinutePausesTheStartsAtItsCountAndZeroNever) {
  auto crash = [&] { return fetch(port_, u("crash"), "POST", "Content-Length: 0\r\n"); };
  start("max_instances = 1\nrapid_fails_per_minute = 3");
  for (int i = 0; i < 3; ++i) {
    auto r = crash();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502) << i << log();
  }
  auto paused = fetch(port_, u("hello"));
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->status, 503) << log();
  EXPECT_NE(paused->body.find("phase spawn"), std::string::npos) << paused->body;
  EXPECT_NE(log().find("3 failures within 60 s (rapid_fails_per_minute 3)"), std::string::npos)
      << log();
  stop();
  start("max_instances = 1\nrapid_fails_per_minute = 0");
  for (int i = 0; i < 12; ++i) {
    auto r = crash();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502) << i << log();
  }
  auto served = fetch(port_, u("hello"));
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << log();
  EXPECT_EQ(log().find("failures within"), std::string::npos) << log();
}

// stop_grace: an instance that ignores SIGTERM, asked to end at its
// idle_timeout, is not killed before stop_grace has passed, and is gone after.
TEST_P(FastcgiTest, AnInstanceDeafToSigtermIsKilledAfterStopGrace) {
  if (GetParam().name != "perl") GTEST_SKIP() << "php-cgi cannot be told to ignore SIGTERM";
  start("idle_timeout = \"200ms\"\nstop_grace = \"600ms\"\nenv.FCGI_APP_IGNORE_TERM = \"1\"");
  ASSERT_EQ(fetch(port_, u("hello"))->status, 200);
  auto kids = children_of(server_->spawn_parent());
  ASSERT_EQ(kids.size(), 1u);
  const pid_t pid = kids[0].first;
  ASSERT_TRUE(
      eventually([&] { return log().find("(idle_timeout): ending it") != std::string::npos; }, 3s))
      << log();
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).empty(); }, 5s))
      << log();
  // Seen from below only: the log line comes a moment after the SIGTERM.
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 450ms) << "killed before stop_grace";
  EXPECT_TRUE(pid_gone(pid));
  EXPECT_NE(log().find("pid " + std::to_string(pid) +
                       " did not exit within 600 ms of being asked to end (stop_grace)"),
            std::string::npos)
      << log();
}

// monitor_changes_to: the file changes while a slow request is under way;
// it is answered whole, the instance that served before the change ends,
// and the next request gets a new one.
TEST_P(FastcgiTest, AChangeToTheMonitoredFileRecyclesTheInstancesOnceFree) {
  site_.write("watched.ini", "a=1\n");
  start("max_instances = 1\nmonitor_changes_to = \"watched.ini\"");
  auto first = fetch(port_, u("hello"));
  ASSERT_TRUE(first && first->status == 200);
  auto kids = children_of(server_->spawn_parent());
  ASSERT_EQ(kids.size(), 1u);
  const pid_t before = kids[0].first;
  connection c(port_);
  ASSERT_TRUE(c.send("GET " + u("sleep") + "?s=1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  site_.write("watched.ini", "a=22\n");
  ASSERT_TRUE(eventually(
      [&] { return log().find("changed (monitor_changes_to)") != std::string::npos; }, 5s))
      << log();
  auto slow = c.read_response();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, "woke");
  EXPECT_TRUE(pid_gone(before)) << log();
  auto next = fetch(port_, u("hello"));
  ASSERT_TRUE(next && next->status == 200);
  EXPECT_EQ(next->body.find("hello " + std::to_string(before)), std::string::npos) << next->body;
}

TEST_P(FastcgiTest, AClientThatLeavesAbortsItsRequestAndASilentInstanceIsKilled) {
  start("max_instances = 1");
  {
    connection c(port_);
    c.send("GET " + u("sleep") + "?s=30 HTTP/1.1\r\nHost: t\r\n\r\n");
    // The instance exists: the request is on its way to it, and nothing
    // before the instance watches the client.
    ASSERT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).size() == 1; }));
  }  // the client leaves
  // Seen once the bodyless request starts watching its client (after a short
  // while: the handler's kWatchClientAfter); then ABORT_REQUEST and a 2 s
  // grace, and the sleeping instance, which does not end the request, is killed.
  ASSERT_TRUE(eventually([&] { return log().find("was killed") != std::string::npos; }, 10s))
      << log();
  EXPECT_NE(log().find("the client left after"), std::string::npos);
  EXPECT_NE(log().find("ABORT_REQUEST sent"), std::string::npos);
  auto next = fetch(port_, u("hello"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_P(FastcgiTest, AnIdempotentRequestDroppedBeforeAnyByteIsRetriedOnAnotherInstance) {
  start("max_instances = 2");
  temp_dir markers;
  ::chmod(markers.path().c_str(), 0777);
  auto r = fetch(port_, u("crash_once") + "?m=" + (markers / "get"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << log();
  EXPECT_EQ(r->body, "survived");
  EXPECT_NE(log().find("trying another instance"), std::string::npos) << log();
  // A POST is not repeated: its instance died, so it is a 502.
  auto post =
      fetch(port_, u("crash_once") + "?m=" + (markers / "post"), "POST", "Content-Length: 0\r\n");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 502) << log();
}

TEST_P(FastcgiTest, TheStatusPageShowsInstancesAndTotalsAsJsonAndPrometheus) {
  start("max_instances = 2", "[status]\npath = \"/cgihost-status\"\n");
  EXPECT_EQ(fetch(port_, u("crash"))->status, 502);  // after one retry: instances 1 and 2 died
  std::string pid;
  for (int i = 0; i < 3; ++i) {
    auto r = fetch(port_, u("hello"));  // instance 3
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    pid = r->body.substr(6);
  }
  EXPECT_EQ(fetch(port_, u("missing"))->status, 404);
  auto page = fetch(port_, "/cgihost-status");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->header("Content-Type"), "application/json");
  const std::string& j = page->body;
  EXPECT_NE(j.find("\"name\":\"app\""), std::string::npos) << j;
  EXPECT_NE(j.find("{\"number\":3,\"pid\":" + pid + ",\"identity\":" + kOwnAccount +
                   ",\"state\":\"idle\",\"requests\":4"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"accepted\":5,\"responses_5xx\":1,\"timeouts\":0,\"restarts\":2"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"crashes\":2"), std::string::npos) << j;
  EXPECT_NE(j.find("\"queue_length\":0"), std::string::npos) << j;
  auto prom = fetch(port_, "/cgihost-status?format=prometheus");
  ASSERT_TRUE(prom);
  EXPECT_EQ(prom->status, 200);
  EXPECT_NE(prom->body.find("# TYPE cgihost_pool_instances gauge"), std::string::npos)
      << prom->body;
  EXPECT_NE(
      prom->body.find("cgihost_pool_requests_total{pool=\"app\",identity=" + kOwnAccount + "} 5\n"),
      std::string::npos)
      << prom->body;
  EXPECT_NE(prom->body.find(
                "cgihost_pool_responses_5xx_total{pool=\"app\",identity=" + kOwnAccount + "} 1\n"),
            std::string::npos);
  EXPECT_NE(
      prom->body.find("cgihost_pool_restarts_total{pool=\"app\",identity=" + kOwnAccount + "} 2\n"),
      std::string::npos);
  EXPECT_NE(prom->body.find("cgihost_pool_instance_requests{pool=\"app\",identity=" + kOwnAccount +
                            ","
                            "instance=\"3\",pid=\"" +
                            pid + "\"} 4\n"),
            std::string::npos)
      << prom->body;
  EXPECT_EQ(fetch(port_, "/cgihost-status", "POST", "Content-Length: 0\r\n")->status, 405);
}

// Finding 6: what an instance starts ends with it, even in a session of its own.
TEST_P(FastcgiTest, AGrandchildThatCalledSetsidEndsWithItsInstance) {
  start("max_instances = 1\nmax_requests = 1");  // the instance ends after one request
  auto r = fetch(port_, u("orphan"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << log();
  const pid_t grandchild = static_cast<pid_t>(std::atol(r->body.c_str()));
  ASSERT_GT(grandchild, 1) << r->body;
  EXPECT_TRUE(pid_gone(grandchild)) << "pid " << grandchild << " outlived its instance";
}

// /proc/PID/limits as "Max processes" -> its soft limit.
std::map<std::string, std::string> limits_of(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  std::getline(in, line);  // the column titles
  while (std::getline(in, line)) {
    if (line.size() < 26) continue;
    std::string name = line.substr(0, 26);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    std::istringstream rest(line.substr(26));
    std::string soft;
    rest >> soft;
    out[name] = soft;
  }
  return out;
}

// Finding 13: the [cgi] resource limits exist for pools too.
TEST_P(FastcgiTest, ThePoolsResourceLimitsApplyToItsInstances) {
  start(
      "max_instances = 1\nmax_processes = 333\nmax_open_files = 77\n"
      "max_address_space = \"4g\"\nmax_cpu_time = \"1h\"");
  auto r = fetch(port_, u("hello"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << log();
  const pid_t pid = static_cast<pid_t>(std::atol(r->body.substr(6).c_str()));
  ASSERT_GT(pid, 1) << r->body;
  auto limits = limits_of(pid);
  EXPECT_EQ(limits["Max processes"], "333");
  EXPECT_EQ(limits["Max open files"], "77");
  EXPECT_EQ(limits["Max address space"], std::to_string(4ull << 30));
  EXPECT_EQ(limits["Max cpu time"], "3600");
}

INSTANTIATE_TEST_SUITE_P(Programs, FastcgiTest,
                         ::testing::Values(backend{"php", "php"}, backend{"perl", "fpl"}),
                         backend_name);

// `children = N`: one php-cgi whose own process manager keeps N children on
// its socket (one OPcache), which cgihost lends as N connection slots.
class FastcgiChildren : public FastcgiTest {
 protected:
  // The pids of the pool's processes: the instance (the spawner's one child)
  // and its children.
  std::pair<pid_t, std::set<pid_t>> processes() {
    auto top = children_of(server_->spawn_parent());
    if (top.size() != 1) return {0, {}};
    std::set<pid_t> kids;
    for (auto [pid, st] : children_of(top[0].first)) kids.insert(pid);
    return {top[0].first, kids};
  }
};

TEST_P(FastcgiChildren, OneInstanceItsChildrenServeAndAreRecycledByIt) {
  start("children = 2\nmax_requests = 3", "[status]\npath = \"/cgihost-status\"\n");
  std::set<std::string> answered;
  for (int i = 0; i < 12; ++i) {
    auto r = fetch(port_, u("hello"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << log();
    answered.insert(r->body.substr(6));
  }
  // 12 requests, 3 per child: at least 4 children answered, none of them the instance.
  EXPECT_GE(answered.size(), 4u);
  auto [master, kids] = processes();
  ASSERT_NE(master, 0) << "not one instance under the spawner";
  EXPECT_TRUE(eventually([&] { return processes().second.size() == 2; }, 3s));
  EXPECT_FALSE(answered.contains(std::to_string(master)));
  EXPECT_NE(log().find("started instance pid " + std::to_string(master) + " with 2 children"),
            std::string::npos)
      << log();
  // Concurrent requests use both children.
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&] {
      for (int i = 0; i < 5; ++i)
        if (auto r = fetch(port_, u("hello")); r && r->status == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 30) << log();
  // Counted once each response is sent: the last one may still be on its way.
  std::string page;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = fetch(port_, "/cgihost-status");
        page = r ? r->body : "";
        return page.find("\"accepted\":42") != std::string::npos;
      },
      3s))
      << page;
  EXPECT_NE(page.find("\"pid\":" + std::to_string(master)), std::string::npos) << page;
  EXPECT_NE(page.find("\"children\":2"), std::string::npos) << page;
}

TEST_P(FastcgiChildren, AGracefulStopEndsTheInstanceAndItsChildren) {
  start("children = 3");
  ASSERT_EQ(fetch(port_, u("hello"))->status, 200);
  EXPECT_TRUE(eventually([&] { return processes().second.size() == 3; }, 3s));
  stop();
  EXPECT_NE(log().find("ended (exit 0)"), std::string::npos) << log();
  EXPECT_EQ(log().find("signal 9"), std::string::npos) << log();
  // TearDown: no process left.
}

TEST_P(FastcgiChildren, AStopCutShortKillsTheInstanceAndItsChildren) {
  start("children = 2\nrequest_timeout = \"30s\"", "");
  // A request still running when the grace period (5 s) ends: kill_now.
  std::thread sleeper([&] { fetch(port_, u("sleep") + "?s=20"); });
  EXPECT_TRUE(eventually([&] { return processes().second.size() == 2; }, 3s));
  stop();
  sleeper.join();
  EXPECT_TRUE(children_of(::getpid()).empty());
}

TEST_P(FastcgiChildren, AnInstanceThatDiesIsNoticedAndReplaced) {
  start("children = 2");
  ASSERT_EQ(fetch(port_, u("hello"))->status, 200);
  auto [master, kids] = processes();
  ASSERT_NE(master, 0);
  ASSERT_EQ(::kill(master, SIGKILL), 0);
  EXPECT_TRUE(eventually(
      [&] {
        return log().find("instance pid " + std::to_string(master) + " died") != std::string::npos;
      },
      3s))
      << log();
  auto r = fetch(port_, u("hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << log();
  auto [again, kids2] = processes();
  EXPECT_NE(again, 0);
  EXPECT_NE(again, master);
}

TEST_P(FastcgiChildren, ATimedOutRequestKillsTheInstanceAndTheNextOneWorks) {
  start("children = 2\nrequest_timeout = \"1s\"");
  ASSERT_EQ(fetch(port_, u("hello"))->status, 200);
  auto [master, kids] = processes();
  auto slow = fetch(port_, u("sleep") + "?s=10");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504) << log();
  EXPECT_TRUE(eventually(
      [&] {
        return log().find("killing instance pid " + std::to_string(master)) != std::string::npos;
      },
      3s))
      << log();
  auto r = fetch(port_, u("hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << log();
  EXPECT_NE(processes().first, master);
}

INSTANTIATE_TEST_SUITE_P(Programs, FastcgiChildren, ::testing::Values(backend{"php", "php"}),
                         backend_name);

// A program that exits at once: the pool stops spawning after repeated
// failures and answers 503 naming the phase, instead of spinning.
TEST(FastcgiFailures, AProgramThatKeepsDyingStopsSpawningWith503) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/x.php", "<?php echo 1;");
  ::chmod((site / "site").c_str(), 0755);
  ::chmod((site / "site/x.php").c_str(), 0644);
  running_server server(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "broken"
[pools.broken]
command = ["/bin/false"]
max_instances = 1
)",
                        site.path());
  std::optional<http_response> last;
  int requests = 0;
  for (; requests < 30; ++requests) {  // bounded
    last = fetch(server.port(), "/x.php");
    ASSERT_TRUE(last);
    EXPECT_GE(last->status, 500);
    if (last->body.find("phase spawn") != std::string::npos) break;
  }
  EXPECT_EQ(last->status, 503);
  EXPECT_NE(last->body.find("pool broken, phase spawn"), std::string::npos) << last->body;
  EXPECT_FALSE(last->header("Retry-After").empty());
  std::string log = server.error_log();
  EXPECT_NE(log.find("failures within 60 s"), std::string::npos) << log;
  // Bounded: the pause came after ~10 failures, not after 30 requests' worth of spawns.
  std::size_t started = 0;
  for (std::size_t at = 0; (at = log.find("started instance", at)) != std::string::npos; ++at)
    ++started;
  EXPECT_LE(started, 12u) << log;
  EXPECT_LT(requests, 15);
  server.stop();
  EXPECT_TRUE(children_of(::getpid()).empty());
}

// Finding 19 for pools: an instance whose start the account's process limit
// refuses is a 503 naming the phase and the limit, not a 502.
TEST(FastcgiFailures, AStartRefusedByThePoolsProcessLimitIs503PhaseSpawn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: a throwaway account and a switch to it";
  throwaway_account account("pnproc");
  ASSERT_TRUE(account.ok());
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/x.php", "<?php echo 1;");
  site.write("site/hold.pl",
             "$| = 1; print \"Content-Type: text/plain\\n\\nstarted\\n\"; sleep 30;\n");
  ::chmod((site / "site").c_str(), 0755);
  ::chmod((site / "site/x.php").c_str(), 0644);
  ::chmod((site / "site/hold.pl").c_str(), 0644);
  // CGI as identity.process holds two processes of the account; the pool's
  // instance, limited to one, cannot start beside them.
  running_server server(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = ")" + account.name() +
                            R"("
[cgi]
create_process_as_user = false
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 1
max_processes = 1
)",
                        site.path());
  std::vector<std::unique_ptr<connection>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<connection>(server.port()));
    held.back()->send("GET /hold.pl HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(held.back()->wait_bytes(1)) << server.error_log();
  }
  auto r = fetch(server.port(), "/x.php");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << server.error_log();
  EXPECT_NE(r->body.find("pool php, phase spawn"), std::string::npos) << r->body;
  EXPECT_FALSE(r->header("Retry-After").empty());
  EXPECT_NE(server.error_log().find("execve: Resource temporarily unavailable (the account has "
                                    "reached its process limit, RLIMIT_NPROC)"),
            std::string::npos)
      << server.error_log();
  held.clear();
  server.stop();
}

// A FastCGI server cgihost did not start (as php-fpm would be): `argv` with
// a listening socket the test bound as fd 0, in its own process group, which
// is killed and reaped when this object goes.
class external_server {
 public:
  external_server(int listen_fd, std::vector<std::string> argv, std::vector<std::string> env) {
    spawner::launch_spec spec;
    spec.program = argv[0];
    spec.argv = std::move(argv);
    spec.env = std::move(env);
    spec.working_dir = "/";
    spec.stdin_fd = listen_fd;
    spec.new_process_group = true;
    spec.die_with_parent = true;
    spawner::launch_error error;
    auto c = spawner::launch(spec, error);
    EXPECT_TRUE(c) << error.message();
    if (!c) return;
    pid_ = c->pid;
    ::close(c->stdout_fd);
    ::close(c->stderr_fd);
  }
  ~external_server() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  external_server(const external_server&) = delete;
  external_server& operator=(const external_server&) = delete;

 private:
  pid_t pid_ = -1;
};

int listen_tcp(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 64), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int listen_unix(const std::string& path) {
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 64), 0);
  return fd;
}

std::string remote_config(const std::string& address, const std::string& ext,
                          const std::string& extra) {
  return R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.)" +
         ext + R"("
module = "fastcgi"
pool = "remote"
[pools.remote]
address = ")" +
         address + "\"\n" + extra + "\n";
}

TEST(FastcgiRemote, PhpCgiListeningOnTcpIsReachedByHostNameWithBoundedConnections) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/hello.php",
             "<?php header('Content-Type: text/plain'); echo 'hello ', getmypid();");
  ::chmod((site / "site").c_str(), 0755);
  ::chmod((site / "site/hello.php").c_str(), 0644);
  std::uint16_t php_port = 0;
  int lfd = listen_tcp(php_port);
  // Two PHP workers behind one listening socket, as php-fpm would have.
  external_server php(lfd, {"/usr/bin/php-cgi"},
                      {"PHP_FCGI_CHILDREN=2", "PHP_FCGI_MAX_REQUESTS=0", "PATH=/usr/bin:/bin"});
  ::close(lfd);
  // "localhost" may resolve to ::1 first, where nothing listens: the next address is tried.
  running_server server(
      remote_config("localhost:" + std::to_string(php_port), "php", "max_connections = 2"),
      site.path());
  std::mutex mu;
  std::set<std::string> pids;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      connection c(server.port());
      for (int i = 0; i < 5; ++i) {
        c.send("GET /hello.php HTTP/1.1\r\nHost: t\r\n\r\n");
        auto r = c.read_response();
        if (!r || r->status != 200) continue;
        ++ok;
        std::lock_guard lock(mu);
        pids.insert(r->body);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 40) << server.error_log();
  EXPECT_GE(pids.size(), 1u);
  EXPECT_LE(pids.size(), 2u);  // only the server's two workers answered
  EXPECT_EQ(server.error_log().find("started instance"),
            std::string::npos);  // cgihost started nothing
  server.stop();
}

TEST(FastcgiRemote, AServerThatGoesAwayIs503ConnectAndIsUsedAgainWhenBack) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/hello.fpl", "served by the Perl application");
  ::chmod((site / "site").c_str(), 0755);
  ::chmod((site / "site/hello.fpl").c_str(), 0644);
  const std::string app = std::string(CGIHOST_SOURCE_DIR) + "/tests/data/fcgi_app.pl";
  const std::string sock = site / "app.sock";
  std::optional<external_server> perl;
  auto start_perl = [&] {
    int fd = listen_unix(sock);
    perl.emplace(fd, std::vector<std::string>{"/usr/bin/perl", app}, std::vector<std::string>{});
    ::close(fd);
  };
  start_perl();
  running_server server(remote_config("unix:" + sock, "fpl", "max_connections = 1"), site.path());
  auto first = fetch(server.port(), "/hello.fpl");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << server.error_log();
  EXPECT_EQ(first->body.rfind("hello ", 0), 0u);

  perl.reset();  // the server is gone (its kept connection with it)
  auto gone = fetch(server.port(), "/hello.fpl");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 503);
  EXPECT_NE(gone->body.find("pool remote, phase connect"), std::string::npos) << gone->body;
  EXPECT_FALSE(gone->header("Retry-After").empty());
  EXPECT_NE(server.error_log().find("connect to unix:" + sock), std::string::npos)
      << server.error_log();

  start_perl();
  auto back = fetch(server.port(), "/hello.fpl");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200) << server.error_log();
  server.stop();
}

TEST(StatusPage, IsRefusedToPeersOutsideAllowAndAbsentWithoutAPath) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/index.html", "hi");
  running_server only_lan(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[status]
path = "/cgihost-status"
allow = ["10.0.0.0/8"]
)",
                          site.path());
  auto refused = fetch(only_lan.port(), "/cgihost-status");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(only_lan.error_log().find("status page refused to 127.0.0.1, not in [status] allow"),
            std::string::npos)
      << only_lan.error_log();
  only_lan.stop();
  running_server off(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
)",
                     site.path());
  EXPECT_EQ(fetch(off.port(), "/cgihost-status")->status, 404);  // just a missing file
  off.stop();
}

// [status] ping_path: a load balancer's health check, answered to any peer
// (the status page beside it stays refused to peers outside allow), GET and
// HEAD only; without the status page's own path too.
TEST(StatusPage, PingPathAnswersAnyPeer) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/index.html", "hi");
  running_server both(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[status]
path = "/cgihost-status"
allow = ["10.0.0.0/8"]
ping_path = "/ping"
ping_response = "ok from cgihost"
)",
                      site.path());
  auto pong = fetch(both.port(), "/ping");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->status, 200);
  EXPECT_EQ(pong->body, "ok from cgihost\n");
  EXPECT_EQ(pong->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(pong->header("cache-control"), "no-store");
  EXPECT_EQ(fetch(both.port(), "/cgihost-status")->status, 403);
  EXPECT_EQ(fetch(both.port(), "/ping", "POST")->status, 405);
  EXPECT_EQ(fetch(both.port(), "/ping/x")->status, 404);
  both.stop();
  running_server ping_only(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[status]
ping_path = "/healthz"
)",
                           site.path());
  auto plain = fetch(ping_only.port(), "/healthz");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->body, "pong\n");
  EXPECT_EQ(fetch(ping_only.port(), "/cgihost-status")->status, 404);
  ping_only.stop();
}

}  // namespace
}  // namespace cgihost::test
