// A real nginx in front of cgihost's FastCGI listener, configured by
// samples/nginx/cgihost-fastcgi.conf as written (its paths and port
// replaced): the answers through nginx are those of cgihost's own HTTP
// listener, over a Unix socket and over TCP, and nginx's auth_basic user
// reaches the script through trust_remote_user.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const kNginx = "/usr/sbin/nginx";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

bool accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::string field(const http_response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

class FcgiNginxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "nginx's workers run as www-data: needs root";
    if (!fs::exists(kNginx)) GTEST_SKIP() << "no nginx";
    ::chmod(dir_.path().c_str(), 0755);
    fs::copy(fs::path(CGIHOST_SOURCE_DIR) / "samples/site", dir_ / "site",
             fs::copy_options::recursive);
    fs::create_directories(dir_ / "site/private");
    fs::copy_file(dir_ / "site/env.pl", dir_ / "site/private/env.pl");
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "site"))
      ::chmod(e.path().c_str(), e.is_directory() ? 0755 : 0644);
    ::chmod((dir_ / "site").c_str(), 0755);
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[accounts]
"alice" = "nobody"
[server]
threads = 2
grace_period = "2s"
[fastcgi]
listen = ["127.0.0.1:0", "unix:)" + dir_ / "fcgi.sock" +
                                                   R"("]
socket_group = "www-data"
trust_remote_user = true
)",
                                               dir_.path());
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
    std::string site =
        read_file(fs::path(CGIHOST_SOURCE_DIR) / "samples/nginx/cgihost-fastcgi.conf");
    port_ = free_port();
    replace_all(site, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(port_));
    replace_all(site, "/srv/www/site", fs::canonical(dir_ / "site").string());
    replace_all(site, "/etc/nginx/cgihost.htpasswd", d + "/htpasswd");
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
    ASSERT_TRUE(eventually([&] { return accepts(port_); }, 10s)) << read_file(d + "/error.log");
  }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
  std::unique_ptr<child_process> nginx_;
  std::uint16_t port_ = 0;
};

TEST_P(FcgiNginxTest, AnswersAsCgihostsOwnHttpListenerDoes) {
  const std::pair<const char*, int> rows[] = {{"/", 200},
                                              {"/index.html", 200},
                                              {"/hello.pl", 200},
                                              {"/missing.html", 404},
                                              {"/broken-no-colon.pl", 502},
                                              {"/redirect-client.pl", 302}};
  for (const auto& [path, status] : rows) {
    auto direct = fetch(server_->port(), path);
    auto via = fetch(port_, path);
    ASSERT_TRUE(direct && via) << path;
    EXPECT_EQ(direct->status, status) << path;
    EXPECT_EQ(via->status, direct->status) << path;
    EXPECT_EQ(via->body, direct->body) << path;
    EXPECT_EQ(field(*via, "content-type"), field(*direct, "content-type")) << path;
    EXPECT_EQ(field(*via, "location"), field(*direct, "location")) << path;
  }
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
