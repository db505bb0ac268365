// Privilege separation, from outside (as root): `cgihost serve` splits off a
// spawner that alone keeps root; the process that reads the network drops to
// identity.process; every child is the spawner's; the spawner starts children
// only as the accounts the config names.

#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/load.hpp"
#include "host/app/server.hpp"
#include "host/dispatch/os_account.hpp"
#include "spawner/broker.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;

const std::string kBinary = CGIHOST_BINARY;

std::string uid_of(const char* name) {
  const passwd* pw = ::getpwnam(name);
  return pw ? std::to_string(pw->pw_uid) : "?";
}

// /proc/PID/status (or a task's) as key -> value, tabs kept.
std::map<std::string, std::string> status_of(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) value.erase(0, 1);
    out[line.substr(0, colon)] = value;
  }
  return out;
}

// The account the network process of `cgihost serve --config file` runs as.
std::optional<config::account> server_account_of(const std::filesystem::path& file) {
  auto r = config::load_file(file, config::system_load_options());
  return r.ok() ? r.value->identity.server : std::nullopt;
}

std::string comm_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

class PrivilegeSeparation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: privilege separation splits root off";
  }
};

TEST_F(PrivilegeSeparation, TheNetworkProcessDropsRootAndOnlyTheSpawnerKeepsIt) {
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/who.pl",
            "print \"Content-Type: text/plain\\n\\n\";\n"
            "print \"$< $> \", getppid(), \"\\n\";\n");
  dir.write("site/who.php",
            "<?php echo posix_getuid(), ' ', posix_geteuid(), ' ', posix_getppid();");
  ::chmod((dir / "site").c_str(), 0755);
  ::chmod((dir / "site/who.pl").c_str(), 0644);
  ::chmod((dir / "site/who.php").c_str(), 0644);
  dir.write("c.toml", R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
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
max_instances = 2
)");
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  const auto port = port_from_line(*line);
  // A request first: the server's threads all exist by then.
  auto cgi = fetch(port, "/who.pl");
  ASSERT_TRUE(cgi);
  ASSERT_EQ(cgi->status, 200) << p.err();
  auto php = fetch(port, "/who.php");
  ASSERT_TRUE(php);
  ASSERT_EQ(php->status, 200) << p.err();

  // Every thread of the network process runs as its own account, which no
  // child runs as (the config names none: the account "cgihost" when it
  // exists, else a free uid), with www-data's group to read the site, no
  // capability left and no way to gain one by exec.
  const std::string www = uid_of("www-data");
  const auto server = server_account_of(dir / "c.toml");
  ASSERT_TRUE(server);
  const std::string own = std::to_string(server->uid);
  const std::string own4 = own + "\t" + own + "\t" + own + "\t" + own;
  EXPECT_NE(own, www);
  std::size_t threads = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(p.pid()) + "/task")) {
    auto st = status_of(task.path() / "status");
    ++threads;
    EXPECT_EQ(st["Uid"], own4) << task.path();
    EXPECT_NE((" " + st["Groups"]).find(" " + std::to_string(::getpwnam("www-data")->pw_gid) + " "),
              std::string::npos)
        << st["Groups"];
    EXPECT_EQ(st["CapEff"], "0000000000000000") << task.path();
    EXPECT_EQ(st["CapPrm"], "0000000000000000") << task.path();
    EXPECT_EQ(st["NoNewPrivs"], "1") << task.path();
  }
  EXPECT_GE(threads, 2u);  // the io threads and the password verifiers included

  // Its one child is the spawner, which kept root.
  auto kids = children_of(p.pid());
  ASSERT_EQ(kids.size(), 1u);
  const pid_t spawner = kids[0].first;
  EXPECT_EQ(comm_of(spawner), "cgihost spawner");
  EXPECT_EQ(status_of("/proc/" + std::to_string(spawner) + "/status")["Uid"], "0\t0\t0\t0");

  // The children are the spawner's: CGI as the anonymous account, the
  // FastCGI instance as the process identity.
  const std::string nobody = uid_of("nobody");
  EXPECT_EQ(cgi->body, nobody + " " + nobody + " " + std::to_string(spawner) + "\n");
  EXPECT_EQ(php->body, www + " " + www + " " + std::to_string(spawner));
  // A graceful stop ends the instance (exit, not a kill) and the spawner.
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
  EXPECT_TRUE(pid_gone(spawner));
  EXPECT_NE(p.err().find("ended (exit 0)"), std::string::npos) << p.err();
  const std::string err = p.err();  // all of it, now that it has ended
  EXPECT_NE(err.find("spawner process pid " + std::to_string(spawner) + " keeps root"),
            std::string::npos)
      << err;
  EXPECT_NE(
      err.find("now runs as " + (server->name.empty() ? "" : server->name + " ") + "uid " + own),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("process identity www-data uid " + www + ", effective identity nobody uid " +
                     nobody),
            std::string::npos)
      << err;
}

