// A real Apache (mod_proxy_fcgi) in front of cgihost's FastCGI listener,
// configured by samples/apache/cgihost-fastcgi.conf as written (its paths,
// port and backend replaced): the answers through Apache are those of
// cgihost's own HTTP listener, over a Unix socket and over TCP, Apache keeps
// its FastCGI connections (enablereuse), and Apache's Basic auth user
// reaches the script through trust_remote_user.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"
#include "support/upstream_support.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const kApache = "/usr/sbin/apache2";
const char* const kModules = "/usr/lib/apache2/modules";

// One POST to echo.pl on a fresh connection.
std::optional<http_response> post_echo(std::uint16_t port, const std::string& body) {
  connection c(port);
  if (!c.send("POST /echo.pl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              "Content-Type: application/octet-stream\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body))
    return std::nullopt;
  return c.read_response();
}

// The server config Debian's apache2.conf would give, reduced to what the
// sample needs: its modules, one event-MPM process, files in `d`, workers as
// www-data (Apache started as root). proxy:trace2 logs connection reuse.
std::string httpd_conf(const std::string& d) {
  std::string conf = "ServerRoot \"" + d + "\"\nPidFile " + d + "/apache.pid\nErrorLog " + d +
                     "/error.log\nLogLevel warn proxy:trace2\nDefaultRuntimeDir " + d +
                     "\nUser www-data\nGroup www-data\nServerName localhost\n"
                     "StartServers 1\nServerLimit 1\nThreadsPerChild 16\n"
                     "MaxRequestWorkers 16\nMinSpareThreads 1\nMaxSpareThreads 16\n";
  for (const char* m : {"mpm_event", "authz_core", "authn_core", "authn_file", "authz_user",
                        "auth_basic", "proxy", "proxy_fcgi"})
    conf += std::string("LoadModule ") + m + "_module " + kModules + "/mod_" + m + ".so\n";
  return conf + "Include " + d + "/site.conf\n";
}

class FcgiApacheTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "Apache's workers run as www-data: needs root";
    if (!fs::exists(kApache))
      GTEST_SKIP() << "no " << kApache << " (Debian's apache2-bin: scripts/setup.sh)";
    server_ = start_behind_web_server(dir_);
    start_apache(GetParam());
  }

  // Apache's "stop": the parent ends its workers, then itself.
  void TearDown() override {
    if (apache_) {
      apache_->signal(SIGTERM);
      EXPECT_TRUE(apache_->wait_exit(10s)) << "Apache did not stop";
    }
    apache_.reset();
    if (server_) server_->stop();
  }

  // The sample, as written, with the site's paths, a free port and the socket
  // (or, `tcp`, the FastCGI TCP listener) put in.
  void start_apache(bool tcp) {
    const std::string d = dir_ / "apache";
    fs::create_directories(d);
    port_ = free_port();
    std::string site = sample_config("apache/cgihost-fastcgi.conf", dir_, port_,
                                     "/etc/apache2/cgihost.htpasswd", d + "/htpasswd");
    const std::string backend =
        tcp ? "fcgi://127.0.0.1:" + std::to_string(server_->server().bound_fastcgi().at(0).port()) +
                  "/"
            : "unix:" + dir_ / "fcgi.sock" + "|fcgi://localhost/";
    replace_all(site, "unix:/run/cgihost/fcgi.sock|fcgi://localhost/", backend);
    dir_.write("apache/site.conf", site);
    dir_.write("apache/htpasswd", "alice:$apr1$cgihostt$NoiAtxbGP6O6tMEhfexVT.\n");
    ::chmod((d + "/htpasswd").c_str(), 0644);
    dir_.write("apache/httpd.conf", httpd_conf(d));
    apache_ = std::make_unique<child_process>(
        std::vector<std::string>{kApache, "-f", d + "/httpd.conf", "-DFOREGROUND"});
    ASSERT_TRUE(accepts_within(port_, 10s)) << read_file(d + "/error.log") << apache_->err();
  }

  std::string error_log() const { return read_file(dir_ / "apache/error.log"); }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
  std::unique_ptr<child_process> apache_;
  std::uint16_t port_ = 0;
};

TEST_P(FcgiApacheTest, AnswersAsCgihostsOwnHttpListenerDoes) {
  expect_same_answers(server_->port(), port_, [&] { return error_log(); });
  std::string body(100'000, 'x');
  for (std::size_t i = 0; i < body.size(); i += 7) body[i] = static_cast<char>('a' + i % 26);
  auto direct = post_echo(server_->port(), body);
  auto via = post_echo(port_, body);
  ASSERT_TRUE(direct && via);
  EXPECT_EQ(direct->status, 200);
  EXPECT_EQ(via->status, 200);
  EXPECT_EQ(via->body, body);
  // enablereuse=on: the later requests went over a FastCGI connection kept open.
  EXPECT_NE(error_log().find("reusing backend connection"), std::string::npos) << error_log();
}

TEST_P(FcgiApacheTest, ScriptSeesApachesClientAndItsAuthenticatedUser) {
  // SERVER_PORT is Apache's: the Host field's ("test", no port: 80), as
  // UseCanonicalName Off (the default) has it.
  auto env = fetch(port_, "/env.pl/a%20b/c?q=1");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->status, 200);
  for (const char* want :
       {"REMOTE_ADDR=127.0.0.1\n", "SERVER_PORT=80\n", "QUERY_STRING=q=1\n",
        "SCRIPT_NAME=/env.pl\n", "PATH_INFO=/a b/c\n", "REQUEST_URI=/env.pl/a%20b/c?q=1\n"})
    EXPECT_NE(env->body.find(want), std::string::npos) << want << "\n" << env->body;
  EXPECT_EQ(env->body.find("REMOTE_USER"), std::string::npos) << env->body;

  auto refused = fetch(port_, "/private/env.pl");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401) << "Apache's Basic auth";
  auto alice = fetch(port_, "/private/env.pl", "GET", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200) << error_log();
  EXPECT_NE(alice->body.find("REMOTE_USER=alice\n"), std::string::npos) << alice->body;
  EXPECT_NE(alice->body.find("AUTH_TYPE=Basic\n"), std::string::npos) << alice->body;
  // Apache does not forward the credentials themselves (no CGIPassAuth).
  EXPECT_EQ(alice->body.find("HTTP_AUTHORIZATION"), std::string::npos) << alice->body;
  // The access log's line names the user Apache authenticated and the account
  // [accounts] maps it to.
  EXPECT_TRUE(eventually([&] {
    const std::string log = server_->access_log();
    const auto at = log.find(" - alice [");
    if (at == std::string::npos) return false;
    const std::string line = log.substr(at, log.find('\n', at) - at);
    return line.find("/private/env.pl") != std::string::npos &&
           line.find("identity=nobody") != std::string::npos;
  })) << server_->access_log();
}

INSTANTIATE_TEST_SUITE_P(Upstream, FcgiApacheTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Tcp" : "UnixSocket"; });

}  // namespace
}  // namespace cgihost::test
