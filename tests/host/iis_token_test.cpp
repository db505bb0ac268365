// X-IIS-WindowsAuthToken: the decision that says whether a request's header
// names a token cgihost may use (pure: only loopback peers, one well-formed
// value), and the header kept from every script, CGI and FastCGI, on every
// platform (real perl and php-cgi behind a real server).

#include "host/dispatch/iis_token.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using host::iis_token_decision;
using kind = iis_token_decision::kind;

host::header_list fields(std::initializer_list<host::header_list::field> f) {
  host::header_list out;
  for (auto [n, v] : f) out.add(n, v);
  return out;
}

TEST(IisTokenDecision, NoHeaderIsNoToken) {
  for (bool loopback : {true, false}) {
    auto d = host::decide_iis_token(fields({{"Host", "x"}, {"X-IIS-Other", "2f4"}}), loopback);
    EXPECT_EQ(d.what, kind::no_token);
    EXPECT_EQ(host::iis_token_warning(d, "127.0.0.1"), "");
  }
}

TEST(IisTokenDecision, ALoopbackPeersHandleIsUsed) {
  for (const char* name : {"X-IIS-WindowsAuthToken", "x-iis-windowsauthtoken"}) {
    auto d = host::decide_iis_token(fields({{"Host", "x"}, {name, "2f4"}}), true);
    ASSERT_EQ(d.what, kind::token) << name;
    EXPECT_EQ(d.handle, 0x2f4u);
    EXPECT_EQ(host::iis_token_warning(d, "127.0.0.1"), "");
  }
}

TEST(IisTokenDecision, AnotherPeersHeaderIsRefusedEvenWellFormed) {
  auto d = host::decide_iis_token(fields({{"X-IIS-WindowsAuthToken", "2f4"}}), false);
  EXPECT_EQ(d.what, kind::refused_not_loopback);
  EXPECT_EQ(d.handle, 0u);
  EXPECT_EQ(host::iis_token_warning(d, "192.0.2.7"),
            "X-IIS-WindowsAuthToken from 192.0.2.7 ignored: only IIS on this machine (a loopback "
            "peer) may forward a token; the request is anonymous");
  // Malformed too: refused for the peer before its value is read.
  auto bad = host::decide_iis_token(fields({{"X-IIS-WindowsAuthToken", "zz"}}), false);
  EXPECT_EQ(bad.what, kind::refused_not_loopback);
}

TEST(IisTokenDecision, AMalformedOrRepeatedValueIsNoHandle) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty token handle"},
      {"0x2f4", "token handle is not hexadecimal"},
      {"00000000000000002f4", "token handle has more than 16 digits"},
      {"0", "token handle is zero"},
      {"ffffffffffffffff", "token handle is no handle value (not a multiple of 4 below 2^32)"},
  };
  for (auto [value, reason] : cases) {
    auto d = host::decide_iis_token(fields({{"X-IIS-WindowsAuthToken", value}}), true);
    EXPECT_EQ(d.what, kind::malformed) << value;
    EXPECT_EQ(d.reason, reason) << value;
    EXPECT_EQ(host::iis_token_warning(d, "::1"),
              std::string("X-IIS-WindowsAuthToken from ::1 ignored: ") + reason +
                  "; the request is anonymous");
  }
  auto twice = host::decide_iis_token(
      fields({{"X-IIS-WindowsAuthToken", "2f4"}, {"x-iis-windowsauthtoken", "2f8"}}), true);
  EXPECT_EQ(twice.what, kind::malformed);
  EXPECT_EQ(twice.reason, "the header twice");
}

TEST(IisTokenDecision, LoopbackIsOnlyTheLoopbackAddresses) {
  for (const char* yes : {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(host::is_loopback_address(yes)) << yes;
  for (const char* no : {"10.0.0.1", "192.0.2.7", "::2", "::ffff:10.0.0.1", "0.0.0.0",
                         "::", "localhost", "", "127.0.0.1 "})
    EXPECT_FALSE(host::is_loopback_address(no)) << no;
}

// NAME=value lines of a response body.
std::map<std::string, std::string> env_lines(const std::string& body) {
  std::map<std::string, std::string> env;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

TEST(IisTokenHeader, NeverReachesACgiOrFastcgiScript) {
  temp_dir site;
  ::chmod(site.path().c_str(), 0755);
  site.write("site/env.pl",
             "print \"Content-Type: text/plain\\n\\n\"; print \"$_=$ENV{$_}\\n\" for sort keys "
             "%ENV;\n");
  site.write("site/env.php",
             "<?php header('Content-Type: text/plain'); foreach ($_SERVER as $k => $v) "
             "if (is_string($v)) echo \"$k=$v\\n\";");
  ::chmod((site / "site").c_str(), 0755);
  for (const char* f : {"site/env.pl", "site/env.php"}) ::chmod((site / f).c_str(), 0644);
  running_server server(R"(listen = ["127.0.0.1:0"]
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
)",
                        site.path());
  for (const char* path : {"/env.pl", "/env.php"}) {
    // From loopback, as IIS sends it, in either case; and a header with a
    // name close to it, which is an ordinary header.
    for (const char* header :
         {"X-IIS-WindowsAuthToken: 7e11ab1c\r\n", "x-iis-windowsauthtoken: 7e11ab1c\r\n"}) {
      auto r = fetch(server.port(), path, "GET",
                     std::string(header) + "X-IIS-WindowsAuthTokens: kept\r\n");
      ASSERT_TRUE(r) << path;
      ASSERT_EQ(r->status, 200) << path << "\n" << r->body << server.error_log();
      auto env = env_lines(r->body);
      EXPECT_EQ(env["REQUEST_METHOD"], "GET") << path << ": not an environment dump:\n" << r->body;
      EXPECT_FALSE(env.contains("HTTP_X_IIS_WINDOWSAUTHTOKEN")) << path << "\n" << r->body;
      EXPECT_EQ(r->body.find("7e11ab1c"), std::string::npos) << path << "\n" << r->body;
      EXPECT_EQ(env["HTTP_X_IIS_WINDOWSAUTHTOKENS"], "kept") << path;
    }
  }
  server.stop();
}

}  // namespace
}  // namespace cgihost::test
