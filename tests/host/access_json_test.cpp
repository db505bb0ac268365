// [log] access_format = "json": one JSON object per line, parsed back here
// (Boost.JSON), with the escaping of hostile strings, and the identity, pool,
// instance pid and phase timings of a CGI and a FastCGI pool request.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/src.hpp>
#include <sstream>

#include "host/dispatch/logging.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace json = boost::json;

// `line` parsed: an object, or a failed test.
json::object parse(const std::string& line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << line;
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.as_object() : json::object();
}

host::access_record sample() {
  host::access_record r;
  r.peer = "192.0.2.7";
  r.time = 1764806400;  // 2025-12-04T00:00:00Z
  r.request_line = "GET /x?a=1 HTTP/1.1";
  r.status = 200;
  r.body_bytes = 12;
  r.id = host::request_id{0x1234};
  r.started = std::chrono::steady_clock::time_point{} + std::chrono::seconds(100);
  r.ended = r.started + std::chrono::microseconds(5250);
  return r;
}

TEST(AccessJson, CarriesTheRequestAndNullsForWhatDidNotHappen) {
  const std::string line = host::format_access_json(sample());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto o = parse(line);
  EXPECT_EQ(o["time"], "2025-12-04T00:00:00Z");
  EXPECT_EQ(o["rid"], "0000000000001234");
  EXPECT_EQ(o["remote"], "192.0.2.7");
  EXPECT_EQ(o["method"], "GET");
  EXPECT_EQ(o["uri"], "/x?a=1");
  EXPECT_EQ(o["protocol"], "HTTP/1.1");
  EXPECT_EQ(o["status"], 200);
  EXPECT_EQ(o["bytes"], 12);
  for (const char* k : {"user", "identity", "pool", "pid", "referer", "user_agent"})
    EXPECT_TRUE(o[k].is_null()) << k;
  auto& ms = o["ms"].as_object();
  EXPECT_EQ(ms["total"], 5.25);
  EXPECT_TRUE(ms["wait"].is_null());
  EXPECT_TRUE(ms["run"].is_null());
  EXPECT_TRUE(ms["stream"].is_null());
}

TEST(AccessJson, PhasesAreMillisecondsBetweenTheNotes) {
  auto r = sample();
  r.run.pool = "php";
  r.run.pid = 4242;
  r.run.account = "www-data";
  r.run.slot_at = r.started + std::chrono::microseconds(1000);
  r.run.head_at = r.started + std::chrono::microseconds(4000);
  r.identity = "php:4242";
  auto o = parse(host::format_access_json(r));
  EXPECT_EQ(o["pool"], "php");
  EXPECT_EQ(o["pid"], 4242);
  EXPECT_EQ(o["identity"], "www-data");
  auto& ms = o["ms"].as_object();
  EXPECT_EQ(ms["wait"], 1.0);
  EXPECT_EQ(ms["run"], 3.0);
  EXPECT_EQ(ms["stream"], 1.25);
}

