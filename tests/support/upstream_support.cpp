#include "support/upstream_support.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "support/eventually.hpp"

namespace cgihost::test {
namespace fs = std::filesystem;

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

bool accepts_within(std::uint16_t port, std::chrono::milliseconds limit) {
  return eventually([&] { return accepts(port); }, limit);
}

std::string field(const http_response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

std::unique_ptr<running_server> start_behind_web_server(const temp_dir& dir) {
  ::chmod(dir.path().c_str(), 0755);
  fs::copy(fs::path(CGIHOST_SOURCE_DIR) / "samples/site", dir / "site",
           fs::copy_options::recursive);
  fs::create_directories(dir / "site/private");
  fs::copy_file(dir / "site/env.pl", dir / "site/private/env.pl");
  for (const auto& e : fs::recursive_directory_iterator(dir / "site"))
    ::chmod(e.path().c_str(), e.is_directory() ? 0755 : 0644);
  ::chmod((dir / "site").c_str(), 0755);
  return std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
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
listen = ["127.0.0.1:0", "unix:)" + dir / "fcgi.sock" +
                                              R"("]
socket_group = "www-data"
trust_remote_user = true
)",
                                          dir.path());
}

std::string sample_config(const std::string& sample, const temp_dir& dir, std::uint16_t port,
                          const std::string& written_htpasswd, const std::string& htpasswd) {
  std::string site = read_file(fs::path(CGIHOST_SOURCE_DIR) / "samples" / sample);
  replace_all(site, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(port));
  replace_all(site, "/srv/www/site", fs::canonical(dir / "site").string());
  replace_all(site, written_htpasswd, htpasswd);
  return site;
}

void expect_same_answers(std::uint16_t direct_port, std::uint16_t via_port,
                         const std::function<std::string()>& context) {
  const std::pair<const char*, int> rows[] = {{"/", 200},
                                              {"/index.html", 200},
                                              {"/hello.pl", 200},
                                              {"/missing.html", 404},
                                              {"/broken-no-colon.pl", 502},
                                              {"/redirect-client.pl", 302}};
  for (const auto& [path, status] : rows) {
    auto direct = fetch(direct_port, path);
    auto via = fetch(via_port, path);
    ASSERT_TRUE(direct && via) << path;
    EXPECT_EQ(direct->status, status) << path;
    EXPECT_EQ(via->status, direct->status) << path << "\n" << (context ? context() : "");
    EXPECT_EQ(via->body, direct->body) << path;
    EXPECT_EQ(field(*via, "content-type"), field(*direct, "content-type")) << path;
    EXPECT_EQ(field(*via, "location"), field(*direct, "location")) << path;
  }
}

}  // namespace cgihost::test
