// The gateway exchanges' pure parts, without a server or a socket: the verdict
// table (FastCGI and CGI facts), the pool outcome and the retry rule, and the
// stderr line splitter.

#include "host/gateway/verdict.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "host/fastcgi/fcgi_exchange.hpp"
#include "host/fastcgi/lease.hpp"
#include "host/gateway/stderr_lines.hpp"

namespace cgihost::host {
namespace {

using kind = verdict::kind;
using cause = verdict::cause;
using status = boost::beast::http::status;

struct verdict_case {
  const char* name;
  exchange_facts facts;
  verdict want;
};

exchange_facts facts(ending how) {
  exchange_facts f;
  f.how = how;
  f.head_status = 200;
  return f;
}

template <class F>
exchange_facts with(exchange_facts f, F change) {
  change(f);
  return f;
}

std::vector<verdict_case> fastcgi_cases() {
  const auto complete = facts(ending::complete);
  const auto broken = with(facts(ending::broken), [](auto& f) { f.got_bytes = false; });
  return {
      {"end_request, relay finished",
       with(complete, [](auto& f) { f.finished = true; }),
       {kind::ok, cause::none, status::ok, 200}},
      {"end_request, body streamed", complete, {kind::finish_body, cause::none, status::ok, 200}},
      {"end_request, status counted",
       with(complete, [](auto& f) { f.head_status = 404; }),
       {kind::finish_body, cause::none, status::ok, 404}},
      {"local redirect",
       with(complete, [](auto& f) { f.local_redirect = true; }),
       {kind::local_redirect, cause::none, status::ok, 200}},
      {"reset before any byte, retry allowed",
       with(broken, [](auto& f) { f.may_retry = true; }),
       {kind::retry}},
      {"reset before any byte, second attempt",
       broken,
       {kind::refuse, cause::broken, status::bad_gateway, 502}},
      {"broken after some bytes: no retry",
       with(broken,
            [](auto& f) {
              f.may_retry = true;
              f.got_bytes = true;
            }),
       {kind::refuse, cause::broken, status::bad_gateway, 502}},
      {"broken after the head",
       with(broken, [](auto& f) { f.head_sent = true; }),
       {kind::cut, cause::broken, status::bad_gateway, 502}},
      {"broken after a local redirect head",
       with(broken, [](auto& f) { f.local_redirect = true; }),
       {kind::refuse, cause::broken, status::bad_gateway, 502}},
      {"timed out before the head",
       facts(ending::timed_out),
       {kind::refuse, cause::timed_out, status::gateway_timeout, 504, true}},
      {"timed out after the head",
       with(facts(ending::timed_out), [](auto& f) { f.head_sent = true; }),
       {kind::cut, cause::timed_out, status::gateway_timeout, 504, true}},
      {"timed out, no retry even when allowed",
       with(facts(ending::timed_out),
            [](auto& f) {
              f.may_retry = true;
              f.got_bytes = false;
            }),
       {kind::refuse, cause::timed_out, status::gateway_timeout, 504, true}},
      {"client left: aborted",
       facts(ending::client_left),
       {kind::client_left, cause::aborted, status::ok, 499}},
      {"client left beats a rejected head",
       with(facts(ending::client_left), [](auto& f) { f.rejected = true; }),
       {kind::client_left, cause::aborted, status::ok, 499}},
      {"rejected head",
       with(complete, [](auto& f) { f.rejected = true; }),
       {kind::refuse, cause::rejected, status::bad_gateway, 502}},
      {"rejected head on a broken connection",
       with(broken, [](auto& f) { f.rejected = true; }),
       {kind::refuse, cause::rejected, status::bad_gateway, 502}},
      {"write to the client failed",
       with(complete, [](auto& f) { f.client_failed = true; }),
       {kind::client_left, cause::client_failed, status::ok, 499}},
      {"body short",
       with(complete,
            [](auto& f) {
              f.body_short = true;
              f.head_sent = true;
            }),
       {kind::cut, cause::body_short, status::bad_gateway, 502}},
  };
}

std::vector<verdict_case> cgi_cases() {
  const auto exited = facts(ending::complete);
  return {
      {"exited, body streamed", exited, {kind::finish_body, cause::none, status::ok, 200}},
      {"timed out before the head",
       facts(ending::timed_out),
       {kind::refuse, cause::timed_out, status::gateway_timeout, 504, true}},
      {"timed out after the head",
       with(facts(ending::timed_out), [](auto& f) { f.head_sent = true; }),
       {kind::cut, cause::timed_out, status::gateway_timeout, 504, true}},
      {"timed out beats the client leaving",
       with(facts(ending::timed_out), [](auto& f) { f.client_failed = true; }),
       {kind::refuse, cause::timed_out, status::gateway_timeout, 504, true}},
      {"rejected beats the client leaving",
       with(exited,
            [](auto& f) {
              f.rejected = true;
              f.client_failed = true;
            }),
       {kind::refuse, cause::rejected, status::bad_gateway, 502}},
      {"client left while the child ran",
       with(exited, [](auto& f) { f.client_failed = true; }),
       {kind::client_left, cause::client_failed, status::ok, 499}},
      {"nph", with(exited, [](auto& f) { f.nph = true; }), {kind::ok, cause::nph}},
      {"nph killed",
       with(exited,
            [](auto& f) {
              f.nph = true;
              f.killed = true;
            }),
       {kind::ok, cause::nph}},
      {"local redirect of a killed child",
       with(exited,
            [](auto& f) {
              f.local_redirect = true;
              f.killed = true;
            }),
       {kind::local_redirect, cause::none, status::ok, 200}},
      {"body short",
       with(exited,
            [](auto& f) {
              f.body_short = true;
              f.head_sent = true;
            }),
       {kind::cut, cause::body_short, status::bad_gateway, 502}},
      {"body short and killed: body short",
       with(exited,
            [](auto& f) {
              f.body_short = true;
              f.killed = true;
              f.head_sent = true;
            }),
       {kind::cut, cause::body_short, status::bad_gateway, 502}},
      {"killed after the head",
       with(exited,
            [](auto& f) {
              f.killed = true;
              f.head_sent = true;
            }),
       {kind::cut, cause::killed, status::bad_gateway, 502}},
  };
}

void check(const std::vector<verdict_case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const verdict got = classify(c.facts);
    EXPECT_EQ(static_cast<int>(got.what), static_cast<int>(c.want.what));
    EXPECT_EQ(static_cast<int>(got.why), static_cast<int>(c.want.why));
    if (got.what == kind::refuse || got.what == kind::cut) {
      EXPECT_EQ(got.status, c.want.status);
    }
    EXPECT_EQ(got.counted, c.want.counted);
    EXPECT_EQ(got.counted_timeout, c.want.counted_timeout);
  }
}

TEST(Verdict, FastcgiTable) { check(fastcgi_cases()); }
TEST(Verdict, CgiTable) { check(cgi_cases()); }

TEST(Verdict, OnlyRefuseRedirectAndFinishSend) {
  for (auto k : {kind::ok, kind::retry, kind::client_left, kind::cut})
    EXPECT_FALSE(sends(verdict{k})) << static_cast<int>(k);
  for (auto k : {kind::refuse, kind::local_redirect, kind::finish_body})
    EXPECT_TRUE(sends(verdict{k})) << static_cast<int>(k);
}

TEST(FcgiOutcome, Table) {
  using outcome = fastcgi_pool::outcome;
  struct row {
    ending how;
    bool end_request, got_bytes, reset;
    outcome want;
  };
  const row rows[] = {
      {ending::complete, true, true, false, outcome::ok},
      // END_REQUEST came during the abort grace, or raced the deadline: the instance is fine.
      {ending::client_left, true, true, false, outcome::ok},
      {ending::timed_out, true, true, false, outcome::ok},
      {ending::client_left, false, true, false, outcome::timed_out},
      {ending::timed_out, false, false, false, outcome::timed_out},
      {ending::broken, false, false, true, outcome::refused},
      {ending::broken, false, true, true, outcome::broken},
      {ending::broken, false, false, false, outcome::broken},
  };
  for (const auto& r : rows) {
    fcgi_end e;
    e.how = r.how;
    e.end_request = r.end_request;
    e.got_bytes = r.got_bytes;
    e.reset = r.reset;
    EXPECT_EQ(outcome_of(e), r.want)
        << static_cast<int>(r.how) << r.end_request << r.got_bytes << r.reset;
  }
}

TEST(FcgiRetry, IdempotentWithAReplayableBody) {
  using verb = boost::beast::http::verb;
  for (auto m : {verb::get, verb::head, verb::options, verb::trace, verb::put, verb::delete_}) {
    EXPECT_TRUE(may_retry(m, 0, false));
    EXPECT_TRUE(may_retry(m, 10, true));    // spooled
    EXPECT_FALSE(may_retry(m, 10, false));  // streamed: gone once sent
  }
  for (auto m : {verb::post, verb::patch, verb::connect}) {
    EXPECT_FALSE(may_retry(m, 0, false));
    EXPECT_FALSE(may_retry(m, 10, true));
  }
}

// Feeds `pieces` and returns what came out: "line" or "line|cut", then the rest as "rest:...".
std::vector<std::string> split(std::size_t bound, const std::vector<std::string>& pieces) {
  stderr_lines lines(bound);
  std::vector<std::string> out;
  for (const auto& p : pieces)
    lines.feed(p, [&](std::string_view l, bool cut) {
      out.push_back(std::string(l) + (cut ? "|cut" : ""));
    });
  out.push_back("rest:" + lines.take_rest());
  EXPECT_TRUE(lines.empty());
  return out;
}

TEST(StderrLines, Table) {
  using v = std::vector<std::string>;
  const auto none = stderr_lines::unbounded;
  EXPECT_EQ(split(none, {}), (v{"rest:"}));
  EXPECT_EQ(split(none, {"a\n"}), (v{"a", "rest:"}));
  EXPECT_EQ(split(none, {"a\nb\n\nc"}), (v{"a", "b", "", "rest:c"}));
  EXPECT_EQ(split(none, {"a\r\n"}), (v{"a\r", "rest:"}));  // the site strips '\r' if it wants
  EXPECT_EQ(split(none, {"ab", "c", "d\ne"}), (v{"abcd", "rest:e"}));
  EXPECT_EQ(split(4, {"abc"}), (v{"rest:abc"}));
  EXPECT_EQ(split(4, {"abcd"}), (v{"abcd|cut", "rest:"}));
  EXPECT_EQ(split(4, {"ab", "cdef", "g\n"}), (v{"abcdef|cut", "g", "rest:"}));
  // Complete lines go first; only what is left of an unfinished one is cut.
  EXPECT_EQ(split(4, {"x\nabcde"}), (v{"x", "abcde|cut", "rest:"}));
  EXPECT_EQ(split(4, {"x\nab"}), (v{"x", "rest:ab"}));
}

TEST(StderrLines, EverySplitPointGivesTheSameLines) {
  const std::string text = "one\ntwo\r\n\nthree four\nfive";
  const auto whole = split(stderr_lines::unbounded, {text});
  for (std::size_t i = 0; i <= text.size(); ++i)
    EXPECT_EQ(split(stderr_lines::unbounded, {text.substr(0, i), text.substr(i)}), whole) << i;
}

}  // namespace
}  // namespace cgihost::host