// A site whose scripts try to reach the network process: kill.php (a pool
// script, impersonate = false: identity.process) and kill.pl (a CGI with
// create_process_as_user = false: identity.process too) send ?sig= to ?pid=;
// connect.php connects to the Unix socket ?path=; *.iphp go to a pool that
// impersonates (anonymous requests: identity.anonymous).
void write_reaching_site(const temp_dir& dir) {
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/kill.php",
            "<?php echo posix_kill((int)$_GET['pid'], (int)$_GET['sig']) ? 'sent' : "
            "'refused ' . posix_get_last_error();");
  dir.write("site/kill.pl",
            "my ($pid, $sig) = $ENV{QUERY_STRING} =~ /pid=(\\d+)&sig=(\\d+)/;\n"
            "print \"Content-Type: text/plain\\n\\n\";\n"
            "print kill($sig, $pid) ? 'sent' : 'refused ' . ($! + 0);\n");
  dir.write("site/connect.php",
            "<?php $s = @stream_socket_client('unix://' . $_GET['path'], $no, $str, 2);\n"
            "echo $s ? 'connected' : \"refused $str\";");
  dir.write("site/who.iphp", "<?php echo posix_geteuid();");
  ::chmod((dir / "site").c_str(), 0755);
  for (const char* f : {"kill.php", "kill.pl", "connect.php", "who.iphp"})
    ::chmod((dir / ("site/" + std::string(f))).c_str(), 0644);
  dir.write("c.toml", R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[cgi]
create_process_as_user = false
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.iphp"
module = "fastcgi"
pool = "imp"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 1
[pools.imp]
command = ["/usr/bin/php-cgi"]
max_instances = 1
impersonate = true
)");
}

TEST_F(PrivilegeSeparation, NoScriptCanStopOrKillTheNetworkProcess) {
  temp_dir dir;
  write_reaching_site(dir);
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  const auto port = port_from_line(*line);
  const std::string target = std::to_string(p.pid());
  for (int sig : {SIGSTOP, SIGKILL, SIGTERM}) {
    for (const char* script : {"/kill.php", "/kill.pl"}) {
      auto r = fetch(port, std::string(script) + "?pid=" + target + "&sig=" + std::to_string(sig));
      ASSERT_TRUE(r) << script << " signal " << sig << " left no server: " << p.err();
      EXPECT_EQ(r->status, 200) << p.err();
      EXPECT_EQ(r->body, "refused " + std::to_string(EPERM)) << script << " signal " << sig;
    }
  }
  EXPECT_EQ(status_of("/proc/" + target + "/status")["State"].substr(0, 1), "S");
  auto again = fetch(port, "/kill.php?pid=0&sig=0");  // still serving
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
}

TEST_F(PrivilegeSeparation, InstanceSocketsAreReachableByTheNetworkProcessAlone) {
  temp_dir dir;
  write_reaching_site(dir);
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  const auto port = port_from_line(*line);
  // An instance as nobody (anonymous, impersonating pool) and one as www-data.
  auto nobody = fetch(port, "/who.iphp");
  ASSERT_TRUE(nobody);
  ASSERT_EQ(nobody->status, 200) << p.err();
  EXPECT_EQ(nobody->body, uid_of("nobody"));
  ASSERT_TRUE(fetch(port, "/connect.php?path=/nonexistent"));

  const auto server = server_account_of(dir / "c.toml");
  ASSERT_TRUE(server);
  const std::string prefix = "cgihost-fcgi-" + std::to_string(p.pid()) + "-";
  std::vector<std::string> sockets;
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    if (e.path().filename().string().rfind(prefix, 0) != 0) continue;
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, server->uid) << e.path();
    EXPECT_EQ(st.st_mode & 07777, 0700u) << e.path();
    for (const auto& f : std::filesystem::directory_iterator(e.path()))
      if (f.path().extension() == ".sock") sockets.push_back(f.path());
  }
  ASSERT_GE(sockets.size(), 2u) << "an instance of each pool";
  // A pool script (identity.process) reaches neither its own pool's
  // instances nor those of another account: only cgihost sends them requests.
  for (const auto& path : sockets) {
    auto r = fetch(port, "/connect.php?path=" + path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << p.err();
    EXPECT_EQ(r->body.rfind("refused", 0), 0u) << path << ": " << r->body;
  }
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
}

TEST_F(PrivilegeSeparation,
       CheckConfigSaysWhoTheNetworkProcessIsAndWarnsOfAUsersFileScriptsCanRead) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("users.htpasswd",
            "alice:$2b$05$DWxORX8FwPCFI4IMIcObjeNOcMeXiVqdI52mPfA/hUi.YpKLdlidy\n");
  dir.write("c.toml", R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[authentication]
basic = true
users_file = "users.htpasswd"
)");
  const auto server = server_account_of(dir / "c.toml");
  ASSERT_TRUE(server);
  ::chmod((dir / "users.htpasswd").c_str(), 0644);
  auto open = run({kBinary, "check-config", "--config", dir / "c.toml"});
  EXPECT_EQ(open.exit_code, 0);
  EXPECT_EQ(open.out, "ok\n");
  EXPECT_NE(open.err.find("note: the network process will run as " +
                          (server->name.empty() ? "" : server->name + " ") + "uid " +
                          std::to_string(server->uid)),
            std::string::npos)
      << open.err;
  EXPECT_NE(open.err.find("warning: users file " + (dir / "users.htpasswd") +
                          " is readable by www-data (identity.process)"),
            std::string::npos)
      << open.err;
  EXPECT_NE(open.err.find("is readable by nobody (identity.anonymous)"), std::string::npos)
      << open.err;
  // Readable by the network process's group alone: no warning.
  ASSERT_EQ(::chown((dir / "users.htpasswd").c_str(), 0, server->gid), 0);
  ::chmod((dir / "users.htpasswd").c_str(), 0640);
  auto closed = run({kBinary, "check-config", "--config", dir / "c.toml"});
  EXPECT_EQ(closed.exit_code, 0);
  EXPECT_EQ(closed.err.find("warning"), std::string::npos) << closed.err;
}

