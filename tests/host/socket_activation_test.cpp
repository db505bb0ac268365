// Socket activation (sd_listen_fds(3)): `cgihost serve` on sockets systemd
// passed instead of binding them. With Debian's systemd-socket-activate,
// which binds, waits for the first connection and execs cgihost with the
// sockets; and with sockets this test holds as systemd does, across
// restarts under load: no connection lost.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/fcgi_client.hpp"
#include "support/client_load.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"
#include "support/upstream_support.hpp"

namespace cgihost::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kActivate = "/usr/bin/systemd-socket-activate";

// HTTP on `http`, FastCGI on `fastcgi` (each "127.0.0.1:PORT" or "unix:/path"),
// *.php in a php-cgi pool, *.cgi as CGI.
std::string activated_config(const std::string& http, const std::string& fastcgi) {
  return for_this_user("listen = [\"" + http + "\"]\n" + R"(document_root = "site"
[identity]
process = "www-data"
[server]
grace_period = "5s"
[log]
access_log = "off"
[fastcgi]
listen = [")" + fastcgi +
                       R"("]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.cgi"
module = "cgi"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 2
)");
}

void write_site(const temp_dir& dir) {
  ::chmod(dir.path().c_str(), 0755);
  // What a child sees of socket activation: nothing.
  dir.write("site/env.cgi",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s\\n' \"${LISTEN_FDS-none}\" "
            "\"${LISTEN_PID-none}\"\n");
  dir.write("site/pid.php", "<?php echo 'php ', getmypid();");
  ::chmod((dir / "site").c_str(), 0755);
  ::chmod((dir / "site/env.cgi").c_str(), 0755);
  ::chmod((dir / "site/pid.php").c_str(), 0644);
}

// A listening TCP socket on 127.0.0.1 (port 0: any), as a socket unit holds one.
int listening_socket(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd, 1024) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ADD_FAILURE() << "cannot listen: " << std::strerror(errno);
    return -1;
  }
  port = ntohs(sa.sin_port);
  return fd;
}

struct fd_closer {
  std::vector<int> fds;
  ~fd_closer() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

TEST(SocketActivation, SystemdSocketActivatePassesTheHttpAndFastcgiSockets) {
  if (::access(kActivate, X_OK) != 0) GTEST_SKIP() << "no systemd-socket-activate";
  temp_dir dir;
  write_site(dir);
  std::filesystem::create_directory(dir / "run");
  const auto port = free_port();
  const std::string sock = dir / "run/fcgi.sock";
  dir.write("c.toml", activated_config("127.0.0.1:" + std::to_string(port), "unix:" + sock));
  child_process p({kActivate, "-l", "127.0.0.1:" + std::to_string(port), "-l", sock,
                   "--fdname=http:fastcgi", CGIHOST_BINARY, "serve", "-c", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("as 4", 10s)) << p.err();
  // The first connection starts cgihost, which answers it.
  auto r = fetch(port, "/env.cgi");
  ASSERT_TRUE(r) << p.err();
  EXPECT_EQ(r->status, 200) << r->body << p.err();
  EXPECT_EQ(r->body, "none none\n") << "a child saw LISTEN_*";
  // Both taken from systemd (binding them would have failed: this very
  // process holds them), the socket file left alone.
  ASSERT_TRUE(
      p.wait_stderr_line("[fastcgi] listen unix:" + sock + ": on the socket systemd passed", 10s))
      << p.err();
  EXPECT_NE(p.err().find("listen 127.0.0.1:" + std::to_string(port) +
                         ": on the socket systemd passed, fd 3 (name \"http\""),
            std::string::npos)
      << p.err();
  auto c = fcgi_client::local(sock);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.request(1, nginx_params("/pid.php", dir / "site")));
  auto a = c.wait(1);
  ASSERT_TRUE(a && a->ended);
  EXPECT_EQ(a->http_status(), 200u);
  EXPECT_EQ(a->body().substr(0, 4), "php ") << a->body();

  // A reload without the FastCGI entry gives its socket back (not accepted
  // on, not removed); one with it again serves it again.
  auto config = activated_config("127.0.0.1:" + std::to_string(port), "unix:" + sock);
  auto without = config;
  replace_all(without, "[fastcgi]\nlisten = [\"unix:" + sock + "\"]\n", "");
  ASSERT_NE(without, config);
  dir.write("c.toml", without);
  ASSERT_TRUE(p.signal(SIGHUP));
  auto gone = p.wait_stderr_line("its entry is gone from the config", 20s);
  ASSERT_TRUE(gone) << p.err();
  EXPECT_NE(gone->find("fd 4 (name \"fastcgi\""), std::string::npos) << *gone;
  ASSERT_TRUE(p.wait_stderr_line("generation 2;", 20s)) << p.err();
  EXPECT_TRUE(std::filesystem::exists(sock));
  dir.write("c.toml", config);
  ASSERT_TRUE(p.signal(SIGHUP));
  ASSERT_TRUE(p.wait_stderr_line("generation 3;", 20s)) << p.err();
  auto again = fcgi_client::local(sock);
  ASSERT_TRUE(again.connected());
  ASSERT_TRUE(again.request(1, nginx_params("/pid.php", dir / "site")));
  a = again.wait(1);
  ASSERT_TRUE(a && a->ended) << p.err();
  EXPECT_EQ(a->http_status(), 200u);

  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(15s), 0) << p.err();
  EXPECT_TRUE(std::filesystem::exists(sock)) << "cgihost removed systemd's socket file";
}

