// The HTTP front end end-to-end: a real server on a loopback port (port 0),
// raw bytes from a real socket.

#include <gtest/gtest.h>
#include <pwd.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "config/load.hpp"
#include "host/app/server.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;

const std::string kIndex = "<!DOCTYPE html><title>home</title>\n";

// A running server over a scratch site, with its logs kept for assertions.
class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override { start(""); }
  void TearDown() override { stop(); }

  void start(const std::string& extra_config) {
    site_.write("site/index.html", kIndex);
    site_.write("site/hello.txt", "hello, world\n");
    site_.write("site/sub/page.html", "<p>sub</p>\n");
    site_.write("site/noindex/file.bin", "x");
    site_.write("outside.txt", "secret outside the root\n");
    fs::create_symlink(site_ / "outside.txt", site_ / "site/escape.txt");
    fs::create_symlink(site_.path(), site_ / "site/up");
    fs::create_symlink("hello.txt", site_ / "site/alias.txt");
    ::mkfifo((site_ / "site/fifo").c_str(), 0644);
    big_.assign(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big_.size(); ++i)
      big_[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    site_.write("site/big.bin", big_);

    std::string toml = R"(listen = ["127.0.0.1:0", "[::1]:0"]
document_root = "site"
[identity]
process = "www-data"
[http]
max_request_line = 1024
max_header_bytes = 2048
max_header_count = 20
max_body_size = 4096
header_timeout = "400ms"
keepalive_timeout = "400ms"
body_timeout = "400ms"
[server]
threads = 2
grace_period = ")" + grace_ +
                       R"("
)" + extra_config;
    server_ = std::make_unique<running_server>(toml, site_.path());
    port_ = server_->port(0);
    port6_ = server_->port(1);
  }

  void stop() {
    if (server_) server_->stop();
  }

  std::string access_log() const { return server_ ? server_->access_log() : std::string(); }
  std::string error_log() const { return server_ ? server_->error_log() : std::string(); }

  // Sends raw bytes on a new connection; the one response, and whether the
  // server then closed the connection.
  std::pair<std::optional<http_response>, bool> raw(const std::string& bytes) {
    connection c(port_);
    c.send(bytes);
    auto r = c.read_response();
    bool closed = c.wait_closed(std::chrono::seconds(3));
    return {r, closed};
  }

  temp_dir site_;
  std::string grace_ = "5s";
  std::string big_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0, port6_ = 0;
};

TEST_F(HttpTest, ServesIndexForTheRootFolder) {
  auto r = fetch(port_, "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kIndex);
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->header("Content-Length"), std::to_string(kIndex.size()));
  EXPECT_FALSE(r->header("Last-Modified").empty());
  EXPECT_FALSE(r->header("Date").empty());
  EXPECT_EQ(r->header("Server").rfind("cgihost/", 0), 0u);
}

TEST_F(HttpTest, ServesOverIpv6Too) {
  connection c(port6_, true);
  c.send("GET /hello.txt HTTP/1.1\r\nHost: [::1]\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello, world\n");
}

TEST_F(HttpTest, ContentTypeFollowsTheExtension) {
  EXPECT_EQ(fetch(port_, "/hello.txt")->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(fetch(port_, "/big.bin")->header("Content-Type"), "application/octet-stream");
}

TEST_F(HttpTest, HeadSendsTheHeadersOfGetAndNoBody) {
  connection c(port_);
  c.send("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("Content-Length"), "13");
  // If HEAD had sent a body, it would be read here as the next status line.
  auto get = c.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "hello, world\n");
}

TEST_F(HttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  connection c(port_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->header("Connection"), "close");
  }
}

TEST_F(HttpTest, PipelinedRequestsAreAnsweredInOrder) {
  connection c(port_);
  c.send(
      "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /sub/page.html HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  auto a = c.read_response(), b = c.read_response(), d = c.read_response(), e = c.read_response();
  ASSERT_TRUE(a && b && d && e);
  EXPECT_EQ(a->body, "hello, world\n");
  EXPECT_EQ(b->body, "<p>sub</p>\n");
  EXPECT_EQ(d->status, 404);
  EXPECT_EQ(e->body, kIndex);
  EXPECT_EQ(e->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(3)));
}

