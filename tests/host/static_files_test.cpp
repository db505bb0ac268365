// Static files as the hot path sends them: bodies of 16 KiB and more by
// sendfile(2) (whole, ranges, HEAD, the send timeout of a stalled client),
// and the open-file cache, which must never serve a changed file's old bytes
// nor let a file that became unreadable out; through a real server on loopback.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {

using namespace std::chrono_literals;

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void start(const std::string& extra = "") {
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[server]
threads = 1
)" + extra,
                                               site_.path());
    port_ = server_->port();
  }
  std::string file(const std::string& name) const { return site_ / ("site/" + name); }

  temp_dir site_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(StaticFilesTest, AMebibyteFileGoesOutWholeTwiceOnOneConnection) {
  const std::string big = pattern(1 << 20);
  site_.write("site/big.bin", big);
  start();
  connection c(port_);
  for (int i = 0; i < 2; ++i) {
    c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Length"), "1048576");
    EXPECT_TRUE(r->body == big) << i << ": " << r->body.size() << " bytes";
  }
}

TEST_F(StaticFilesTest, RangesAndHeadOfALargeFile) {
  const std::string big = pattern(1 << 20);
  site_.write("site/big.bin", big);
  start();
  connection c(port_);
  c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=300000-900000\r\n\r\n");
  auto part = c.read_response();
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->header("Content-Range"), "bytes 300000-900000/1048576");
  EXPECT_TRUE(part->body == big.substr(300000, 600001)) << part->body.size() << " bytes";
  c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-20000\r\n\r\n");
  auto tail = c.read_response();
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->status, 206);
  EXPECT_TRUE(tail->body == big.substr(big.size() - 20000));
  c.send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Content-Length"), "1048576");
  // Nothing of the body went after the HEAD: the next response is read whole.
  c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-99999\r\n\r\n");
  auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 206);
  EXPECT_TRUE(first->body == big.substr(0, 100000));
}

TEST_F(StaticFilesTest, AFileChangedOnDiskIsServedFresh) {
  const std::string big = pattern(200000);
  site_.write("site/a.txt", "first\n");
  site_.write("site/big.bin", big);
  start();
  auto a1 = fetch(port_, "/a.txt");
  auto b1 = fetch(port_, "/big.bin");
  ASSERT_TRUE(a1 && b1);
  EXPECT_EQ(a1->body, "first\n");
  // Rewritten in place: the same file, other bytes and size.
  site_.write("site/a.txt", "the second version\n");
  site_.write("site/big.bin", big + "more");
  auto a2 = fetch(port_, "/a.txt");
  auto b2 = fetch(port_, "/big.bin");
  ASSERT_TRUE(a2 && b2);
  EXPECT_EQ(a2->body, "the second version\n");
  EXPECT_NE(a2->header("ETag"), a1->header("ETag"));
  EXPECT_TRUE(b2->body == big + "more") << b2->body.size() << " bytes";
  // A client that has the old copy gets the new one.
  auto a3 = fetch(port_, "/a.txt", "GET", "If-None-Match: " + a1->header("ETag") + "\r\n");
  ASSERT_TRUE(a3);
  EXPECT_EQ(a3->status, 200);
  EXPECT_EQ(a3->body, "the second version\n");
}

// What the open descriptor cannot tell (the name now leads to another file,
// or to none) is seen within the cache's validity (1 s).
TEST_F(StaticFilesTest, AFileReplacedOrRemovedIsSeenWithinASecond) {
  site_.write("site/r.txt", "old\n");
  start();
  auto r1 = fetch(port_, "/r.txt");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->body, "old\n");
  site_.write("site/r.new", "new\n");
  ASSERT_EQ(std::rename(file("r.new").c_str(), file("r.txt").c_str()), 0);
  EXPECT_TRUE(eventually(
      [&] {
        auto r = fetch(port_, "/r.txt");
        return r && r->body == "new\n";
      },
      3s, 50ms));
  ASSERT_EQ(::unlink(file("r.txt").c_str()), 0);
  EXPECT_TRUE(eventually(
      [&] {
        auto r = fetch(port_, "/r.txt");
        return r && r->status == 404;
      },
      3s, 50ms));
}

TEST_F(StaticFilesTest, AFileMadeUnreadableIsRefusedAtOnce) {
  if (::geteuid() != 0) GTEST_SKIP() << "the account check needs root";
  const passwd* www = ::getpwnam("www-data");
  ASSERT_NE(www, nullptr);
  site_.write("site/p.txt", "secret\n");
  site_.write("site/p.bin", pattern(100000));
  for (const char* f : {"p.txt", "p.bin"}) {
    ASSERT_EQ(::chown(file(f).c_str(), www->pw_uid, www->pw_gid), 0);
    ASSERT_EQ(::chmod(file(f).c_str(), 0644), 0);
  }
  start();
  for (const char* target : {"/p.txt", "/p.bin"}) {
    auto open = fetch(port_, target);
    ASSERT_TRUE(open);
    EXPECT_EQ(open->status, 200) << target;
  }
  for (const char* f : {"p.txt", "p.bin"}) ASSERT_EQ(::chmod(file(f).c_str(), 0600), 0);
  for (const char* target : {"/p.txt", "/p.bin"}) {
    auto closed = fetch(port_, target);
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->status, 403) << target;
    EXPECT_FALSE(closed->has("etag")) << target;
  }
}

// The TCP state of the server's end of the connection from 127.0.0.1:`client`
// to `server` ("01" established), or "" when there is none.
std::string server_side_state(std::uint16_t server, std::uint16_t client) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X 0100007F:%04X ", server, client);
  while (std::getline(tcp, line)) {
    auto at = line.find(want);
    if (at != std::string::npos) return line.substr(at + std::string(want).size(), 2);
  }
  return "";
}

// A client that stops reading a body sent by sendfile is cut at send_timeout,
// as one that stops reading a written body is.
TEST_F(StaticFilesTest, AStalledClientOfALargeFileIsCutAtTheSendTimeout) {
  site_.write("site/huge.bin", pattern(32 << 20));
  start("[http]\nsend_timeout = \"300ms\"\n");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  sockaddr_in mine{};
  socklen_t len = sizeof mine;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &len), 0);
  const std::string request = "GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const std::uint16_t client = ntohs(mine.sin_port);
  EXPECT_EQ(server_side_state(port_, client), "01");
  EXPECT_TRUE(eventually([&] { return server_side_state(port_, client) != "01"; }, 10s));
  // What was sent before the cut arrives, then the end: far from the whole file.
  std::size_t got = 0;
  char buf[65536];
  timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  EXPECT_LT(got, std::size_t{32} << 20);
}

}  // namespace
}  // namespace cgihost::test
