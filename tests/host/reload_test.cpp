// Reloading the config of a running `cgihost serve` (SIGHUP, `cgihost
// reload`): under load on HTTP and on the FastCGI listener, 20 reloads
// alternating two configs that change a pool, a handler and a listener, and
// one invalid config, lose no request and leave no process of an old
// generation behind.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
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

// Two configs of one site. Both: HTTP on `http_port`, FastCGI on
// `fcgi_port`, *.php in pool php, *.cgi as CGI, a status page and a pid
// file. Config "b" changes the pool (max_instances, its env: GEN tells the
// generation's config apart), adds a handler (*.sh runs as CGI, a static
// file under "a") and listens on b.sock instead of a.sock.
std::string site_config(const temp_dir& dir, char which, std::uint16_t http_port,
                        std::uint16_t fcgi_port) {
  const bool b = which == 'b';
  std::string t = "listen = [\"127.0.0.1:" + std::to_string(http_port) +
                  "\", \"unix:" + (dir / (b ? "run/b.sock" : "run/a.sock")) + "\"]\n";
  t += R"(document_root = "site"
[identity]
process = "www-data"
[server]
threads = 2
grace_period = "5s"
pid_file = "cgihost.pid"
[log]
access_log = "off"
[status]
path = "/status"
[fastcgi]
listen = ["127.0.0.1:)" +
       std::to_string(fcgi_port) + R"("]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.cgi"
module = "cgi"
)";
  if (b) t += "[[handlers]]\nmatch = \"*.sh\"\nmodule = \"cgi\"\n";
  t += "[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\n";
  t += b ? "max_instances = 3\n" : "max_instances = 2\n";
  t += std::string("env = { GEN = \"") + which + "\" }\n";
  return for_this_user(t);
}

// Replaced whole, as an editor or a config manager does.
void write_config(const temp_dir& dir, const std::string& text) {
  dir.write("c.toml.new", text);
  std::filesystem::rename(dir / "c.toml.new", dir / "c.toml");
}