TEST(SocketActivation, ASocketNoEntryNamesStopsTheStartUnlessItsNameSaysTheFront) {
  if (::access(kActivate, X_OK) != 0) GTEST_SKIP() << "no systemd-socket-activate";
  temp_dir dir;
  write_site(dir);
  const auto configured = free_port();
  const auto other = free_port();
  const auto fcgi = free_port();
  dir.write("c.toml", activated_config("127.0.0.1:" + std::to_string(configured),
                                       "127.0.0.1:" + std::to_string(fcgi)));
  const std::string at = "127.0.0.1:" + std::to_string(other);
  {
    // Unnamed: an address the config does not have is an error at the start.
    child_process p({kActivate, "-l", at, CGIHOST_BINARY, "serve", "-c", dir / "c.toml"});
    ASSERT_TRUE(p.wait_stderr_line("as 3", 10s)) << p.err();
    connection first(other);  // starts cgihost
    EXPECT_EQ(p.wait_exit(15s), 1) << p.err();
    EXPECT_NE(p.err().find("systemd passed fd 3 (no name, " + at +
                           "), which no listen or [fastcgi] listen entry"),
              std::string::npos)
        << p.err();
  }
  // Named "http": served as HTTP besides the config's own listeners.
  child_process p(
      {kActivate, "-l", at, "--fdname=http", CGIHOST_BINARY, "serve", "-c", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("as 3", 10s)) << p.err();
  auto r = fetch(other, "/env.cgi");
  ASSERT_TRUE(r) << p.err();
  EXPECT_EQ(r->status, 200) << p.err();
  ASSERT_TRUE(p.wait_stderr_line("served for HTTP although no entry of the config names it", 10s))
      << p.err();
  ASSERT_TRUE(accepts_within(configured, 5s)) << p.err();  // bound by cgihost itself
  auto own = fetch(configured, "/env.cgi");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200);
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(15s), 0) << p.err();
}

// The pid in a page's body ("php 1234"), 0 when there is none.
int php_pid(const std::string& body) {
  return body.rfind("php ", 0) == 0 ? std::atoi(body.c_str() + 4) : 0;
}

