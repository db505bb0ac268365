// A real nginx in front of cgihost's FastCGI listener, configured by
// samples/nginx/cgihost-fastcgi.conf as written (its paths and port
// replaced): the answers through nginx are those of cgihost's own HTTP
// listener, over a Unix socket and over TCP, and nginx's auth_basic user
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

const char* const kNginx = "/usr/sbin/nginx";

class FcgiNginxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "nginx's workers run as www-data: needs root";
    if (!fs::exists(kNginx)) GTEST_SKIP() << "no nginx";
    server_ = start_behind_web_server(dir_);
    start_nginx(GetParam());
  }

  void TearDown() override {
    if (nginx_) {
      nginx_->signal(SIGQUIT);
      EXPECT_TRUE(nginx_->wait_exit(10s));
    }
    nginx_.reset();
    if (server_) server_->stop();
  }

  // The sample, as written, with the site's paths, a free port and the socket
  // (or, `tcp`, the FastCGI TCP listener) put in.
  void start_nginx(bool tcp) {
    const std::string d = dir_ / "nginx";
    fs::create_directories(d);
    port_ = free_port();
    std::string site = sample_config("nginx/cgihost-fastcgi.conf", dir_, port_,
                                     "/etc/nginx/cgihost.htpasswd", d + "/htpasswd");
    const std::string upstream =
        tcp ? "127.0.0.1:" + std::to_string(server_->server().bound_fastcgi().at(0).port())
            : "unix:" + dir_ / "fcgi.sock";
    replace_all(site, "unix:/run/cgihost/fcgi.sock", upstream);
    dir_.write("nginx/site.conf", site);
    // `include fastcgi_params` is relative to the config's folder, as /etc/nginx is.
    fs::copy_file("/etc/nginx/fastcgi_params", d + "/fastcgi_params");
    dir_.write("nginx/htpasswd", "alice:$apr1$cgihostt$NoiAtxbGP6O6tMEhfexVT.\n");
    ::chmod((d + "/htpasswd").c_str(), 0644);
    dir_.write("nginx/nginx.conf", "daemon off;\nworker_processes 1;\nuser www-data;\npid " + d +
                                       "/nginx.pid;\nerror_log " + d +
                                       "/error.log warn;\nevents { worker_connections 64; }\n"
                                       "http {\n  access_log off;\n  client_body_temp_path " +
                                       d + "/body;\n  fastcgi_temp_path " + d +
                                       "/fastcgi;\n  include /etc/nginx/mime.types;\n  include " +
                                       d + "/site.conf;\n}\n");
    nginx_ = std::make_unique<child_process>(std::vector<std::string>{
        kNginx, "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/error.log"});
    ASSERT_TRUE(accepts_within(port_, 10s)) << read_file(d + "/error.log");
  }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
  std::unique_ptr<child_process> nginx_;
  std::uint16_t port_ = 0;
};

TEST_P(FcgiNginxTest, AnswersAsCgihostsOwnHttpListenerDoes) {
  expect_same_answers(server_->port(), port_);
}

TEST_P(FcgiNginxTest, ScriptSeesNginxsClientAndItsAuthenticatedUser) {
  auto env = fetch(port_, "/env.pl?q=1");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->status, 200);
  for (const char* want : {"REMOTE_ADDR=127.0.0.1\n", "SERVER_NAME=example.test\n",
                           "QUERY_STRING=q=1\n", "SCRIPT_NAME=/env.pl\n"})
    EXPECT_NE(env->body.find(want), std::string::npos) << want << "\n" << env->body;
  EXPECT_EQ(env->body.find("REMOTE_USER"), std::string::npos) << env->body;

  auto refused = fetch(port_, "/private/env.pl");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401) << "nginx's auth_basic";
  auto alice = fetch(port_, "/private/env.pl", "GET", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200);
  EXPECT_NE(alice->body.find("REMOTE_USER=alice\n"), std::string::npos) << alice->body;
  EXPECT_TRUE(eventually([&] {
    return server_->access_log().find("identity=nobody") != std::string::npos;
  })) << server_->access_log();
}

INSTANTIATE_TEST_SUITE_P(Upstream, FcgiNginxTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Tcp" : "UnixSocket"; });

}  // namespace
}  // namespace cgihost::test