TEST_F(PrivilegeSeparation, ASpawnerThatDiesStopsCgihostWithExitOneAndTakesItsChildren) {
  temp_dir dir;
  write_php_site(dir);
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  const pid_t php = php_instance_pid(p);
  ASSERT_GT(php, 1) << p.err();
  auto kids = children_of(p.pid());
  ASSERT_EQ(kids.size(), 1u);
  ASSERT_EQ(::kill(kids[0].first, SIGKILL), 0);  // as the out-of-memory killer would
  EXPECT_EQ(p.wait_exit(10s), 1) << p.err();
  EXPECT_NE(p.err().find("the spawner process (pid " + std::to_string(kids[0].first) +
                         ") ended: no child can start any more; stopping"),
            std::string::npos)
      << p.err();
  EXPECT_TRUE(pid_gone(php)) << "php-cgi pid " << php << " outlived its spawner";
}

TEST_F(PrivilegeSeparation, WhatTheProcessIdentityCannotReadIsSaidAtTheStart) {
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/index.html", "x");
  ::chmod((dir / "site").c_str(), 0700);  // root's alone
  dir.write("users.htpasswd",
            "alice:$2b$05$DWxORX8FwPCFI4IMIcObjeNOcMeXiVqdI52mPfA/hUi.YpKLdlidy\n");
  ::chmod((dir / "users.htpasswd").c_str(), 0600);
  dir.write("c.toml", R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[authentication]
basic = true
users_file = "users.htpasswd"
)");
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("listening on", 10s)) << p.err();
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
  const std::string err = p.err();
  const auto server = server_account_of(dir / "c.toml");
  ASSERT_TRUE(server);
  const std::string who = (server->name.empty() ? "" : server->name + " ") + "uid " +
                          std::to_string(server->uid) + " gid";
  EXPECT_NE(err.find("site: Permission denied for " + who), std::string::npos) << err;
  EXPECT_NE(err.find("users.htpasswd: read at the start, but a change will not be read until a "
                     "restart: " +
                     server->name),
            std::string::npos)
      << err;
}

TEST_F(PrivilegeSeparation, TheSpawnerStartsChildrenOnlyAsTheAccountsTheConfigNames) {
  temp_dir dir;
  config::load_options o;
  o.running_as_root = true;
  auto r = config::load_string(R"(listen = ["127.0.0.1:0"]
document_root = "."
[identity]
process = "www-data"
anonymous = "nobody"
[accounts]
alice = "daemon"
)",
                               "c.toml", dir.path(), o);
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  std::string error;
  auto accounts = host::spawn_accounts(*r.value, error);
  EXPECT_EQ(error, "");
  std::vector<std::string> names;
  for (const auto& a : accounts) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"www-data", "nobody", "daemon"}));

  auto broker = spawner::broker::start(accounts, error);
  ASSERT_TRUE(broker) << error;
  auto run_as = [&](const char* name, spawner::launch_error& e) {
    spawner::launch_spec s;
    s.program = "/usr/bin/id";
    s.argv = {"id", "-u"};
    auto account = config::lookup_system_account(name);
    if (account) s.as = spawner::resolve_identity(host::os_account(*account));
    auto c = broker->launch(s, e);
    std::string out;
    if (!c) return out;
    ::close(c->stdin_fd);
    char buf[64];
    for (int i = 0; i < 100; ++i) {  // bounded: until end of file, or 100 x 50 ms
      pollfd pfd{c->stdout_fd, POLLIN, 0};
      ::poll(&pfd, 1, 50);
      ssize_t n = ::read(c->stdout_fd, buf, sizeof buf);
      if (n == 0) break;
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(c->stdout_fd);
    ::close(c->stderr_fd);
    EXPECT_EQ(spawner::read_status(c->status_fd, 5000ms), 0);
    ::close(c->status_fd);
    return out;
  };
  spawner::launch_error e;
  EXPECT_EQ(run_as("daemon", e), uid_of("daemon") + "\n") << e.message();
  for (const char* outside : {"bin", "sys", "root"}) {
    EXPECT_EQ(run_as(outside, e), "") << outside;
    EXPECT_EQ(e.message(), std::string("spawner process: account \"") + outside +
                               "\" is not one the config allows");
  }
}

}  // namespace
}  // namespace cgihost::test