TEST_F(HttpTest, Http10ClosesUnlessAskedToKeepAlive) {
  {
    connection c(port_);
    c.send("GET /hello.txt HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->version, "HTTP/1.0");
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(3)));
  }
  connection c(port_);
  c.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "keep-alive");
  c.send("GET /hello.txt HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(c.read_response());
}

TEST_F(HttpTest, MissingFilesAre404AndFoldersWithoutIndex403) {
  EXPECT_EQ(fetch(port_, "/nope.html")->status, 404);
  EXPECT_EQ(fetch(port_, "/sub/nope/deeper")->status, 404);
  EXPECT_EQ(fetch(port_, "/hello.txt/extra")->status, 404);
  EXPECT_EQ(fetch(port_, "/noindex/")->status, 403);
  EXPECT_EQ(fetch(port_, "/fifo")->status, 403);  // opened without blocking, refused as not a file
}

TEST_F(HttpTest, FolderWithoutSlashRedirects) {
  auto r = fetch(port_, "/sub?x=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "/sub/?x=1");
}

TEST_F(HttpTest, SymlinksMayNotLeaveTheDocumentRoot) {
  EXPECT_EQ(fetch(port_, "/escape.txt")->status, 404);
  EXPECT_EQ(fetch(port_, "/up/outside.txt")->status, 404);
  auto inside = fetch(port_, "/alias.txt");
  EXPECT_EQ(inside->status, 200);
  EXPECT_EQ(inside->body, "hello, world\n");
}

TEST_F(HttpTest, TraversalAttemptsNeverReachTheFileSystem) {
  struct attempt {
    const char* target;
    int status;
  };
  for (auto [target, status] :
       {attempt{"/../outside.txt", 400}, attempt{"/%2e%2e/outside.txt", 400},
        attempt{"/sub/../../outside.txt", 400}, attempt{"/..%2foutside.txt", 400},
        attempt{"/sub%2f..%2f..%2foutside.txt", 400}, attempt{"/hello.txt%00.html", 400},
        attempt{"/..%5coutside.txt", 400}, attempt{"/%zz", 400}, attempt{"/sub/../hello.txt", 200},
        attempt{"//sub//page.html", 200}, attempt{"/sub/./page.html", 200},
        attempt{"/%68ello.txt", 200}}) {
    auto r = fetch(port_, target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, status) << target;
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << target;
  }
}

// Dotfiles and editors' backups are refused (404) before the file system is
// asked, whatever the encoding; /.well-known/ stays reachable (RFC 8615).
TEST_F(HttpTest, DotfilesAndBackupsAreRefusedByTheFilter) {
  for (const char* file : {".git/config", ".git/HEAD", ".env", ".htpasswd", "index.php~",
                           "index.php.bak", "index.php.swp", ".index.php.swp", "x.orig", "x.old",
                           "sub/.git/config", "site.old/index.html"})
    site_.write(std::string("site/") + file, "secret\n");
  site_.write("site/.well-known/x", "well known\n");
  struct attempt {
    const char* target;
    const char* rule;
  };
  for (auto [target, rule] : {
           attempt{"/.git/config", "filter.dot_segment"},
           attempt{"/.git/HEAD", "filter.dot_segment"},
           attempt{"/.git/", "filter.dot_segment"},
           attempt{"/.env", "filter.dot_segment"},
           attempt{"/.htpasswd", "filter.dot_segment"},
           attempt{"/%2egit/config", "filter.dot_segment"},
           attempt{"/%2Eenv", "filter.dot_segment"},
           attempt{"/sub/../.env", "filter.dot_segment"},
           attempt{"/sub/.git/config", "filter.dot_segment"},
           attempt{"/.index.php.swp", "filter.dot_segment"},
           attempt{"/index.php~", "filter.denied_extension"},
           attempt{"/index.php%7E", "filter.denied_extension"},
           attempt{"/index.php.bak", "filter.denied_extension"},
           attempt{"/INDEX.PHP.BAK", "filter.denied_extension"},
           attempt{"/index.php.swp", "filter.denied_extension"},
           attempt{"/x.orig", "filter.denied_extension"},
           attempt{"/x.old", "filter.denied_extension"},
           attempt{"/site.old/", "filter.denied_extension"},
           attempt{"/hello.txt/.git", "filter.dot_segment"},
       }) {
    for (const char* method : {"GET", "HEAD"}) {
      auto r = fetch(port_, target, method);
      ASSERT_TRUE(r) << target;
      EXPECT_EQ(r->status, 404) << method << " " << target;
      EXPECT_EQ(r->body.find("secret"), std::string::npos) << target;
    }
    EXPECT_NE(error_log().find(std::string(" ") + rule + ": segment"), std::string::npos)
        << target << "\n"
        << error_log();
  }
  auto known = fetch(port_, "/.well-known/x");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->status, 200);
  EXPECT_EQ(known->body, "well known\n");
  stop();
  EXPECT_NE(error_log().find("[filter] rid="), std::string::npos);
  EXPECT_NE(error_log().find(" 404 GET /.git/config: filter.dot_segment: segment \".git\" begins "
                             "with a dot"),
            std::string::npos)
      << error_log();
}

