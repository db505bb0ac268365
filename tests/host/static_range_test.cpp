// Static files answer single byte ranges (RFC 9110 §14), as nginx does:
// 206 with Content-Range, 416 past the end, If-Range honoured, several
// ranges answered whole; through a real server on loopback.

#include <gtest/gtest.h>

#include <string>

#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {

class StaticRangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 100000; ++i) big_ += static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    site_.write("site/digits.txt", "0123456789");
    site_.write("site/big.bin", big_);
    site_.write("site/empty.txt", "");
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[server]
threads = 1
)",
                                               site_.path());
    port_ = server_->port();
  }

  std::optional<http_response> get(const std::string& target, const std::string& headers,
                                   const std::string& method = "GET") {
    return fetch(port_, target, method, headers);
  }

  temp_dir site_;
  std::string big_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(StaticRangeTest, WholeFilesSayTheyAcceptRanges) {
  auto r = get("/digits.txt", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r->header("Content-Range"), "");
  connection c(port_);
  c.send("HEAD /digits.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("Accept-Ranges"), "bytes");
  EXPECT_EQ(head->header("Content-Length"), "10");
}

TEST_F(StaticRangeTest, OneRangeIs206WithContentRange) {
  struct row {
    const char* range;
    const char* body;
    const char* content_range;
  };
  for (const row& w :
       {row{"bytes=0-3", "0123", "bytes 0-3/10"}, row{"bytes=4-", "456789", "bytes 4-9/10"},
        row{"bytes=-3", "789", "bytes 7-9/10"}, row{"bytes=8-100", "89", "bytes 8-9/10"},
        row{"bytes=-30", "0123456789", "bytes 0-9/10"}}) {
    auto r = get("/digits.txt", std::string("Range: ") + w.range + "\r\n");
    ASSERT_TRUE(r) << w.range;
    EXPECT_EQ(r->status, 206) << w.range;
    EXPECT_EQ(r->body, w.body) << w.range;
    EXPECT_EQ(r->header("Content-Range"), w.content_range) << w.range;
    EXPECT_EQ(r->header("Content-Length"), std::to_string(std::string(w.body).size()));
    EXPECT_EQ(r->header("Content-Type").rfind("text/plain", 0), 0u);
  }
}

TEST_F(StaticRangeTest, ARangeOfALargeFileStreamsJustThatPart) {
  auto r = get("/big.bin", "Range: bytes=70000-99998\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->header("Content-Range"), "bytes 70000-99998/100000");
  EXPECT_TRUE(r->body == big_.substr(70000, 29999)) << r->body.size() << " bytes";
}

TEST_F(StaticRangeTest, PastTheEndIs416WithTheSize) {
  for (const char* range : {"bytes=10-", "bytes=50-60", "bytes=-0"}) {
    auto r = get("/digits.txt", std::string("Range: ") + range + "\r\n");
    ASSERT_TRUE(r) << range;
    EXPECT_EQ(r->status, 416) << range;
    EXPECT_EQ(r->header("Content-Range"), "bytes */10") << range;
    EXPECT_TRUE(r->body.empty());
  }
  auto empty = get("/empty.txt", "Range: bytes=0-\r\n");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 416);
  EXPECT_EQ(empty->header("Content-Range"), "bytes */0");
  // The connection goes on after a 416.
  connection c(port_);
  c.send("GET /digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=99-\r\n\r\n");
  auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 416);
  c.send("GET /digits.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  auto second = c.read_response();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "0123456789");
}

TEST_F(StaticRangeTest, InvalidOrSeveralRangesGetTheWholeFile) {
  for (const char* range : {"bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=x-"}) {
    auto r = get("/digits.txt", std::string("Range: ") + range + "\r\n");
    ASSERT_TRUE(r) << range;
    EXPECT_EQ(r->status, 200) << range;
    EXPECT_EQ(r->body, "0123456789") << range;
  }
}

TEST_F(StaticRangeTest, RangeOnlyForGet) {
  connection c(port_);
  c.send("HEAD /digits.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("Content-Length"), "10");
  EXPECT_EQ(head->header("Content-Range"), "");
}

TEST_F(StaticRangeTest, IfRangeHonoursTheDateButNotOurWeakETag) {
  auto whole = get("/digits.txt", "");
  ASSERT_TRUE(whole);
  const std::string lm = whole->header("Last-Modified"), etag = whole->header("ETag");
  ASSERT_FALSE(lm.empty());
  ASSERT_EQ(etag.rfind("W/", 0), 0u) << etag;
  auto same_date = get("/digits.txt", "Range: bytes=0-1\r\nIf-Range: " + lm + "\r\n");
  ASSERT_TRUE(same_date);
  EXPECT_EQ(same_date->status, 206);
  EXPECT_EQ(same_date->body, "01");
  auto other_date =
      get("/digits.txt", "Range: bytes=0-1\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
  ASSERT_TRUE(other_date);
  EXPECT_EQ(other_date->status, 200);
  EXPECT_EQ(other_date->body, "0123456789");
  // The strong comparison an ETag needs never passes with a weak one.
  for (const std::string& tag : {etag, etag.substr(2), std::string("\"other\"")}) {
    auto r = get("/digits.txt", "Range: bytes=0-1\r\nIf-Range: " + tag + "\r\n");
    ASSERT_TRUE(r) << tag;
    EXPECT_EQ(r->status, 200) << tag;
    EXPECT_EQ(r->body, "0123456789") << tag;
  }
  // A current copy is still 304 first (If-None-Match before Range).
  auto current = get("/digits.txt", "Range: bytes=0-1\r\nIf-None-Match: " + etag + "\r\n");
  ASSERT_TRUE(current);
  EXPECT_EQ(current->status, 304);
}

}  // namespace
}  // namespace cgihost::test
