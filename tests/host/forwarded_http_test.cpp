// Issue 13's forwarded client, Authorization, methods and error pages end to
// end: a real server on loopback, real perl and php-cgi printing what they
// were given. The proxy is this test (127.0.0.1), trusted or not.
//
// Most settings come from the TOML; a few are set on the loaded config
// (running_server's `adjust`) where the TOML would need a table of its own.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;

std::map<std::string, std::string> env_of(const std::string& body) {
  std::map<std::string, std::string> env;
  std::size_t at = 0;
  while (at < body.size()) {
    auto end = body.find('\n', at);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(at, end - at);
    if (auto eq = line.find('='); eq != std::string::npos)
      env[line.substr(0, eq)] = line.substr(eq + 1);
    at = end + 1;
  }
  return env;
}

config::cidr range(const char* text) { return std::get<config::cidr>(config::parse_cidr(text)); }

class ForwardedHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);
    fs::create_directories(dir_ / "site/errors");
    fs::copy_file(fs::path(CGIHOST_SOURCE_DIR) / "samples/site/env.pl", dir_ / "site/env.pl");
    dir_.write("site/env.php",
               "<?php header('Content-Type: text/plain'); foreach ($_SERVER as $k => $v) "
               "if (is_string($v)) echo \"$k=$v\\n\";");
    dir_.write("site/errors/404.html", "<h1>Our own 404</h1>\n");
    dir_.write("users.htpasswd",
               "alice:$2b$05$DWxORX8FwPCFI4IMIcObjeNOcMeXiVqdI52mPfA/"
               "hUi.YpKLdlidy\n");  // password "secret"
    for (const char* f : {"site", "site/errors"}) ::chmod((dir_ / f).c_str(), 0755);
    for (const char* f : {"site/env.pl", "site/env.php", "site/errors/404.html", "users.htpasswd"})
      ::chmod((dir_ / f).c_str(), 0644);
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    EXPECT_TRUE(children_of(::getpid()).empty());
  }

  // `more`: top-level tables after the rest; `pl`: more keys of the *.pl handler.
  void start(const std::function<void(config::config&)>& adjust, const std::string& more = "",
             const std::string& pl = "") {
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
)" + pl + R"(
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 1
)" + more,
                                               dir_.path(), true, adjust);
  }

  std::map<std::string, std::string> env(const std::string& path, const std::string& headers) {
    auto r = fetch(server_->port(), path, "GET", headers);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    return r ? env_of(r->body) : std::map<std::string, std::string>{};
  }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
};

constexpr const char* kProxied =
    "X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n";

TEST_F(ForwardedHttpTest, ATrustedPeerForwardsTheClientAndTheScheme) {
  start({}, "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n");
  for (const char* script : {"/env.pl", "/env.php"}) {
    auto e = env(script, kProxied);
    EXPECT_EQ(e["REMOTE_ADDR"], "203.0.113.9") << script;
    EXPECT_EQ(e["HTTPS"], "on") << script;
    EXPECT_EQ(e["REQUEST_SCHEME"], "https") << script;
    EXPECT_EQ(e["SERVER_PORT"], "443") << script;
    EXPECT_EQ(e["HTTP_X_FORWARDED_FOR"], "198.51.100.1, 203.0.113.9") << script;
  }
  auto e = env("/env.pl", "X-Forwarded-For: [2001:db8::7]:4711\r\nX-Forwarded-Port: 8443\r\n");
  EXPECT_EQ(e["REMOTE_ADDR"], "2001:db8::7");
  EXPECT_EQ(e["REMOTE_PORT"], "4711");
  EXPECT_EQ(e["SERVER_PORT"], "8443");
  EXPECT_EQ(e["REQUEST_SCHEME"], "http");
  e = env("/env.pl", "Forwarded: for=\"192.0.2.60:81\";proto=https;host=shop.example\r\n");
  EXPECT_EQ(e["REMOTE_ADDR"], "192.0.2.60");
  EXPECT_EQ(e["REMOTE_PORT"], "81");
  EXPECT_EQ(e["HTTPS"], "on");
  EXPECT_EQ(e["SERVER_NAME"], "test");  // trust_host is off: the Host field's
  // The access log names the client, not the proxy.
  EXPECT_TRUE(eventually([&] {
    return server_->access_log().find("203.0.113.9 - - [") != std::string::npos &&
           server_->access_log().find("192.0.2.60 - - [") != std::string::npos;
  })) << server_->access_log();
}

TEST_F(ForwardedHttpTest, TheStatusPageChecksTheForwardedClient) {
  start({}, "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n[status]\npath = \"/status\"\n");
  EXPECT_EQ(fetch(server_->port(), "/status")->status, 200);
  // Through the proxy on loopback, a client from elsewhere is not loopback.
  EXPECT_EQ(fetch(server_->port(), "/status", "GET", "X-Forwarded-For: 203.0.113.9\r\n")->status,
            403);
  EXPECT_NE(server_->error_log().find("status page refused to 203.0.113.9"), std::string::npos);
}