TEST_F(HttpTest, ConditionalGetAnswers304) {
  auto first = fetch(port_, "/hello.txt");
  ASSERT_TRUE(first);
  std::string lm = first->header("Last-Modified"), etag = first->header("ETag");
  ASSERT_FALSE(lm.empty());
  ASSERT_FALSE(etag.empty());

  auto by_date = fetch(port_, "/hello.txt", "GET", "If-Modified-Since: " + lm + "\r\n");
  EXPECT_EQ(by_date->status, 304);
  EXPECT_TRUE(by_date->body.empty());
  EXPECT_EQ(by_date->header("ETag"), etag);

  auto older =
      fetch(port_, "/hello.txt", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
  EXPECT_EQ(older->status, 200);
  auto garbage = fetch(port_, "/hello.txt", "GET", "If-Modified-Since: yesterday\r\n");
  EXPECT_EQ(garbage->status, 200);

  EXPECT_EQ(fetch(port_, "/hello.txt", "GET", "If-None-Match: \"x\", " + etag + "\r\n")->status,
            304);
  EXPECT_EQ(fetch(port_, "/hello.txt", "GET", "If-None-Match: \"other\"\r\n")->status, 200);
  // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
  EXPECT_EQ(fetch(port_, "/hello.txt", "GET",
                  "If-None-Match: \"other\"\r\nIf-Modified-Since: " + lm + "\r\n")
                ->status,
            200);
}

TEST_F(HttpTest, OtherMethodsAre405WithAllow) {
  auto r = fetch(port_, "/hello.txt", "DELETE");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
  // A body the static handler does not read is skipped, and the connection goes on.
  connection c(port_);
  c.send(
      "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcdeGET /hello.txt "
      "HTTP/1.1\r\nHost: t\r\n\r\n");
  auto post = c.read_response();
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto get = c.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
}

TEST_F(HttpTest, LargeFilesStreamWhole) {
  auto r = fetch(port_, "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big_.size()));
  EXPECT_TRUE(r->body == big_) << "body differs (" << r->body.size() << " bytes)";
}

TEST_F(HttpTest, RequestLineTooLongIs414) {
  auto [r, closed] = raw("GET /" + std::string(1100, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  EXPECT_TRUE(closed);
  // Longer than the line limit and the header limit together: still 414.
  auto [r2, closed2] = raw("GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 414);
}

TEST_F(HttpTest, HeaderBlockTooLargeIs431) {
  auto [r, closed] =
      raw("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2100, 'b') + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(closed);
  auto [r2, closed2] =
      raw("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(10000, 'b') + "\r\n\r\n");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 431);
}

TEST_F(HttpTest, TooManyHeaderFieldsIs431) {
  std::string req = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 25; ++i) req += "X-F" + std::to_string(i) + ": v\r\n";
  auto [r, closed] = raw(req + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(closed);
}

TEST_F(HttpTest, BodyAboveTheLimitIs413) {
  auto [r, closed] = raw("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" +
                         std::string(5000, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(closed);
}

TEST_F(HttpTest, MalformedRequestsAre400AndClose) {
  for (const std::string bad :
       {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\n: novalue\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET / HTTX/1.1\r\nHost: t\r\n\r\n",
        "GET index.html HTTP/1.1\r\nHost: t\r\n\r\n"}) {
    auto [r, closed] = raw(bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_TRUE(closed) << bad;
  }
}

// Finding 17: Host is a uri-host with an optional port (RFC 9110 §7.2,
// RFC 3986 §3.2.2), or the request is 400 and no handler sees it.
TEST_F(HttpTest, AnInvalidHostIs400) {
  struct row {
    std::string host;
    int status;
  };
  for (const auto& [host, status] : std::vector<row>{
           {"a b/c<x>", 400},
           {"evil.example/x", 400},
           {"a<script>", 400},
           {"[::1", 400},
           {"h:99999", 400},
           {":80", 400},
           {"user@host", 400},
           {"example.com", 200},
           {"example.com:8080", 200},
           {"[::1]:8080", 200},
           {"127.0.0.1", 200},
           {"", 200},
       }) {
    auto [r, closed] =
        raw("GET /hello.txt HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, status) << host;
  }
  stop();
  EXPECT_NE(error_log().find("400 from 127.0.0.1: invalid Host \"a b/c<x>\""), std::string::npos)
      << error_log();
}

TEST_F(HttpTest, UnsupportedVersionsAre505) {
  for (const std::string v : {"HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"}) {
    auto [r, closed] = raw("GET / " + v + "\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r) << v;
    EXPECT_EQ(r->status, 505) << v;
  }
}

// Each attempt would make a front proxy and cgihost disagree on where a
// request ends; every one is refused and the smuggled request never runs.
TEST_F(HttpTest, RequestSmugglingIsRefused) {
  const std::string smuggled = "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
  struct attempt {
    std::string head;
    int status;
  };
  for (const auto& [head, status] : std::vector<attempt>{
           {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
           {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
           {"Content-Length: 5\r\nContent-Length: 6\r\n", 400},
           {"Content-Length: 5, 6\r\n", 400},
           {"Content-Length: -5\r\n", 400},
           {"Content-Length: 0x5\r\n", 400},
           {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
           {"Transfer-Encoding: chunked, identity\r\n", 400},
           {"Transfer-Encoding: gzip, chunked\r\n", 501},
           {"Transfer-Encoding: xchunked\r\n", 400},
           {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400},
       }) {
    connection c(port_);
    c.send("POST /hello.txt HTTP/1.1\r\nHost: t\r\n" + head + "\r\n0\r\n\r\n" + smuggled);
    auto r = c.read_response();
    ASSERT_TRUE(r) << head;
    EXPECT_EQ(r->status, status) << head;
    std::string after;
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(3), &after)) << head;
    EXPECT_EQ(after.find("HTTP/1.1 200"), std::string::npos)
        << head << " let the smuggled request through";
  }
}

TEST_F(HttpTest, TransferEncodingInHttp10IsRefused) {
  auto [r, closed] = raw("POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(closed);
}

TEST_F(HttpTest, SlowHeadersAreCutOffWithoutStallingOthers) {
  connection slow(port_);
  slow.send("GET / HTTP/1.1\r\nHost: t\r\n");  // and never the blank line
  // Meanwhile another client is served at once.
  auto r = fetch(port_, "/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::string answer;
  EXPECT_TRUE(slow.wait_closed(std::chrono::seconds(5), &answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << answer;
}

TEST_F(HttpTest, TricklingHeadersDoNotExtendTheDeadline) {
  connection slow(port_);
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  // One byte per 100 ms would take 2 s for this head; header_timeout is 400 ms.
  const std::string head = "GET / HTTP/1.1\r\nX-Slow: aaaaaa\r\n";
  for (char ch : head) {
    if (!slow.send(std::string(1, ch)) || slow.wait_closed(std::chrono::milliseconds(100))) {
      closed = true;
      break;
    }
  }
  if (!closed) closed = slow.wait_closed(std::chrono::seconds(3));
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpTest, IdleKeepAliveConnectionsAreClosed) {
  connection c(port_);
  c.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(c.read_response());
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

TEST_F(HttpTest, AccessLogHasCombinedFormatAndRequestId) {
  fetch(port_, "/hello.txt", "GET", "Referer: http://ref/\r\nUser-Agent: tester \"1\"\r\n");
  stop();
  std::string log = access_log();
  EXPECT_NE(log.find("127.0.0.1 - - ["), std::string::npos) << log;
  EXPECT_NE(
      log.find("] \"GET /hello.txt HTTP/1.1\" 200 13 \"http://ref/\" \"tester \\\"1\\\"\" rid="),
      std::string::npos)
      << log;
}

TEST_F(HttpTest, RejectionsAreLoggedWithTheirReason) {
  raw("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  raw("GET /" + std::string(1100, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n");
  stop();
  std::string log = error_log();
  EXPECT_NE(log.find("400 from 127.0.0.1: malformed request head"), std::string::npos) << log;
  EXPECT_NE(
      log.find("414 from 127.0.0.1: request line longer than http.max_request_line (1024 bytes)"),
      std::string::npos)
      << log;
}

TEST_F(HttpTest, GracefulStopFinishesTheResponseInFlight) {
  connection busy(port_);
  busy.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got;
  // Take the head and the first bytes, then ask the server to stop.
  auto head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ASSERT_TRUE(busy.read_exact(1, got));
    head_end = got.find("\r\n\r\n");
  }
  connection idle(port_);
  idle.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(idle.read_response());
  server_->server().stop();
  // The idle keep-alive connection is closed at once ...
  EXPECT_TRUE(idle.wait_closed(std::chrono::seconds(2)));
  // ... and the download in flight completes, then its connection closes.
  std::string body;
  ASSERT_TRUE(busy.read_exact(big_.size(), body));
  EXPECT_TRUE(body == big_);
  EXPECT_TRUE(busy.wait_closed(std::chrono::seconds(3)));
  server_->join();
}

// A client that never reads cannot hold the server past its grace period.
class ShortGraceTest : public HttpTest {
 protected:
  void SetUp() override {
    grace_ = "300ms";
    start("");
  }
};

TEST_F(ShortGraceTest, StopEndsStuckResponsesAfterTheGracePeriod) {
  fs::resize_file((site_ / "site/big.bin"),
                  256ull * 1024 * 1024);  // more than any socket buffer holds
  connection stuck(port_);
  stuck.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(stuck.wait_bytes(1));  // the response started; the client reads no more
  const auto start = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(error_log().find("grace period over: closing 1 connection(s) still busy"),
            std::string::npos)
      << error_log();
}

// A default document that a script handler matches runs through that
// handler (IIS defaultDocument): its source is never served as a file.
class IndexScriptTest : public HttpTest {
 protected:
  void SetUp() override {
    const std::string script =
        "<?php $db_password='hunter2'; echo 'ran ', $_SERVER['SCRIPT_NAME'], ' for ', "
        "$_SERVER['REQUEST_URI']; ?>";
    site_.write("site/php-only/index.php", script);
    site_.write("site/both/index.php", script);
    site_.write("site/both/index.html", "<p>both</p>\n");
    site_.write("site/upper/INDEX.PHP", script);
    site_.write("site/assets/app.php", script);
    site_.write("site/assets/app.css", "p {}\n");
    site_.write("site/none/file.bin", "x");
    // Symlinks inside the root give a file another name: its own decides.
    site_.write("site/.env", "db_password=hunter2\n");
    fs::create_symlink("php-only/index.php", site_ / "site/source.txt");
    fs::create_symlink(".env", site_ / "site/env.txt");
    fs::create_directories(site_ / "site/linked");
    fs::create_symlink("../php-only/index.php", site_ / "site/linked/index.html");
    fs::create_directory_symlink("both", site_ / "site/both-link");
    // php-cgi runs as the anonymous account: it must reach the scripts.
    for (const char* dir : {"", "/site", "/site/php-only", "/site/both", "/site/upper"})
      fs::permissions(site_.path() + dir, fs::perms(0755));
    // A "static" handler before the *.php one does not make PHP source a
    // static file.
    start(R"([static]
index = ["index.php", "INDEX.PHP", "index.html"]
[[handlers]]
match = "/assets/*"
module = "static"
[[handlers]]
match = "*.php"
module = "cgi"
interpreter = ["/usr/bin/php-cgi"]
)");
  }
};

TEST_F(IndexScriptTest, AScriptIndexRunsAndItsSourceIsNeverServed) {
  struct ran {
    const char* target;
    const char* body;
  };
  for (const auto& [target, body] : {
           ran{"/php-only/", "ran /php-only/index.php for /php-only/"},
           ran{"/php-only/?x=1", "ran /php-only/index.php for /php-only/?x=1"},
           ran{"/upper/", "ran /upper/INDEX.PHP for /upper/"},
           ran{"/both/", "ran /both/index.php for /both/"},  // the first name that exists
           ran{"/both-link/", "ran /both-link/index.php for /both-link/"},
       }) {
    auto r = fetch(port_, target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target;
    EXPECT_EQ(r->body, body) << target;
  }
  for (const char* target :
       {"/assets/app.php", "/assets/APP.PHP", "/source.txt", "/env.txt", "/linked/", "/none/"}) {
    for (const char* method : {"GET", "HEAD"}) {
      auto r = fetch(port_, target, method);
      ASSERT_TRUE(r) << target;
      EXPECT_EQ(r->status, 403) << method << " " << target;
      EXPECT_EQ(r->body.find("db_password"), std::string::npos) << target;
      EXPECT_NE(r->header("Content-Type"), "application/octet-stream") << target;
    }
  }
  auto css = fetch(port_, "/assets/app.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->body, "p {}\n");
  auto both = fetch(port_, "/both-link/index.html");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->status, 200);
  EXPECT_EQ(both->body, "<p>both</p>\n");
  auto root = fetch(port_, "/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->body, kIndex);
  stop();
  EXPECT_NE(error_log().find("403 GET /none/: folder without a default document: /none/; tried: "
                             "index.php (missing), INDEX.PHP (missing), index.html (missing)"),
            std::string::npos)
      << error_log();
  EXPECT_NE(error_log().find("403 GET /assets/app.php: /assets/app.php: handler \"*.php\" runs it, "
                             "so it is never served as a file"),
            std::string::npos)
      << error_log();
  EXPECT_NE(error_log().find("403 GET /source.txt: /source.txt: reached through a symlink to "
                             "/php-only/index.php: handler \"*.php\" runs it"),
            std::string::npos)
      << error_log();
  EXPECT_NE(error_log().find("403 GET /env.txt: /env.txt: reached through a symlink to /.env: "
                             "filter.dot_segment"),
            std::string::npos)
      << error_log();
}

// A static file goes out only to a request whose account may read it, judged
// from owner, group and mode like a script; without Basic, anonymous gets 403.
TEST_F(HttpTest, AFileTheAnonymousAccountCannotReadIs403) {
  if (::geteuid() != 0) {
    // One user runs everything: a file it can open is served, as before.
    site_.write("site/mine.txt", "mine\n");
    ::chmod((site_ / "site/mine.txt").c_str(), 0600);
    auto mine = fetch(port_, "/mine.txt");
    ASSERT_TRUE(mine);
    EXPECT_EQ(mine->status, 200);
    EXPECT_EQ(mine->body, "mine\n");
    return;
  }
  const passwd* www = ::getpwnam("www-data");
  ASSERT_NE(www, nullptr);
  site_.write("site/private.txt", "db_password=hunter2\n");
  site_.write("site/priv/index.html", "private index\n");
  for (const char* f : {"site/private.txt", "site/priv/index.html"}) {
    ASSERT_EQ(::chown((site_ / f).c_str(), www->pw_uid, www->pw_gid), 0);
    ::chmod((site_ / f).c_str(), 0600);  // readable by identity.process alone
  }
  for (const char* target : {"/private.txt", "/priv/", "/priv/index.html"}) {
    for (const char* method : {"GET", "HEAD"}) {
      auto r = fetch(port_, target, method);
      ASSERT_TRUE(r) << target;
      EXPECT_EQ(r->status, 403) << method << " " << target;
      EXPECT_EQ(r->body.find("hunter2"), std::string::npos);
      EXPECT_FALSE(r->has("etag")) << "nothing of the file is said";
    }
  }
  // Not even whether it changed.
  EXPECT_EQ(fetch(port_, "/private.txt", "GET", "If-None-Match: *\r\n")->status, 403);
  // A folder is still redirected to its slash; its index is what is judged.
  EXPECT_EQ(fetch(port_, "/priv")->status, 301);
  // Readable by others again: served.
  ::chmod((site_ / "site/private.txt").c_str(), 0604);
  EXPECT_EQ(fetch(port_, "/private.txt")->status, 200);
  stop();
  EXPECT_NE(error_log().find("403 GET /private.txt: static file /private.txt: nobody uid " +
                             std::to_string(::getpwnam("nobody")->pw_uid) +
                             " may not read it (owner uid " + std::to_string(www->pw_uid)),
            std::string::npos)
      << error_log();
  EXPECT_NE(error_log().find("(static file, anonymous -> identity.anonymous -> account nobody"),
            std::string::npos)
      << error_log();
}

}  // namespace
}  // namespace cgihost::test
