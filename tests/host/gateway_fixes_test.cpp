// Issue 13's fixes found with real applications, end to end with real
// php-cgi (a FastCGI pool) and perl (CGI): a relative Location with a 3xx
// Status, and the process identity of a location.

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace
}  // namespace cgihost::test