TEST_F(ForwardedHttpTest, TrustHostGivesServerName) {
  start({}, "[proxy]\ntrusted = [\"127.0.0.1\"]\ntrust_host = true\n");
  auto e = env("/env.pl", "X-Forwarded-Host: shop.example:8443\r\nX-Forwarded-Proto: https\r\n");
  EXPECT_EQ(e["SERVER_NAME"], "shop.example");
  EXPECT_EQ(e["SERVER_PORT"], "8443");
  EXPECT_EQ(e["REMOTE_ADDR"], "127.0.0.1");
}

TEST_F(ForwardedHttpTest, AnUntrustedPeersFieldsAreIgnored) {
  start({}, "[proxy]\ntrusted = [\"10.0.0.0/8\", \"::1/128\"]\ntrust_host = true\n");
  auto e = env("/env.pl", std::string(kProxied) +
                              "Forwarded: for=192.0.2.60;proto=https\r\n"
                              "X-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 443\r\n");
  EXPECT_EQ(e["REMOTE_ADDR"], "127.0.0.1");
  EXPECT_FALSE(e.contains("HTTPS"));
  EXPECT_EQ(e["REQUEST_SCHEME"], "http");
  EXPECT_EQ(e["SERVER_PORT"], std::to_string(server_->port()));
  EXPECT_EQ(e["SERVER_NAME"], "test");
  EXPECT_EQ(e["HTTP_X_FORWARDED_FOR"], "198.51.100.1, 203.0.113.9");  // as nginx passes them
  EXPECT_EQ(e["HTTP_X_FORWARDED_PROTO"], "https");
  EXPECT_EQ(e["HTTP_FORWARDED"], "for=192.0.2.60;proto=https");
  EXPECT_TRUE(eventually(
      [&] { return server_->access_log().find("127.0.0.1 - - [") != std::string::npos; }));
  EXPECT_EQ(server_->access_log().find("203.0.113.9"), std::string::npos);
  EXPECT_EQ(server_->error_log().find("[proxy]"), std::string::npos);
}

TEST_F(ForwardedHttpTest, AMalformedFieldFromATrustedPeerIsIgnoredWithAWarning) {
  start([](config::config& c) { c.proxy.trusted = {range("127.0.0.1/32")}; });
  auto e = env("/env.pl", "X-Forwarded-For: 203.0.113.9, unknown\r\nX-Forwarded-Proto: https\r\n");
  EXPECT_EQ(e["REMOTE_ADDR"], "127.0.0.1");
  EXPECT_EQ(e["HTTPS"], "on");  // the scheme field was well formed
  e = env("/env.pl", "Forwarded: for=\"[2001:db8::1\r\n");
  EXPECT_EQ(e["REMOTE_ADDR"], "127.0.0.1");
  const std::string log = server_->error_log();
  EXPECT_NE(log.find("[proxy] rid="), std::string::npos) << log;
  EXPECT_NE(log.find("obfuscated identifier"), std::string::npos) << log;
  EXPECT_NE(log.find("unterminated quoted string"), std::string::npos) << log;
}

const std::string kBearer = "Authorization: Bearer abc.def\r\n";
const std::string kAlice = "Authorization: Basic YWxpY2U6c2VjcmV0\r\n";  // alice:secret

TEST_F(ForwardedHttpTest, AuthorizationReachesScriptsOnlyWhenPassAuthorizationSaysSo) {
  start({});
  EXPECT_FALSE(env("/env.pl", kBearer).contains("HTTP_AUTHORIZATION"));
  EXPECT_FALSE(env("/env.php", kBearer).contains("HTTP_AUTHORIZATION"));
  server_.reset();
  start({}, "[cgi]\npass_authorization = true\n");
  EXPECT_EQ(env("/env.pl", kBearer)["HTTP_AUTHORIZATION"], "Bearer abc.def");
  EXPECT_FALSE(env("/env.php", kBearer).contains("HTTP_AUTHORIZATION"));  // the pool's says no
  server_.reset();
  start([](config::config& c) { c.pools["php"].pass_authorization = true; });
  EXPECT_EQ(env("/env.php", kBearer)["HTTP_AUTHORIZATION"], "Bearer abc.def");
  EXPECT_FALSE(env("/env.pl", kBearer).contains("HTTP_AUTHORIZATION"));
}

TEST_F(ForwardedHttpTest, CgihostsOwnBasicNeverPassesThePasswordOn) {
  start(
      [](config::config& c) {
        c.cgi.pass_authorization = true;
        c.pools["php"].pass_authorization = true;
      },
      "[authentication]\nbasic = true\nusers_file = \"users.htpasswd\"\n"
      "[accounts]\nalice = \"www-data\"\n");
  for (const char* script : {"/env.pl", "/env.php"}) {
    auto e = env(script, kAlice);
    EXPECT_EQ(e["REMOTE_USER"], "alice") << script;
    EXPECT_EQ(e["AUTH_TYPE"], "Basic") << script;
    EXPECT_FALSE(e.contains("HTTP_AUTHORIZATION")) << script;
  }
}

