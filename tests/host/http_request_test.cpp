// request_reader without sockets: bytes in (split at every offset for the
// parsegrind), the step and the refusal out, and the read buffer's size
// watched while an oversized head, trailer section or chunk line arrives.

#include "host/http/http_request.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace cgihost::host {
namespace {

config::http_settings limits_of(std::uint64_t header_bytes = 16 * 1024, std::uint32_t count = 100) {
  config::http_settings h;
  h.max_request_line = 8 * 1024;
  h.max_header_bytes = header_bytes;
  h.max_header_count = count;
  h.max_body_size = 1024 * 1024;
  return h;
}

// What reading one request from `in`, `step` bytes at a time, gave.
struct outcome {
  unsigned status = 0;  // 0: read whole; else the refusal's status
  std::string reason;
  std::string body;
  std::size_t fields = 0;
  std::uint32_t trailers = 0;
  std::string host;
  std::size_t consumed = 0;      // input bytes handed to the reader
  std::size_t max_buffered = 0;  // the most the reader held at once
};

outcome read_one(std::string_view in, std::size_t step, const config::http_settings& limits) {
  request_reader reader(limits);
  outcome o;
  std::size_t pos = 0;
  // Moves up to `step` bytes into the reader; false when the input is used up.
  auto feed = [&]() {
    if (pos == in.size()) return false;
    auto room = reader.prepare();
    EXPECT_GT(room.size(), 0u);
    std::size_t n = std::min({step, room.size(), in.size() - pos});
    std::memcpy(room.data(), in.data() + pos, n);
    reader.commit(n);
    pos += n;
    o.max_buffered = std::max(o.max_buffered, reader.buffered());
    EXPECT_LE(reader.buffered(), reader.max_buffer());
    return true;
  };
  auto finish = [&](request_reader::step s) {
    if (s == request_reader::step::refused) {
      o.status = static_cast<unsigned>(reader.why().status);
      o.reason = reader.why().reason;
    }
    o.consumed = pos;
    return o;
  };
  reader.start();
  auto s = reader.parse_head();
  while (s == request_reader::step::need_more) {
    if (!feed()) return finish(reader.end_of_input());
    s = reader.parse_head();
  }
  if (s == request_reader::step::refused) return finish(s);
  const auto& req = reader.parser().get();
  for (const auto& f : req) {
    (void)f;
    ++o.fields;
  }
  o.host = std::string(req[http::field::host]);
  char buf[7];
  while (true) {
    std::size_t got = 0;
    s = reader.parse_body(buf, sizeof buf, got);
    if (s == request_reader::step::refused) return finish(s);
    if (s == request_reader::step::ready && got == 0) break;
    if (s == request_reader::step::ready) {
      o.body.append(buf, got);
      continue;
    }
    if (!feed()) return finish(reader.end_of_input());
  }
  std::size_t after = 0;
  for (const auto& f : req) {
    (void)f;
    ++after;
  }
  EXPECT_EQ(after, o.fields) << "a trailer was merged into the request";
  o.trailers = reader.parser().trailer_count();
  return finish(s);
}

std::string lines(const std::string& line, std::size_t total) {
  std::string out;
  out.reserve(total + line.size());
  while (out.size() < total) out += line;
  return out;
}

TEST(HttpRequest, RequestsReadTheSameWhateverTheSplit) {
  struct row {
    std::string in;
    unsigned status;
    std::string body;
  };
  const std::vector<row> rows{
      {"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 0, ""},
      {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 0, "hello"},
      {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;ext=1\r\nhello\r\n3\r\n, w\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n",
       0, "hello, w"},
      {"GET / HTTP/1.0\r\n\r\n", 0, ""},
      // A last chunk first, in pieces: Beast's debug assertion (n >= 5) is never reached.
      {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n\r\n", 0, ""},
      {"GET / HTTP/1.1\r\nHost: a b/c<x>\r\n\r\n", 400, ""},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, ""},
      {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413, ""},
      {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, ""},
      {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 400, "hel"},
      {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, ""},
  };
  for (const auto& [in, status, body] : rows) {
    auto whole = read_one(in, in.size(), limits_of());
    EXPECT_EQ(whole.status, status) << in << "\n" << whole.reason;
    for (std::size_t step = 1; step < in.size(); ++step) {
      auto split = read_one(in, step, limits_of());
      ASSERT_EQ(split.status, whole.status) << in << " in pieces of " << step;
      ASSERT_EQ(split.body, whole.body) << in << " in pieces of " << step;
    }
    if (status == 0) {
      EXPECT_EQ(whole.body, body) << in;
    }
  }
}

// Which head limit a request broke does not depend on the pieces it came in
// (Beast parses the request line early only when it arrives whole).
TEST(HttpRequest, HeadLimitsAnswerTheSameWhateverTheSplit) {
  config::http_settings small = limits_of(256, 5);
  small.max_request_line = 64;
  struct row {
    std::string in;
    unsigned status;
  };
  for (const auto& [in, status] : std::vector<row>{
           {"GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(400, 'v') + "\r\n\r\n", 431},
           {"GET /" + std::string(100, 'p') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
           {"GET /" + std::string(400, 'p') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
           {"GET / HTTP/1.1\r\nHost: t\r\n" + lines("a:\r\n", 6 * 4) + "\r\n", 431},
           {"GET / HTTP/1.1\r\nHost: t\r\nX: v\r\n\r\n", 0},
       }) {
    for (std::size_t step = 1; step <= in.size(); ++step)
      ASSERT_EQ(read_one(in, step, small).status, status) << in << " in pieces of " << step;
  }
}

// A version Beast refuses is 505 only for a well-formed request line: the
// answer waits for the line's end, so it never depends on the split (a
// fuzzer found "HTTP/0.1" followed by junk answered 505 in pieces, 400 whole).
TEST(HttpRequest, AnOtherVersionIs505OnlyForAWholeWellFormedLine) {
  const auto limits = limits_of();
  struct row {
    std::string in;
    unsigned status;
  };
  for (const auto& [in, status] : std::vector<row>{
           {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
           {"GET / HTTP/0.9\r\n\r\n", 505},
           {"GET / HTTP/0.1" + std::string(30, '\xff') + "2" + std::string(40, '\xff') +
                "t/c<x>\r\n\r\n",
            400},
           {"GET / HTTP/3.0 x\r\nHost: t\r\n\r\n", 400},
       }) {
    for (std::size_t step = 1; step <= in.size(); ++step)
      ASSERT_EQ(read_one(in, step, limits).status, status) << in << " in pieces of " << step;
  }
}

// Finding 1: a field Beast cannot hold (value over 65533 bytes) is refused
// as the parser meets it, in the head or in the trailers, never thrown.
TEST(HttpRequest, FieldsBeastCannotHoldAreRefusedNotThrown) {
  const auto big = limits_of(1024 * 1024);
  const std::string value(70'000, 'a');
  auto head = read_one("GET / HTTP/1.1\r\nHost: t\r\nX: " + value + "\r\n\r\n", 4096, big);
  EXPECT_EQ(head.status, 431u);
  EXPECT_NE(head.reason.find("longer than 65533 bytes"), std::string::npos) << head.reason;
  auto name = read_one("GET / HTTP/1.1\r\nHost: t\r\n" + value + ": x\r\n\r\n", 4096, big);
  EXPECT_EQ(name.status, 431u);
  // In a trailer under a 1 MiB limit it is within bounds: read, counted, dropped.
  auto trailer =
      read_one("GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + value +
                   "\r\n\r\n",
               4096, big);
  EXPECT_EQ(trailer.status, 0u) << trailer.reason;
  EXPECT_EQ(trailer.trailers, 1u);
  // Under the default 16 KiB limit it is too large: 431.
  auto small =
      read_one("GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + value +
                   "\r\n\r\n",
               4096, limits_of());
  EXPECT_EQ(small.status, 431u) << small.reason;
}

// Finding 4: header lines, trailer lines and chunk extensions are refused
// once the limit is reached, with the read buffer never past its bound.
TEST(HttpRequest, OversizedPartsAreRefusedAsTheyArrive) {
  struct row {
    const char* what;
    std::string in;
    config::http_settings limits;
    unsigned status;
  };
  const std::string chunked = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::vector<row> rows{
      {"8 MiB of header lines", "GET / HTTP/1.1\r\nHost: t\r\n" + lines("a:\r\n", 8 << 20) + "\r\n",
       limits_of(1 << 20), 431},
      {"1 MiB of header lines, under the byte limit",
       "GET / HTTP/1.1\r\nHost: t\r\n" + lines("a:\r\n", 1000000) + "\r\n", limits_of(1 << 20),
       431},
      {"4 MiB of trailer lines", chunked + "0\r\n" + lines("a: b\r\n", 4 << 20) + "\r\n",
       limits_of(), 431},
      {"4 MiB of trailer lines, 1 MiB limit",
       chunked + "0\r\n" + lines("a: b\r\n", 4 << 20) + "\r\n", limits_of(1 << 20), 431},
      {"101 trailer fields", chunked + "0\r\n" + lines("a: b\r\n", 101 * 6) + "\r\n", limits_of(),
       431},
      {"16 MiB chunk extension", chunked + "1;" + lines("a", 16 << 20) + "\r\nx\r\n0\r\n\r\n",
       limits_of(), 400},
      {"16 MiB last-chunk extension", chunked + "0;" + lines("a", 16 << 20) + "\r\n\r\n",
       limits_of(), 400},
  };
  for (const auto& [what, in, limits, status] : rows) {
    auto o = read_one(in, 65536, limits);
    EXPECT_EQ(o.status, status) << what << ": " << o.reason;
    EXPECT_LE(o.max_buffered,
              std::max<std::size_t>(limits.max_request_line + limits.max_header_bytes + 4, 65536))
        << what;
    // Refused as the bytes arrive: at most one read past the buffer's bound.
    EXPECT_LE(o.consumed,
              std::min<std::size_t>(
                  in.size(), limits.max_request_line + limits.max_header_bytes + 4 + 2 * 65536))
        << what;
  }
  // 101 header fields: refused at the 101st, whatever the byte limit.
  auto count = read_one("GET / HTTP/1.1\r\nHost: t\r\n" + lines("a:\r\n", 100 * 4) + "\r\n", 512,
                        limits_of());
  EXPECT_EQ(count.status, 431u);
  EXPECT_NE(count.reason.find("http.max_header_count (100)"), std::string::npos) << count.reason;
}

// Finding 7: trailers are never fields of the request.
TEST(HttpRequest, TrailersAreCountedAndDropped) {
  auto o = read_one(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
      "Host: evil.example\r\nCookie: c=1\r\nContent-Type: text/evil\r\n\r\n",
      3, limits_of());
  EXPECT_EQ(o.status, 0u) << o.reason;
  EXPECT_EQ(o.body, "x");
  EXPECT_EQ(o.trailers, 3u);
  EXPECT_EQ(o.fields, 2u);  // Host and Transfer-Encoding of the head
  EXPECT_EQ(o.host, "a");
}

// Finding 17: RFC 9110 §7.2 and RFC 3986 §3.2.2.
TEST(HttpRequest, HostMustBeAUriHostWithAnOptionalPort) {
  for (std::string_view ok :
       {"", "example.com", "example.com:8080", "EXAMPLE.com.", "127.0.0.1", "127.0.0.1:80", "[::1]",
        "[::1]:8080", "[2001:db8::7]", "[::ffff:192.0.2.1]", "[v1.fe80::a+en1]",
        "xn--bcher-kva.example", "a_b-c~d", "%41", "a!$&'()*+,;=b", "host:", "h:65535"}) {
    EXPECT_TRUE(valid_host(ok)) << ok;
  }
  for (std::string_view bad : std::vector<std::string_view>{"a b/c<x>",
                                                            "a b",
                                                            "a/b",
                                                            "a<b",
                                                            "a\"b",
                                                            "a@b",
                                                            "a\\b",
                                                            "[::1",
                                                            "::1",
                                                            "[::1]x",
                                                            "[::g]",
                                                            "[1.2.3.4]",
                                                            "[]",
                                                            "h:65536",
                                                            "h:123456",
                                                            "h:8x",
                                                            "h:-1",
                                                            ":80",
                                                            "a:b:c",
                                                            "%4",
                                                            "%zz",
                                                            "h\tx",
                                                            std::string_view("h\0x", 3),
                                                            "h#x",
                                                            "h?x",
                                                            "[v.x]",
                                                            "[v1.]"}) {
    EXPECT_FALSE(valid_host(bad)) << bad;
  }
}

}  // namespace
}  // namespace cgihost::host

namespace cgihost::host {
namespace {

// The whole head step: the reader's refusals and the target's normalization,
// as the session answers them (validate_head is pure).
TEST(HttpRequest, ValidateHeadGivesTheTargetOrTheRefusal) {
  struct row {
    std::string head;
    unsigned status;   // 0: valid
    std::string path;  // the normalized path when valid; the reason's start otherwise
  };
  const std::vector<row> rows = {
      {"GET /a/./b/../c.php?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", 0, "/a/c.php"},
      {"GET /%7Euser/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, "/~user/"},
      {"GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request target refused: "},
      {"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request target refused: "},
      {"GET / HTTP/1.1\r\n\r\n", 400, ""},  // no Host: the reader's own refusal
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, ""},
  };
  const auto limits = limits_of();  // the reader keeps a reference
  for (const auto& r : rows) {
    request_reader reader(limits);
    auto room = reader.prepare();
    ASSERT_GE(room.size(), r.head.size());
    std::memcpy(room.data(), r.head.data(), r.head.size());
    reader.commit(r.head.size());
    reader.start();
    auto step = reader.parse_head();
    ASSERT_NE(step, request_reader::step::need_more) << r.head;
    auto valid = validate_head(step, reader);
    if (r.status == 0) {
      ASSERT_TRUE(std::holds_alternative<protocol::normalized_target>(valid))
          << r.head << std::get<head_refusal>(valid).reason;
      EXPECT_EQ(std::get<protocol::normalized_target>(valid).path, r.path);
    } else {
      ASSERT_TRUE(std::holds_alternative<head_refusal>(valid)) << r.head;
      const auto& no = std::get<head_refusal>(valid);
      EXPECT_EQ(static_cast<unsigned>(no.status), r.status) << r.head;
      EXPECT_EQ(no.reason.rfind(r.path, 0), 0u) << no.reason;
    }
  }
}

}  // namespace
}  // namespace cgihost::host
