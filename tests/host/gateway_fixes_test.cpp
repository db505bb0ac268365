// Issue 13's fixes found with real applications, end to end with real
// php-cgi (a FastCGI pool) and perl (CGI): a relative Location with a 3xx
// Status, and the process identity of a location.

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;

class GatewayFixesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) server_->stop();
    EXPECT_TRUE(children_of(::getpid()).empty()) << "a child was left behind";
  }

  // `more`: further top-level tables ([[locations]] ...).
  void start(const std::string& more = "") {
    ::chmod(site_.path().c_str(), 0755);
    std::string toml = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 2
[server]
threads = 2
grace_period = "5s"
)" + more;
    server_ = std::make_unique<running_server>(for_this_user(toml), site_.path());
    port_ = server_->port();
  }

  void script(const std::string& name, const std::string& text) {
    site_.write("site/" + name, text);
    ::chmod((site_ / ("site/" + name)).c_str(), 0644);
    ::chmod((site_ / "site").c_str(), 0755);
  }

  std::string log() const { return server_ ? server_->error_log() : std::string(); }

  temp_dir site_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

// RFC 9110 §10.2.2: PHP sends Status: 302 with header('Location: ...'); a
// relative reference then passes through as the client redirect.
TEST_F(GatewayFixesTest, ARelativeLocationWithA3xxStatusIsTheClientRedirect) {
  script("login.php", "<?php header('Location: dashboard', true, 302); echo 'moved';");
  script("created.php",
         "<?php header('Location: items/7?x=%2F', true, 201); header('Content-Type: text/plain'); "
         "echo 'made';");
  script("login.pl", "print \"Status: 303 See Other\\r\\nLocation: ../next?a=1\\r\\n\\r\\n\";\n");
  script("nostatus.pl", "print \"Location: dashboard\\r\\n\\r\\n\";\n");
  script("ok_status.pl",
         "print \"Status: 200 OK\\r\\nLocation: dashboard\\r\\nContent-Type: text/plain\\r\\n\\r\\n"
         "x\";\n");
  script("spaced.php", "<?php header('Location: dash board', true, 302);");
  start("[log]\nlevel = \"debug\"\n");

  auto php = fetch(port_, "/login.php");
  ASSERT_TRUE(php);
  EXPECT_EQ(php->status, 302) << log();
  EXPECT_EQ(php->header("Location"), "dashboard");
  auto created = fetch(port_, "/created.php");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << log();
  EXPECT_EQ(created->header("Location"), "items/7?x=%2F");
  EXPECT_EQ(created->body, "made");
  auto perl = fetch(port_, "/login.pl");
  ASSERT_TRUE(perl);
  EXPECT_EQ(perl->status, 303) << log();
  EXPECT_EQ(perl->header("Location"), "../next?a=1");
  EXPECT_NE(log().find("redirects to the relative reference \"dashboard\" with Status 302"),
            std::string::npos)
      << log();

  // RFC 3875 §6: without a 3xx or 201 Status, neither a local nor a client redirect.
  for (const char* bad : {"/nostatus.pl", "/ok_status.pl", "/spaced.php"}) {
    auto r = fetch(port_, bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 502) << bad;
  }
  EXPECT_NE(log().find("cgi.location.bad"), std::string::npos) << log();
}

