#include "protocol/cgi_response.hpp"

#include <gtest/gtest.h>

namespace cgihost::protocol::cgi {
namespace {

// The parser's outcome, whatever the split of the input.
struct outcome {
  response_parser::state state;
  response_head head;
  rejection error;
  std::string body;  // what followed the head
};

outcome run(std::string_view output, const std::vector<std::size_t>& cuts,
            response_limits limits = {}) {
  response_parser p(limits);
  outcome o;
  std::size_t pos = 0;
  auto push = [&](std::string_view piece) {
    std::size_t n = p.feed(piece);
    if (p.current() == response_parser::state::head) o.body.append(piece.substr(n));
  };
  for (std::size_t cut : cuts) {
    push(output.substr(pos, cut - pos));
    pos = cut;
  }
  push(output.substr(pos));
  p.finish();
  o.state = p.current();
  o.head = p.head();
  o.error = p.error();
  return o;
}

// Parsegrind: whole, one byte at a time, and split in two at every offset;
// every way must give the same outcome as the whole.
outcome parse_every_way(std::string_view output, response_limits limits = {}) {
  outcome whole = run(output, {}, limits);
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < output.size(); ++i) bytes.push_back(i);
  auto same = [&](const outcome& o, const std::string& how) {
    EXPECT_EQ(o.state, whole.state) << how;
    EXPECT_EQ(o.body, whole.body) << how;
    EXPECT_EQ(o.head.status, whole.head.status) << how;
    EXPECT_EQ(o.head.headers, whole.head.headers) << how;
    EXPECT_EQ(o.error.code, whole.error.code) << how;
    EXPECT_EQ(o.error.offset, whole.error.offset) << how;
    EXPECT_EQ(o.error.excerpt, whole.error.excerpt) << how;
  };
  same(run(output, bytes, limits), "byte at a time");
  for (std::size_t i = 1; i < output.size(); ++i)
    same(run(output, {i}, limits), "split at " + std::to_string(i));
  return whole;
}

struct accepted_case {
  const char* name;
  std::string output;
  response_kind kind;
  unsigned status;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

void PrintTo(const accepted_case& c, std::ostream* os) { *os << c.name; }

class Accepted : public ::testing::TestWithParam<accepted_case> {};

TEST_P(Accepted, YieldsTheHead) {
  const auto& c = GetParam();
  outcome o = parse_every_way(c.output);
  ASSERT_EQ(o.state, response_parser::state::head)
      << code_name(o.error.code) << " at " << o.error.excerpt;
  EXPECT_EQ(o.head.kind, c.kind);
  EXPECT_EQ(o.head.status, c.status);
  EXPECT_EQ(o.head.headers, c.headers);
  EXPECT_EQ(o.body, c.body);
}

using kv = std::vector<std::pair<std::string, std::string>>;

INSTANTIATE_TEST_SUITE_P(
    Rfc3875, Accepted,
    ::testing::Values(
        accepted_case{"lf", "Content-Type: text/plain\n\nhello", response_kind::document, 200,
                      kv{{"Content-Type", "text/plain"}}, "hello"},
        accepted_case{"crlf", "Content-Type: text/html\r\nX-A: 1\r\n\r\n<p>",
                      response_kind::document, 200, kv{{"Content-Type", "text/html"}, {"X-A", "1"}},
                      "<p>"},
        accepted_case{"status_reason", "Status: 404 Not Found\nContent-Type: text/plain\n\nnope",
                      response_kind::document, 404, kv{{"Content-Type", "text/plain"}}, "nope"},
        accepted_case{"status_bare", "Status: 201\r\nContent-Type: a/b\r\n\r\n",
                      response_kind::document, 201, kv{{"Content-Type", "a/b"}}, ""},
        accepted_case{"no_body_204", "Status: 204\n\n", response_kind::document, 204, kv{}, ""},
        accepted_case{"no_body_304", "Status: 304 Not Modified\nETag: \"x\"\n\n",
                      response_kind::document, 304, kv{{"ETag", "\"x\""}}, ""},
        accepted_case{"local_redirect", "Location: /other/page?x=1\n\n",
                      response_kind::local_redirect, 200, kv{}, ""},
        accepted_case{"client_redirect", "Location: https://example.com/x\n\n",
                      response_kind::client_redirect, 302,
                      kv{{"Location", "https://example.com/x"}}, ""},
        accepted_case{
            "client_redirect_document",
            "Status: 301 Moved\nLocation: http://h/\nContent-Type: text/html\n\n<a>moved</a>",
            response_kind::client_redirect, 301,
            kv{{"Content-Type", "text/html"}, {"Location", "http://h/"}}, "<a>moved</a>"},
        accepted_case{"path_with_status", "Status: 303 See Other\nLocation: /next\n\n",
                      response_kind::client_redirect, 303, kv{{"Location", "/next"}}, ""},
        // RFC 9110 §10.2.2: with a 3xx or 201 Status, a relative reference is
        // the client redirect (PHP sends Status: 302 with header('Location: x')).
        accepted_case{"relative_with_302", "Status: 302 Found\nLocation: dashboard\n\n",
                      response_kind::client_redirect, 302, kv{{"Location", "dashboard"}}, ""},
        accepted_case{
            "relative_before_its_status",
            "Location: ../login?next=%2Fa#top\nStatus: 303\nContent-Type: text/html\n\nsee",
            response_kind::client_redirect, 303,
            kv{{"Content-Type", "text/html"}, {"Location", "../login?next=%2Fa#top"}}, "see"},
        accepted_case{"relative_query_with_307", "Status: 307\nLocation: ?page=2\n\n",
                      response_kind::client_redirect, 307, kv{{"Location", "?page=2"}}, ""},
        accepted_case{"relative_with_201",
                      "Status: 201 Created\nLocation: items/7\nContent-Type: t/p\n\n{}",
                      response_kind::client_redirect, 201,
                      kv{{"Content-Type", "t/p"}, {"Location", "items/7"}}, "{}"},
        accepted_case{
            "cookies_in_order", "Content-Type: t/p\nSet-Cookie: a=1\nX: y\nSet-Cookie: b=2\n\n",
            response_kind::document, 200,
            kv{{"Content-Type", "t/p"}, {"Set-Cookie", "a=1"}, {"X", "y"}, {"Set-Cookie", "b=2"}},
            ""},
        accepted_case{
            "hop_by_hop_removed",
            "Content-Type: t/p\nConnection: close\nTransfer-Encoding: chunked\nKeep-Alive: 5\n\nx",
            response_kind::document, 200, kv{{"Content-Type", "t/p"}}, "x"},
        accepted_case{"same_content_type_twice", "Content-Type: t/p\nContent-Type: t/p\n\n",
                      response_kind::document, 200, kv{{"Content-Type", "t/p"}}, ""},
        accepted_case{"ows_trimmed", "Content-Type:\t t/p \t\nX-Empty:\n\n",
                      response_kind::document, 200, kv{{"Content-Type", "t/p"}, {"X-Empty", ""}},
                      ""},
        accepted_case{"body_keeps_blank_lines", "Content-Type: t/p\n\n\n\nline\r\n\r\n",
                      response_kind::document, 200, kv{{"Content-Type", "t/p"}},
                      "\n\nline\r\n\r\n"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(ResponseParser, ContentLengthIsKeptApartAndChecked) {
  outcome o = parse_every_way("Content-Type: t/p\nContent-Length: 5\nContent-Length: 5\n\n12345");
  ASSERT_EQ(o.state, response_parser::state::head);
  EXPECT_EQ(o.head.content_length, 5u);
  EXPECT_EQ(o.head.headers, (kv{{"Content-Type", "t/p"}}));
}

TEST(ResponseParser, HopByHopHeadersAreNoted) {
  outcome o = parse_every_way("Content-Type: t/p\nConnection: close\nUpgrade: h2c\n\n");
  ASSERT_EQ(o.state, response_parser::state::head);
  EXPECT_EQ(o.head.dropped, (std::vector<std::string>{"Connection", "Upgrade"}));
}

struct rejected_case {
  const char* name;
  std::string output;
  response_error code;
  std::uint64_t offset;
  std::string excerpt;
};

void PrintTo(const rejected_case& c, std::ostream* os) { *os << c.name; }

class Rejected : public ::testing::TestWithParam<rejected_case> {};

TEST_P(Rejected, NamesTheRuleAndThePlace) {
  const auto& c = GetParam();
  outcome o = parse_every_way(c.output, response_limits{256, 5});
  ASSERT_EQ(o.state, response_parser::state::failed);
  EXPECT_EQ(code_name(o.error.code), code_name(c.code));
  EXPECT_EQ(o.error.offset, c.offset);
  EXPECT_EQ(o.error.excerpt, c.excerpt);
  // The line number agrees with the offset.
  std::string_view before =
      std::string_view(c.output).substr(0, std::min<std::size_t>(c.offset, c.output.size()));
  EXPECT_EQ(o.error.line, 1 + std::count(before.begin(), before.end(), '\n'));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3875, Rejected,
    ::testing::Values(
        rejected_case{"no_output", "", response_error::no_output, 0, ""},
        rejected_case{"eof_in_line", "Content-Type: t/p\nX-Half",
                      response_error::eof_before_headers, 18, "X-Half"},
        rejected_case{"eof_before_blank", "Content-Type: t/p\n", response_error::eof_before_headers,
                      18, ""},
        rejected_case{"no_colon", "Content-Type: t/p\nHello world\n\n", response_error::no_colon,
                      18, "Hello world"},
        rejected_case{"html_first", "<html>\n\n", response_error::no_colon, 0, "<html>"},
        rejected_case{"space_before_colon", "Content-Type : t/p\n\n",
                      response_error::space_before_colon, 0, "Content-Type : t/p"},
        rejected_case{"space_in_name", "Content Type: t/p\n\n", response_error::bad_name, 0,
                      "Content Type: t/p"},
        rejected_case{"empty_name", ": t/p\n\n", response_error::bad_name, 0, ": t/p"},
        rejected_case{"bad_name_char", "X(y): 1\n\n", response_error::bad_name, 0, "X(y): 1"},
        rejected_case{"obs_fold", "Content-Type: t/p\nX: a\n b\n\n", response_error::obs_fold, 23,
                      " b"},
        rejected_case{"nul_in_value", std::string("Content-Type: t/p\nX: a\0b\n\n", 26),
                      response_error::bad_value, 18, "X: a\\x00b"},
        rejected_case{"bare_cr", "Content-Type: t/p\rX: y\n\n", response_error::bare_cr, 0,
                      "Content-Type: t/p\\rX: y"},
        rejected_case{"status_words", "Status: OK\nContent-Type: t/p\n\n",
                      response_error::status_format, 0, "Status: OK"},
        rejected_case{"status_two_digits", "Status: 20\n\n", response_error::status_format, 0,
                      "Status: 20"},
        rejected_case{"status_four_digits", "Status: 2000\n\n", response_error::status_format, 0,
                      "Status: 2000"},
        rejected_case{"status_low", "Status: 099\n\n", response_error::status_range, 0,
                      "Status: 099"},
        rejected_case{"status_high", "Status: 600 Odd\n\n", response_error::status_range, 0,
                      "Status: 600 Odd"},
        // An interim response sent alone would make the client take the next
        // response on the connection for this one's.
        rejected_case{"status_100", "Status: 100 Continue\n\n", response_error::status_interim, 0,
                      "Status: 100 Continue"},
        rejected_case{"status_101_upgrade",
                      "Upgrade: websocket\nStatus: 101\nConnection: Upgrade\n\n",
                      response_error::status_interim, 19, "Status: 101"},
        rejected_case{"status_199_document", "Content-Type: t/p\nStatus: 199 Odd\n\nbody",
                      response_error::status_interim, 18, "Status: 199 Odd"},
        rejected_case{"status_103_redirect", "Location: http://h/\nStatus: 103\n\n",
                      response_error::status_interim, 20, "Status: 103"},
        rejected_case{"status_twice", "Status: 200\nStatus: 404\n\n",
                      response_error::status_repeated, 12, "Status: 404"},
        rejected_case{"no_content_type", "X-Powered-By: me\n\nbody",
                      response_error::no_content_type, 17, ""},
        rejected_case{"only_blank_line", "\nbody", response_error::no_content_type, 0, ""},
        rejected_case{"bad_location", "Location: relative/path\n\n", response_error::bad_location,
                      0, "Location: relative/path"},
        rejected_case{"network_path_location", "Location: //evil.example/\n\n",
                      response_error::bad_location, 0, "Location: //evil.example/"},
        // RFC 3875 §6: a relative reference without a 3xx or 201 Status is
        // neither a local nor a client redirect.
        rejected_case{"relative_with_200",
                      "Status: 200\nLocation: dashboard\nContent-Type: t/p\n\n",
                      response_error::bad_location, 12, "Location: dashboard"},
        rejected_case{"relative_with_404_after",
                      "Location: dashboard\nStatus: 404\nContent-Type: t/p\n\n",
                      response_error::bad_location, 0, "Location: dashboard"},
        rejected_case{"relative_with_space", "Status: 302\nLocation: dash board\n\n",
                      response_error::bad_location, 12, "Location: dash board"},
        rejected_case{"relative_bad_escape", "Status: 302\nLocation: a%zz\n\n",
                      response_error::bad_location, 12, "Location: a%zz"},
        rejected_case{"relative_short_escape", "Status: 302\nLocation: a%2\n\n",
                      response_error::bad_location, 12, "Location: a%2"},
        rejected_case{"relative_not_ascii", "Status: 302\nLocation: caf\xc3\xa9\n\n",
                      response_error::bad_location, 12, "Location: caf\\xc3\\xa9"},
        rejected_case{"relative_quote", "Status: 302\nLocation: a\"b\n\n",
                      response_error::bad_location, 12, "Location: a\"b"},
        rejected_case{"relative_colon_in_first_segment", "Status: 302\nLocation: 1a:b/c\n\n",
                      response_error::bad_location, 12, "Location: 1a:b/c"},
        rejected_case{"relative_control_char",
                      "Status: 302\nLocation: a\x01"
                      "b\n\n",
                      response_error::bad_value, 12, "Location: a\\x01b"},
        rejected_case{"location_twice", "Location: /a\nLocation: /b\n\n",
                      response_error::location_repeated, 13, "Location: /b"},
        rejected_case{"local_redirect_with_headers", "Location: /a\nContent-Type: t/p\n\n",
                      response_error::local_redirect_with_headers, 31, "Content-Type"},
        rejected_case{"content_length_conflict",
                      "Content-Type: t/p\nContent-Length: 5\nContent-Length: 6\n\n",
                      response_error::content_length_conflict, 36, "Content-Length: 6"},
        rejected_case{"content_length_words", "Content-Type: t/p\nContent-Length: five\n\n",
                      response_error::bad_content_length, 18, "Content-Length: five"},
        rejected_case{"content_length_negative", "Content-Type: t/p\nContent-Length: -1\n\n",
                      response_error::bad_content_length, 18, "Content-Length: -1"},
        rejected_case{"content_type_conflict", "Content-Type: t/p\nContent-Type: t/h\n\n",
                      response_error::content_type_conflict, 18, "Content-Type: t/h"},
        rejected_case{"too_many_lines", "Content-Type: t/p\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\n\n",
                      response_error::too_many_lines, 38, "E: 5"},
        rejected_case{"head_too_large", "Content-Type: t/p\nX: " + std::string(300, 'x') + "\n\n",
                      response_error::head_too_large, 18, "X: " + std::string(77, 'x') + "..."}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(ResponseParser, ErrorsHaveStableNamesAndMessages) {
  EXPECT_EQ(code_name(response_error::no_colon), "cgi.header.no_colon");
  EXPECT_EQ(code_name(response_error::status_range), "cgi.status.range");
  EXPECT_EQ(code_name(response_error::eof_before_headers), "cgi.eof_before_headers");
  EXPECT_EQ(code_name(response_error::status_interim), "cgi.status.interim");
  EXPECT_EQ(make_error_code(response_error::obs_fold).message(),
            "continuation line (obsolete line folding)");
}

TEST(BodyLimiter, CutsPastTheLengthAndReportsShortBodies) {
  body_limiter exact(5);
  EXPECT_EQ(exact.accept(3), 3u);
  EXPECT_FALSE(exact.complete());
  EXPECT_EQ(exact.accept(4), 2u);  // two more fit, two are cut
  EXPECT_TRUE(exact.complete());
  EXPECT_EQ(exact.cut(), 2u);
  EXPECT_FALSE(exact.finish());

  body_limiter short_body(10);
  short_body.accept(4);
  EXPECT_EQ(short_body.finish(), make_error_code(response_error::body_too_short));

  body_limiter open(std::nullopt);
  EXPECT_EQ(open.accept(1000), 1000u);
  EXPECT_FALSE(open.complete());
  EXPECT_FALSE(open.finish());
}

TEST(NphPassthrough, HandsBytesOnAsTheyCome) {
  nph_passthrough p;
  std::string raw = "HTTP/1.1 200 OK\r\nX: not checked\r\n\r\nbody";
  EXPECT_EQ(p.feed(raw), raw);
  EXPECT_EQ(p.feed(""), "");
  EXPECT_EQ(p.bytes(), raw.size());
}

TEST(EscapeExcerpt, EscapesAndCuts) {
  EXPECT_EQ(escape_excerpt(std::string("a\r\n\t\x01\xff\\", 7)), "a\\r\\n\\t\\x01\\xff\\\\");
  EXPECT_EQ(escape_excerpt(std::string(100, 'z'), 10), std::string(10, 'z') + "...");
}

}  // namespace
}  // namespace cgihost::protocol::cgi