TEST_F(ForwardedHttpTest, ALocationsEnvDocumentRootAndAuthorization) {
  fs::create_directories(dir_ / "other");
  fs::copy_file(dir_ / "site/env.pl", dir_ / "other/env.pl");
  ::chmod((dir_ / "other").c_str(), 0755);
  ::chmod((dir_ / "other/env.pl").c_str(), 0644);
  start({},
        "[cgi]\npass_authorization = true\n"
        "[authentication]\nbasic = true\nusers_file = \"users.htpasswd\"\n"
        "[accounts]\nalice = \"www-data\"\n"
        "[[locations]]\nprefix = \"/other/\"\nroot = \"" +
            dir_.path() +
            "/other\"\n"
            "pass_authorization = true\n"
            "env = { APP_CONFIG = \"/etc/app.conf\", REMOTE_USER = \"mallory\" }\n");
  auto e = env("/other/env.pl/x", kAlice);
  EXPECT_EQ(e["APP_CONFIG"], "/etc/app.conf");
  EXPECT_EQ(e["REMOTE_USER"], "alice");  // the request's own wins over env
  EXPECT_EQ(e["DOCUMENT_ROOT"], dir_.path() + "/other");
  EXPECT_EQ(e["PATH_TRANSLATED"], dir_.path() + "/other/x");
  // The location asks for it explicitly: cgihost's own Basic passes on.
  EXPECT_EQ(e["HTTP_AUTHORIZATION"], "Basic YWxpY2U6c2VjcmV0");
  // Outside it: [cgi] says yes, but not a password cgihost checked.
  e = env("/env.pl", kAlice);
  EXPECT_FALSE(e.contains("HTTP_AUTHORIZATION"));
  EXPECT_FALSE(e.contains("APP_CONFIG"));
  EXPECT_EQ(e["DOCUMENT_ROOT"], dir_.path() + "/site");
  // A location's false wins over [cgi]'s true (Basic off: a Bearer token is the script's).
  server_.reset();
  fs::create_directories(dir_ / "site/closed");
  fs::copy_file(dir_ / "site/env.pl", dir_ / "site/closed/env.pl");
  ::chmod((dir_ / "site/closed").c_str(), 0755);
  ::chmod((dir_ / "site/closed/env.pl").c_str(), 0644);
  start({},
        "[cgi]\npass_authorization = true\n"
        "[[locations]]\nprefix = \"/closed/\"\npass_authorization = false\n");
  EXPECT_EQ(env("/env.pl", kBearer)["HTTP_AUTHORIZATION"], "Bearer abc.def");
  EXPECT_FALSE(env("/closed/env.pl", kBearer).contains("HTTP_AUTHORIZATION"));
}

TEST_F(ForwardedHttpTest, AHandlersMethodsRefuseOthersWith405AndAllow) {
  start({}, "", "methods = [\"GET\", \"HEAD\", \"POST\"]\n");
  auto r = fetch(server_->port(), "/env.pl", "DELETE");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "GET, HEAD, POST");
  EXPECT_EQ(server_->error_log().find("started"), std::string::npos);  // nothing ran
  EXPECT_EQ(fetch(server_->port(), "/env.pl", "POST", "Content-Length: 0\r\n")->status, 200);
  EXPECT_EQ(fetch(server_->port(), "/env.php", "DELETE")->status, 200);  // no list: any
  // The static files' own 405 says what they take.
  r = fetch(server_->port(), "/errors/404.html", "POST", "Content-Length: 0\r\n");
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "GET, HEAD");
}

TEST_F(ForwardedHttpTest, ACustomErrorPageIsTheBodyOfCgihostsOwn404) {
  dir_.write("site/errors/400.txt", "bad request, our way\n");
  ::chmod((dir_ / "site/errors/400.txt").c_str(), 0644);
  start({}, "[errors]\n404 = \"/errors/404.html\"\n400 = \"/errors/400.txt\"\n");
  auto r = fetch(server_->port(), "/missing.pl");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "<h1>Our own 404</h1>\n");
  EXPECT_EQ(r->header("content-type"), "text/html; charset=utf-8");
  r = fetch(server_->port(), "/missing.txt");  // a static file's 404 too
  EXPECT_EQ(r->body, "<h1>Our own 404</h1>\n");
  r = fetch(server_->port(), "/.git/config");  // request filtering's
  EXPECT_EQ(r->body, "<h1>Our own 404</h1>\n");
  // HEAD: the head only, with the page's length.
  connection c(server_->port());
  c.send("HEAD /missing.pl HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.read_response(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("content-length"), "21");
  EXPECT_EQ(r->body, "");
  // A head refused before any dispatch: its page too.
  connection bad(server_->port());
  bad.send("GET /x HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n");
  r = bad.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "bad request, our way\n");
  EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
  // Another status keeps the built-in page.
  r = fetch(server_->port(), "/errors/404.html", "POST", "Content-Length: 0\r\n");
  EXPECT_EQ(r->status, 405);
  EXPECT_NE(r->body.find("<h1>405 Method Not Allowed</h1>"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace cgihost::test