// A location's process_identity is the process identity under its prefix:
// the php-cgi pool (impersonate = false) keeps a pool for that account, and
// a CGI with create_process_as_user = false starts as it; elsewhere both
// run as identity.process.
TEST_F(GatewayFixesTest, ALocationsProcessIdentityRunsItsScripts) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: children as other accounts";
  const std::string php = "<?php header('Content-Type: text/plain'); echo posix_geteuid();";
  const std::string perl = "print \"Content-Type: text/plain\\r\\n\\r\\n$>\";\n";
  script("app/uid.php", php);
  script("uid.php", php);
  script("cgi/uid.pl", perl);
  script("uid.pl", perl);
  ::chmod((site_ / "site/app").c_str(), 0755);
  ::chmod((site_ / "site/cgi").c_str(), 0755);
  start(R"([cgi]
create_process_as_user = false
[[locations]]
prefix = "/app/"
process_identity = "nobody"
[[locations]]
prefix = "/cgi/"
process_identity = "nobody"
)");
  const std::string nobody = std::to_string(::getpwnam("nobody")->pw_uid);
  const std::string www = std::to_string(::getpwnam("www-data")->pw_uid);
  for (auto [target, uid] : {std::pair{"/app/uid.php", nobody}, std::pair{"/uid.php", www},
                             std::pair{"/cgi/uid.pl", nobody}, std::pair{"/uid.pl", www}}) {
    auto r = fetch(port_, target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target << "\n" << log();
    EXPECT_EQ(r->body, uid) << target;
  }
  // The spawn line says why.
  EXPECT_NE(log().find("cgi create_process_as_user=false -> the process identity: location /cgi/ "
                       "process_identity = nobody"),
            std::string::npos)
      << log();
  EXPECT_NE(log().find("a pool of instances running as nobody"), std::string::npos) << log();
}

// try --explain says which process identity and where it came from.
TEST_F(GatewayFixesTest, ExplainNamesTheLocationOfTheProcessIdentity) {
  script("cgi/uid.pl", "print \"Content-Type: text/plain\\r\\n\\r\\n$>\";\n");
  ::chmod((site_ / "site/cgi").c_str(), 0755);
  site_.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[locations]]
prefix = "/cgi/"
create_process_as_user = false
process_identity = "nobody"
)"));
  auto r = run({CGIHOST_BINARY, "try", "--config", site_ / "c.toml", "--explain", "/cgi/uid.pl"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("-> the process identity: location /cgi/ process_identity = nobody"),
            std::string::npos)
      << r.out;
}

// A program that answers before the request body has fully arrived (the
// Perl FCGI application's hello, a Perl CGI; php-cgi itself reads every body
// to its end before it ends a request): the response is whole, not a client
// that left, and the body's rest is drained for the next request.
TEST_F(GatewayFixesTest, AnAnswerBeforeTheWholeBodyIsWholeThroughFastcgiAndCgi) {
  std::ifstream app(std::filesystem::path(CGIHOST_SOURCE_DIR) / "tests/data/fcgi_app.pl");
  site_.write("fcgi_app.pl", std::string(std::istreambuf_iterator<char>(app), {}));
  ::chmod((site_ / "fcgi_app.pl").c_str(), 0644);
  script("hello.fpl", "");
  script("put.pl", "print \"Content-Type: text/plain\\r\\n\\r\\nhello 1\";\n");
  start(R"([[handlers]]
match = "*.fpl"
module = "fastcgi"
pool = "perl"
[pools.perl]
command = ["/usr/bin/perl", ")" +
        (site_ / "fcgi_app.pl") + R"("]
max_instances = 1
)");
  for (const char* target : {"/hello.fpl", "/put.pl"}) {
    connection c(port_);
    c.send(std::string("POST ") + target +
           " HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n0123456789");
    auto r = c.read_response();
    ASSERT_TRUE(r) << target << "\n" << log();
    EXPECT_EQ(r->status, 200) << target << "\n" << log();
    EXPECT_EQ(r->body.rfind("hello ", 0), 0u) << target << ": " << r->body;
    c.send("abcdefghij");
    c.send(std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
    auto next = c.read_response();
    ASSERT_TRUE(next) << target;
    EXPECT_EQ(next->status, 200) << target;
  }
  EXPECT_EQ(log().find("handler sent no response"), std::string::npos) << log();
  EXPECT_EQ(log().find("the client left"), std::string::npos) << log();
}

}  // namespace
}  // namespace cgihost::test