void write_site(const temp_dir& dir) {
  ::chmod(dir.path().c_str(), 0755);
  // A listener a reload adds is bound by the network process, which runs
  // as its own account by then: its folder must let that account in.
  std::filesystem::create_directory(dir / "run");
  ::chmod((dir / "run").c_str(), 0777);
  dir.write("site/gen.php", "<?php echo getenv('GEN'), ' ', getmypid();");
  dir.write("site/hello.cgi", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n");
  dir.write("site/run.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nran\\n'\n");
  ::chmod((dir / "site").c_str(), 0755);
  ::chmod((dir / "site/gen.php").c_str(), 0644);
  ::chmod((dir / "site/hello.cgi").c_str(), 0755);
  ::chmod((dir / "site/run.sh").c_str(), 0755);
}

// The pid in a page's body ("a 1234"), 0 when there is none.
int php_pid(const std::string& body) {
  auto sp = body.find(' ');
  return sp == std::string::npos ? 0 : std::atoi(body.c_str() + sp + 1);
}

bool php_body(const std::string& body) {
  return body.size() > 2 && (body[0] == 'a' || body[0] == 'b') && body[1] == ' ';
}

// HTTP: a new connection per request, alternating PHP and CGI.
void http_client(client_load& l, std::uint16_t port, std::chrono::steady_clock::time_point until) {
  for (int i = 0; !l.stop && std::chrono::steady_clock::now() < until; ++i) {
    const bool php = i % 2 == 0;
    auto r = fetch(port, php ? "/gen.php" : "/hello.cgi");
    if (!r) {
      l.fail(std::string("HTTP ") + (php ? "/gen.php" : "/hello.cgi") + ": no response");
    } else if (r->status != 200 || (php ? !php_body(r->body) : r->body != "hello\n")) {
      l.fail("HTTP status " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    } else {
      l.answered(php ? php_pid(r->body) : 0);
    }
  }
}

// FastCGI, one kept connection (reconnected if the server closes it), as nginx with keepalive.
void fastcgi_client(client_load& l, std::uint16_t port, const std::string& root,
                    std::chrono::steady_clock::time_point until) {
  std::optional<fcgi_client> c;
  for (std::uint16_t id = 1; !l.stop && std::chrono::steady_clock::now() < until;
       id = static_cast<std::uint16_t>(id % 1000 + 1)) {
    if (!c || !c->connected()) c.emplace(fcgi_client::tcp(port));
    if (!c->connected()) {
      l.fail("FastCGI: connection refused");
      c.reset();
      continue;
    }
    std::optional<fcgi_answer> a;
    if (c->request(id, nginx_params("/gen.php", root))) a = c->wait(id, 20s);
    if (!a || !a->ended) {
      l.fail("FastCGI /gen.php: no END_REQUEST");
      c.reset();
    } else if (a->http_status() != 200 || !php_body(a->body())) {
      l.fail("FastCGI status " + std::to_string(a->http_status()) + ": " + a->body());
    } else {
      l.answered(php_pid(a->body()));
    }
  }
}

// The spawner: the one child of the network process.
pid_t spawner_of(pid_t server) {
  auto kids = children_of(server);
  return kids.size() == 1 ? kids[0].first : 0;
}

TEST(ReloadServe, TwentyReloadsUnderLoadLoseNothingAndLeaveNoOldProcess) {
  temp_dir dir;
  write_site(dir);
  const auto http_port = free_port();
  const auto fcgi_port = free_port();
  const std::string a = site_config(dir, 'a', http_port, fcgi_port);
  const std::string b = site_config(dir, 'b', http_port, fcgi_port);
  write_config(dir, a);
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("listening for FastCGI", 15s)) << p.err();
  ASSERT_TRUE(accepts_within(http_port, 5s));

  client_load l;
  client_threads clients(l);
  const auto until = std::chrono::steady_clock::now() + 150s;  // the bound of every loop
  for (int i = 0; i < 2; ++i) clients.start(http_client, http_port, until);
  clients.start(fastcgi_client, fcgi_port, std::string(dir / "site"), until);
  ASSERT_TRUE(l.more(20)) << p.err();

  int generation = 1;
  std::set<int> before_last;  // php-cgi instances that answered before the last reload
  for (int i = 0; i < 20; ++i) {
    if (i == 19) before_last = l.pids();
    write_config(dir, i % 2 == 0 ? b : a);
    if (i % 2 == 0) {
      auto r = run({CGIHOST_BINARY, "reload", "-c", dir / "c.toml"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    } else {
      ASSERT_TRUE(p.signal(SIGHUP));
    }
    ++generation;
    ASSERT_TRUE(p.wait_stderr_line("generation " + std::to_string(generation) + ";", 20s))
        << "reload " << i << "\n"
        << p.err();
    if (i == 10) {
      // An invalid config: logged with its place, the running one stays.
      write_config(dir, "listen = [\"127.0.0.1:1\"\nthis is not TOML\n");
      ASSERT_TRUE(p.signal(SIGHUP));
      auto failed = p.wait_stderr_line("reload failed", 20s);
      ASSERT_TRUE(failed) << p.err();
      EXPECT_NE(p.err().find("c.toml:2:"), std::string::npos) << p.err();
    }
    ASSERT_TRUE(l.more(20)) << "after reload " << i << "\n" << p.err();
  }
  clients.join();
  EXPECT_EQ(l.failed.load(), 0u) << "first: " << l.first_failure() << "\n" << p.err();
  EXPECT_GT(l.ok.load(), 400u);
  std::cout << "[ reload ] " << l.ok.load() << " requests answered during 20 reloads, "
            << l.failed.load() << " failed\n";

  // The listener change: a.sock serves (config "a"), b.sock is gone.
  EXPECT_TRUE(std::filesystem::exists(dir / "run/a.sock"));
  EXPECT_FALSE(std::filesystem::exists(dir / "run/b.sock"));
  EXPECT_NE(
      unix_socket_exchange(dir / "run/a.sock", "GET /hello.cgi HTTP/1.0\r\n\r\n").find("hello"),
      std::string::npos);
  // The handler change: *.sh is a static file under "a".
  auto sh = fetch(http_port, "/run.sh");
  ASSERT_TRUE(sh);
  EXPECT_NE(sh->body.find("#!/bin/sh"), std::string::npos) << sh->body;
  // The pool change: config "a"'s instances answer, with its env.
  auto php = fetch(http_port, "/gen.php");
  ASSERT_TRUE(php);
  EXPECT_EQ(php->body.substr(0, 2), "a ");
  auto status = fetch(http_port, "/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->body.find("\"generation\":21"), std::string::npos) << status->body;
  EXPECT_NE(status->body.find("\"reloads\":20,\"reload_failures\":1"), std::string::npos)
      << status->body;

  // No process of an old generation: the spawner's children are at most
  // config "a"'s 2 instances, and every php-cgi that answered before them is gone.
  const pid_t spawner = spawner_of(p.pid());
  ASSERT_GT(spawner, 0);
  EXPECT_TRUE(eventually([&] { return children_of(spawner).size() <= 2; }, 10s))
      << children_of(spawner).size() << " children";
  ASSERT_FALSE(before_last.empty());
  EXPECT_TRUE(eventually(
      [&] {
        for (auto [kid, st] : children_of(spawner))
          if (before_last.contains(kid) && st != 'Z') return false;
        return true;
      },
      10s))
      << "a php-cgi instance of an earlier generation still runs";

  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(15s), 0) << p.err();
  EXPECT_TRUE(pid_gone(spawner));
}

// A reload that cannot bind a new listener changes nothing.
TEST(ReloadServe, AListenerThatCannotBeBoundFailsTheWholeReload) {
  temp_dir dir;
  write_site(dir);
  const auto http_port = free_port();
  const auto fcgi_port = free_port();
  write_config(dir, site_config(dir, 'a', http_port, fcgi_port));
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("listening for FastCGI", 15s)) << p.err();
  // Config "b" with a Unix socket in a folder that does not exist.
  auto bad = site_config(dir, 'b', http_port, fcgi_port);
  replace_all(bad, dir / "run/b.sock", dir / "no-such-folder/b.sock");
  write_config(dir, bad);
  auto r = run({CGIHOST_BINARY, "reload", "--pid-file", dir / "cgihost.pid"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto failed = p.wait_stderr_line("reload failed", 20s);
  ASSERT_TRUE(failed) << p.err();
  EXPECT_NE(failed->find("no-such-folder"), std::string::npos) << *failed;
  // Still config "a": its socket, its pool, no *.sh handler.
  EXPECT_TRUE(std::filesystem::exists(dir / "run/a.sock"));
  auto php = fetch(http_port, "/gen.php");
  ASSERT_TRUE(php);
  EXPECT_EQ(php->body.substr(0, 2), "a ");
  auto status = fetch(http_port, "/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->body.find("\"generation\":1,\"reloads\":0,\"reload_failures\":1"),
            std::string::npos)
      << status->body;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(15s), 0) << p.err();
}

TEST(ReloadCommand, ConfigWithoutPidFileOrInvalidSendsNothing) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("c.toml", for_this_user("listen = [\"127.0.0.1:0\"]\ndocument_root = \"site\"\n"
                                    "[identity]\nprocess = \"www-data\"\n"));
  auto r = run({CGIHOST_BINARY, "reload", "-c", dir / "c.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("names no [server] pid_file"), std::string::npos) << r.err;
  dir.write("bad.toml", "listen = 3\n");
  r = run({CGIHOST_BINARY, "reload", "-c", dir / "bad.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.toml:1:"), std::string::npos) << r.err;
  dir.write("pid", "not a pid\n");
  r = run({CGIHOST_BINARY, "reload", "--pid-file", dir / "pid"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("holds no pid"), std::string::npos) << r.err;
  r = run({CGIHOST_BINARY, "reload"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace cgihost::test