// HTTP: a new connection per request, alternating PHP and CGI.
void http_client(client_load& l, std::uint16_t port, std::chrono::steady_clock::time_point until) {
  for (int i = 0; !l.stop && std::chrono::steady_clock::now() < until; ++i) {
    const bool php = i % 2 == 0;
    auto r = fetch(port, php ? "/pid.php" : "/env.cgi");
    if (!r)
      l.fail(std::string("HTTP ") + (php ? "/pid.php" : "/env.cgi") + ": no response");
    else if (r->status != 200 || (php ? r->body.rfind("php ", 0) != 0 : r->body != "none none\n"))
      l.fail("HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    else
      l.answered(php_pid(r->body));
  }
}

// FastCGI: a new connection per request, as nginx without fastcgi_keep_conn.
void fastcgi_client(client_load& l, std::uint16_t port, const std::string& root,
                    std::chrono::steady_clock::time_point until) {
  while (!l.stop && std::chrono::steady_clock::now() < until) {
    auto c = fcgi_client::tcp(port);
    std::optional<fcgi_answer> a;
    if (c.connected() && c.request(1, nginx_params("/pid.php", root), {}, false))
      a = c.wait(1, 20s);
    if (!a || !a->ended)
      l.fail(c.connected() ? "FastCGI: no END_REQUEST" : "FastCGI: connection refused");
    else if (a->http_status() != 200 || a->body().rfind("php ", 0) != 0)
      l.fail("FastCGI " + std::to_string(a->http_status()) + ": " + a->body());
    else
      l.answered(php_pid(a->body()));
  }
}

// cgihost with `fds` as fds 3 and 4, named http and fastcgi, LISTEN_PID its own pid.
std::unique_ptr<child_process> start_activated(const temp_dir& dir, const std::vector<int>& fds) {
  return std::make_unique<child_process>(
      std::vector<std::string>{"/bin/sh", "-c",
                               "LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=http:fastcgi; export "
                               "LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec \"$0\" \"$@\"",
                               CGIHOST_BINARY, "serve", "-c", dir / "c.toml"},
      fds);
}

TEST(SocketActivation, RestartsUnderLoadLoseNoConnection) {
  temp_dir dir;
  write_site(dir);
  std::uint16_t http_port = 0, fcgi_port = 0;
  fd_closer held;  // this test is systemd: it holds the sockets across the restarts
  held.fds = {listening_socket(http_port), listening_socket(fcgi_port)};
  ASSERT_GE(held.fds[0], 0);
  ASSERT_GE(held.fds[1], 0);
  dir.write("c.toml", activated_config("127.0.0.1:" + std::to_string(http_port),
                                       "127.0.0.1:" + std::to_string(fcgi_port)));
  auto p = start_activated(dir, held.fds);
  ASSERT_TRUE(p->wait_stderr_line("listening for FastCGI", 15s)) << p->err();

  client_load l;
  client_threads clients(l);
  const auto until = std::chrono::steady_clock::now() + 120s;  // the bound of every loop
  for (int i = 0; i < 2; ++i) clients.start(http_client, http_port, until);
  clients.start(fastcgi_client, fcgi_port, std::string(dir / "site"), until);
  ASSERT_TRUE(l.more(20)) << p->err();

  constexpr int kRestarts = 10;
  const auto counted_from = l.ok.load();
  for (int i = 0; i < kRestarts; ++i) {
    // systemctl restart: stop (the graceful stop), then start; the sockets stay open meanwhile.
    ASSERT_TRUE(p->signal(SIGTERM));
    ASSERT_EQ(p->wait_exit(20s), 0) << "restart " << i << "\n" << p->err();
    p = start_activated(dir, held.fds);
    ASSERT_TRUE(p->wait_stderr_line("listening for FastCGI", 15s)) << p->err();
    ASSERT_TRUE(l.more(20)) << "after restart " << i << "\n" << p->err();
  }
  clients.join();
  EXPECT_EQ(l.failed.load(), 0u) << "first: " << l.first_failure() << "\n" << p->err();
  std::cout << "[ restart ] " << l.ok.load() - counted_from << " requests answered during "
            << kRestarts << " restarts, " << l.failed.load() << " failed\n";
  ASSERT_TRUE(p->signal(SIGTERM));
  EXPECT_EQ(p->wait_exit(20s), 0) << p->err();
  // Nothing of any of them is left: every php-cgi instance that answered is gone.
  const std::set<int> pids = l.pids();
  EXPECT_GE(pids.size(), static_cast<std::size_t>(kRestarts + 1));
  EXPECT_TRUE(eventually(
      [&] {
        for (int pid : pids)
          if (!pid_gone(pid)) return false;
        return true;
      },
      10s));
}

}  // namespace
}  // namespace cgihost::test