// Quotes, backslashes, control characters, DEL and bytes that are not UTF-8
// (a lone continuation byte, an overlong '/', a surrogate, a cut sequence)
// cannot break the line or the JSON; valid UTF-8 passes as it is.
TEST(AccessJson, EscapesEveryHostileString) {
  auto r = sample();
  r.request_line =
      std::string("GET /a\"b\\c\x01\x7f\xff\xc0\xaf\xed\xa0\x80\xc3\xa9\xe2\x82 HTTP/1.1");
  r.user_agent = "evil\r\n{\"status\":500}";
  r.user = std::string("nul\0x", 5);
  const std::string line = host::format_access_json(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_NE(line.find(R"("uri":"/a\"b\\c\u0001\u007f\u00ff\u00c0\u00af\u00ed\u00a0\u0080)"
                      "\xc3\xa9"
                      R"(\u00e2\u0082")"),
            std::string::npos)
      << line;
  auto o = parse(line);
  EXPECT_EQ(o["user_agent"], "evil\r\n{\"status\":500}");
  ASSERT_TRUE(o["user"].is_string());
  EXPECT_EQ(std::string(o["user"].as_string()), std::string("nul\0x", 5));
  EXPECT_EQ(o["status"], 200);
}

TEST(AccessJson, CombinedStaysTheDefault) {
  host::logs lg;
  EXPECT_FALSE(lg.access_json);
  EXPECT_EQ(config::log_settings{}.access_format, "combined");
  EXPECT_EQ(host::format_access(lg, sample()), host::format_access_line(sample()));
  lg.access_json = true;
  EXPECT_EQ(host::format_access(lg, sample()), host::format_access_json(sample()));
}

// The access log's line for `needle` (waited for), parsed.
json::object line_for(running_server& s, const std::string& needle) {
  std::string found;
  EXPECT_TRUE(eventually([&] {
    std::istringstream in(s.access_log());
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos) return !(found = line).empty();
    return false;
  })) << s.access_log();
  return parse(found);
}

TEST(AccessJsonServe, ACgiAndAPoolRequestNameTheirIdentityPoolAndPid) {
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  // Each prints its pid and the account it runs as.
  dir.write("site/pid.pl", "print \"Content-Type: text/plain\\n\\n$$ \", scalar(getpwuid($>));\n");
  dir.write("site/pid.php", "<?php echo getmypid(), ' ', posix_getpwuid(posix_geteuid())['name'];");
  dir.write("site/index.html", "hi\n");
  for (const char* f : {"site", "site/pid.pl", "site/pid.php", "site/index.html"})
    ::chmod((dir / f).c_str(), std::string(f) == "site" ? 0755 : 0644);
  running_server s(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
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
[log]
access_format = "json"
)",
                   dir.path());
  auto cgi = fetch(s.port(), "/pid.pl?cgi");
  ASSERT_TRUE(cgi);
  ASSERT_EQ(cgi->status, 200) << s.error_log();
  auto php = fetch(s.port(), "/pid.php?fcgi");
  ASSERT_TRUE(php);
  ASSERT_EQ(php->status, 200) << s.error_log();
  ASSERT_TRUE(fetch(s.port(), "/index.html"));

  auto c = line_for(s, "/pid.pl?cgi");
  EXPECT_EQ(c["status"], 200);
  EXPECT_EQ(c["method"], "GET");
  EXPECT_EQ(json::serialize(c["pid"]) + " " + json::value_to<std::string>(c["identity"]),
            cgi->body);  // the child that answered, and its account
  EXPECT_TRUE(c["pool"].is_null());
  EXPECT_EQ(c["bytes"], static_cast<std::uint64_t>(cgi->body.size()));

  auto f = line_for(s, "/pid.php?fcgi");
  EXPECT_EQ(f["status"], 200);
  EXPECT_EQ(f["pool"], "php");
  EXPECT_EQ(json::serialize(f["pid"]) + " " + json::value_to<std::string>(f["identity"]),
            php->body);  // the instance that answered, and its account

  for (auto* o : {&c, &f}) {
    auto& ms = (*o)["ms"].as_object();
    for (const char* k : {"total", "wait", "run", "stream"})
      ASSERT_TRUE(ms[k].is_number()) << k << " " << json::serialize(*o);
    const double sum = ms["wait"].to_number<double>() + ms["run"].to_number<double>() +
                       ms["stream"].to_number<double>();
    EXPECT_NEAR(sum, ms["total"].to_number<double>(), 0.01) << json::serialize(*o);
  }
  auto st = line_for(s, "/index.html");
  EXPECT_TRUE(st["identity"].is_null());
  EXPECT_TRUE(st["pid"].is_null());
  EXPECT_TRUE(st["ms"].as_object()["wait"].is_null());
  s.stop();
}

}  // namespace
}  // namespace cgihost::test
