// The cgihost binary from outside: its command-line contract, exit codes,
// check-config output, and the graceful stop on signals.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "support/test_client.hpp"
#include "support/test_server.hpp"
#include "support/upstream_support.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;

const std::string kBinary = CGIHOST_BINARY;
const std::string kSource = CGIHOST_SOURCE_DIR;

TEST(Cli, VersionAndHelpExitZero) {
  auto v = run({kBinary, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(std::regex_search(v.out, std::regex(R"(^cgihost \d+\.\d+\.\d+)"))) << v.out;
  auto h = run({kBinary, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* sub : {"serve", "dev", "check-config"})
    EXPECT_NE(h.out.find(sub), std::string::npos) << h.out;
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{kBinary},
                                               {kBinary, "serve"},
                                               {kBinary, "frobnicate"},
                                               {kBinary, "serve", "--nope"},
                                               {kBinary, "check-config"},
                                               {kBinary, "dev", ".", "--listen", "nowhere"}}) {
    auto r = run(args);
    std::string joined;
    for (auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << joined << ":\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
}

TEST(Cli, CheckConfigSaysOkForTheSample) {
  auto r = run({kBinary, "check-config", "--config", kSource + "/samples/cgihost.toml"});
  auto s = run({kBinary, "check-config", "-c", kSource + "/samples/cgihost.toml"});
  if (::geteuid() != 0) {
    // The sample runs children as www-data and nobody: only root can.
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("cgihost.toml:10:11: identity.process: account \"www-data\""),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("needs cgihost to run as root"), std::string::npos) << r.err;
    return;
  }
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_EQ(s.exit_code, 0) << s.err;
}

TEST(Cli, CheckConfigPrintsEveryProblemAsFileLineCol) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("bad.toml", R"(listen = ["127.0.0.1:99999"]
document_root = "site"
[identity]
process = "root"
[pools.php]
comand = ["/usr/bin/php-cgi"]
[cgi]
timeout = "forever"
)");
  auto r = run({kBinary, "check-config", "--config", dir / "bad.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const std::string file = dir / "bad.toml";
  ASSERT_EQ(lines.size(), 5u) << r.err;
  EXPECT_EQ(lines[0].rfind(file + ":1:11: listen: port 99999 out of range", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind(file + ":4:11: identity.process: account \"root\" resolves to root", 0),
            0u)
      << lines[1];
  EXPECT_EQ(lines[2].rfind(file + ":5:1: pools.php: missing command", 0), 0u) << lines[2];
  EXPECT_EQ(lines[3], file + ":6:1: unknown key \"pools.php.comand\"; did you mean \"command\"?");
  EXPECT_EQ(lines[4].rfind(file + ":8:11: cgi.timeout: invalid duration \"forever\"", 0), 0u)
      << lines[4];
}

TEST(Cli, CheckConfigOfAMissingFileFails) {
  auto r = run({kBinary, "check-config", "--config", "/nonexistent/cgihost.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/cgihost.toml:1:1: cannot read config"), std::string::npos)
      << r.err;
}

TEST(Cli, ServeRefusesAnInvalidConfigBeforeBinding) {
  temp_dir dir;
  dir.write(
      "c.toml",
      "listen = [\"127.0.0.1:0\"]\ndocument_root = \"nope\"\n[identity]\nprocess = \"www-data\"\n");
  auto r = run({kBinary, "serve", "--config", dir / "c.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(":2:17: document_root:"), std::string::npos) << r.err;
}

TEST(Cli, ServeReportsAnAddressInUse) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  child_process first({kBinary, "dev", dir / "site", "--listen", "127.0.0.1:0"});
  auto line = first.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << first.err();
  std::string addr = "127.0.0.1:" + std::to_string(port_from_line(*line));
  auto second = run({kBinary, "dev", dir / "site", "--listen", addr});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("cannot listen on " + addr), std::string::npos) << second.err;
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait_exit(10s), 0);
}

TEST(Cli, DevModeServesTheSampleSite) {
  child_process p({kBinary, "dev", kSource + "/samples/site", "--listen", "127.0.0.1:0"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  auto r = fetch(port_from_line(*line), "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("cgihost works"), std::string::npos);
  // In dev mode, and only there, a 502 page shows the diagnosis.
  auto broken = fetch(port_from_line(*line), "/broken-no-colon.pl");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 502);
  EXPECT_NE(broken->body.find("cgihost dev mode: why"), std::string::npos) << broken->body;
  EXPECT_NE(broken->body.find("script: /broken-no-colon.pl"), std::string::npos) << broken->body;
  p.signal(SIGINT);
  EXPECT_EQ(p.wait_exit(10s), 0);
  // The access log went to stdout, with the request id.
  EXPECT_NE(p.out().find("\"GET / HTTP/1.1\" 200"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find(" rid="), std::string::npos);
}

TEST(Cli, SigtermLetsTheRequestInFlightFinishThenExitsZero) {
  temp_dir dir;
  std::string big(8 * 1024 * 1024, 'z');
  dir.write("site/big.bin", big);
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[server]
grace_period = "10s"
)"));
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  auto port = port_from_line(*line);
  connection c(port);
  c.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(c.wait_bytes(1));  // the response has started
  ASSERT_TRUE(p.signal(SIGTERM));
  ASSERT_TRUE(p.wait_stderr_line("stopping: listeners closed", 10s)) << p.err();
  // New connections are refused once the listener is closed.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
  // The download in flight completes.
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == big);
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_NE(p.err().find("stopped"), std::string::npos) << p.err();
}

TEST(Cli, FastcgiInstancesEndWithCgihostEvenWhenItIsKilled) {
  temp_dir dir;
  write_php_site(dir);
  child_process p({kBinary, "serve", "--config", dir / "c.toml"});
  const pid_t php = php_instance_pid(p);
  ASSERT_GT(php, 1) << p.err();
  ASSERT_EQ(::kill(php, 0), 0);    // running
  ASSERT_TRUE(p.signal(SIGKILL));  // no graceful stop: the instance must notice by itself
  p.wait_exit(10s);
  EXPECT_TRUE(pid_gone(php)) << "php-cgi pid " << php << " outlived cgihost";

  // Its socket folder could not be removed by it; the next cgihost removes
  // it at its first start of an instance, and its own at its end.
  auto socket_dirs_of = [](pid_t pid) {
    std::vector<std::string> out;
    const std::string prefix = "cgihost-fcgi-" + std::to_string(pid) + "-";
    for (const auto& e : std::filesystem::directory_iterator("/tmp"))
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
    return out;
  };
  EXPECT_EQ(socket_dirs_of(p.pid()).size(), 1u);
  child_process next({kBinary, "serve", "--config", dir / "c.toml"});
  EXPECT_GT(php_instance_pid(next), 1) << next.err();
  EXPECT_TRUE(socket_dirs_of(p.pid()).empty());
  EXPECT_EQ(socket_dirs_of(next.pid()).size(), 1u);
  ASSERT_TRUE(next.signal(SIGTERM));
  EXPECT_EQ(next.wait_exit(10s), 0) << next.err();
  EXPECT_TRUE(socket_dirs_of(next.pid()).empty());
}

// A loopback port bound by this process (not listening): no one else can
// bind it while this lives, and a connection to it is refused.
class held_port {
 public:
  held_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~held_port() {
    if (fd_ >= 0) ::close(fd_);
  }
  held_port(const held_port&) = delete;
  held_port& operator=(const held_port&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A static site whose config listens on `config_port`.
void write_static_site(const temp_dir& dir, std::uint16_t config_port) {
  dir.write("site/index.html", "served by --listen\n");
  dir.write("c.toml", for_this_user("listen = [\"127.0.0.1:" + std::to_string(config_port) +
                                    R"("]
document_root = "site"
[identity]
process = "www-data"
)"));
}

TEST(CliServeListen, ReplacesTheConfigsListenAddresses) {
  // The config's port is taken (by us): had cgihost used it, it would have
  // failed with "cannot listen on".
  held_port config_port;
  ASSERT_NE(config_port.port(), 0);
  temp_dir dir;
  write_static_site(dir, config_port.port());
  child_process p(
      {kBinary, "serve", "-c", dir / "c.toml", "--listen", "127.0.0.1:0", "--listen", "[::1]:0"});
  auto v4 = p.wait_stderr_line("listening on http://127.0.0.1:", 10s);
  ASSERT_TRUE(v4) << p.err();
  auto v6 = p.wait_stderr_line("listening on http://[::1]:", 10s);
  ASSERT_TRUE(v6) << p.err();
  const auto port = port_from_line(*v4);
  EXPECT_NE(port, config_port.port());
  auto r = fetch(port, "/index.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "served by --listen\n");
  connection c6(port_from_line(*v6), true);
  c6.send("GET /index.html HTTP/1.1\r\nHost: [::1]\r\n\r\n");
  auto r6 = c6.read_response();
  ASSERT_TRUE(r6);
  EXPECT_EQ(r6->status, 200);
  EXPECT_FALSE(accepts(config_port.port()));
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
  EXPECT_EQ(p.err().find("127.0.0.1:" + std::to_string(config_port.port())), std::string::npos)
      << p.err();
}

TEST(CliServeListen, TakesAUnixSocketAsTheConfigsListenDoes) {
  held_port config_port;
  ASSERT_NE(config_port.port(), 0);
  temp_dir dir;
  write_static_site(dir, config_port.port());
  const std::string sock = dir / "http.sock";
  child_process p({kBinary, "serve", "-c", dir / "c.toml", "--listen", "unix:" + sock});
  ASSERT_TRUE(p.wait_stderr_line("listening on unix:" + sock, 10s)) << p.err();
  const std::string got = unix_socket_exchange(
      sock, "GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("\r\n\r\nserved by --listen\n"), std::string::npos) << got;
  EXPECT_FALSE(accepts(config_port.port()));
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
}

TEST(CliServeListen, WithoutItTheConfigsListenCounts) {
  held_port config_port;
  ASSERT_NE(config_port.port(), 0);
  temp_dir dir;
  write_static_site(dir, config_port.port());
  auto r = run({kBinary, "serve", "-c", dir / "c.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(config_port.port())),
            std::string::npos)
      << r.err;
}

TEST(CliServeListen, ABadValueIsAUsageErrorNamingTheOption) {
  temp_dir dir;
  write_static_site(dir, 8080);
  const std::string config = dir / "c.toml";
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--listen", "nowhere"},
       "cgihost: --listen: invalid listen address \"nowhere\" (use HOST:PORT with a numeric "
       "address, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\") (see cgihost --help)\n"},
      // IIS did not expand it: started by hand with the web.config's arguments.
      {{"--listen", "127.0.0.1:%HTTP_PLATFORM_PORT%"},
       "cgihost: --listen: invalid listen address \"127.0.0.1:%HTTP_PLATFORM_PORT%\""},
      {{"--listen=127.0.0.1:70000"},
       "cgihost: --listen: port 70000 out of range in \"127.0.0.1:70000\""},
      {{"--listen", "localhost:8080"}, "cgihost: --listen: invalid listen address"},
      {{"--listen", "127.0.0.1:8081", "--listen", "127.0.0.1:8081"},
       "cgihost: --listen: 127.0.0.1:8081 is given twice (see cgihost --help)\n"},
      {{"--listen", "unix:/run/x.sock", "--listen", "unix:/run/x.sock"},
       "cgihost: --listen: unix:/run/x.sock is given twice (see cgihost --help)\n"},
      {{"--listen", "unix:relative.sock"},
       "cgihost: --listen: invalid listen address \"unix:relative.sock\" (unix: needs an "
       "absolute path"},
      {{"--listen"}, "cgihost: --listen: "},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{kBinary, "serve", "-c", config};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << r.err;
    EXPECT_EQ(r.err.rfind(message, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(CliServeListen, TheConfigIsStillCheckedAndOtherCommandsHaveNoListen) {
  temp_dir dir;
  dir.write("c.toml", "listen = [\"127.0.0.1:0\"]\ndocument_root = \"nope\"\n");
  auto r = run({kBinary, "serve", "-c", dir / "c.toml", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(":2:17: document_root:"), std::string::npos) << r.err;
  for (const char* cmd : {"check-config", "try"}) {
    auto other = run({kBinary, cmd, "-c", dir / "c.toml", "--listen", "127.0.0.1:0", "/"});
    EXPECT_EQ(other.exit_code, 2) << cmd << ": " << other.err;
    EXPECT_NE(other.err.find("--listen"), std::string::npos) << other.err;
  }
}

TEST(CliIisToken, IsAConfigErrorAtItsLineOffWindows) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[authentication]
iis_token = true
)"));
  auto r = run({kBinary, "check-config", "-c", dir / "c.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, (dir / "c.toml") +
                       ":6:13: authentication.iis_token: only on Windows, where IIS's "
                       "HttpPlatformHandler forwards a token handle\n");
  dir.write("off.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[authentication]
iis_token = false
)"));
  auto off = run({kBinary, "check-config", "-c", dir / "off.toml"});
  EXPECT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, "ok\n");
}

TEST(CliSpawnerService, IsAConfigErrorAtItsLineOffWindows) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
spawner_service = "cgihost"
)"));
  auto r = run({kBinary, "check-config", "-c", dir / "c.toml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, (dir / "c.toml") +
                       ":5:19: identity.spawner_service: only on Windows, where the privileged "
                       "spawner is a service (cgihost service install)\n");
}

// `cgihost service ...` (install, uninstall, run) exists only in the Windows
// build: elsewhere it is an unknown command, a usage error.
TEST(CliSpawnerService, TheServiceCommandIsUnknownOffWindows) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{kBinary, "service", "install", "-c", "x.toml"},
        std::vector<std::string>{kBinary, "service"}}) {
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("unknown command \"service\""), std::string::npos) << r.err;
  }
}

// `cgihost password` keeps DPAPI-protected logon passwords: Windows only
// (tests/spawner/windows_password_test.cpp runs it under Wine).
TEST(CliPassword, IsWindowsOnly) {
  temp_dir dir;
  dir.write("site/index.html", "x");
  dir.write("c.toml", "listen = [\"127.0.0.1:0\"]\ndocument_root = \"site\"\n");
  for (std::vector<std::string> action :
       {std::vector<std::string>{"set", "-c", dir / "c.toml", "www-data"},
        std::vector<std::string>{"remove", "-c", dir / "c.toml", "www-data"},
        std::vector<std::string>{"list", "-c", dir / "c.toml"}}) {
    std::vector<std::string> argv{kBinary, "password"};
    argv.insert(argv.end(), action.begin(), action.end());
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 1) << action[0];
    EXPECT_EQ(r.err.rfind("cgihost: password: Windows only: ", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto usage = run({kBinary, "password", "set", "-c", dir / "c.toml"});
  EXPECT_EQ(usage.exit_code, 2) << "ACCOUNT is required: " << usage.err;
}

// try --explain says how a CGI child starts and with which limits, in POSIX
// words (tests/windows/cli_windows_test.cpp checks the Windows ones).
TEST(CliExplain, SaysHowACgiChildStartsAndItsRlimits) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching accounts needs root";
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/cgi-bin/a.pl",
            "#!/usr/bin/perl\nprint \"Content-Type: text/plain\\n\\nhi\\n\";\n");
  ::chmod((dir / "site/cgi-bin/a.pl").c_str(), 0755);
  dir.write("c.toml", R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[cgi]
max_processes = 4
max_address_space = 268435456
[[handlers]]
match = "/cgi-bin/*"
module = "cgi"
)");
  auto r = run({kBinary, "try", "-c", dir / "c.toml", "--explain", "/cgi-bin/a.pl"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("== start\nstart: in the child setgroups, setgid, setuid to nobody, then "
                       "exec\nrlimits: RLIMIT_AS 268435456 bytes, RLIMIT_NPROC 4\n"),
            std::string::npos)
      << r.out;
}

// try --explain names a pool's max_instances as resolved: 0 is one per core.
TEST(CliExplain, ShowsMaxInstancesZeroResolvedToOnePerCore) {
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/x.php", "<?php echo 1;");
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 0
)"));
  auto r = run({kBinary, "try", "-c", dir / "c.toml", "--explain", "/x.php"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_NE(r.out.find("max_instances = " + std::to_string(cores) +
                       " (0 in the config: one per core) ([pools.php])"),
            std::string::npos)
      << r.out;
}

// A config over a scratch site with a good and a broken Perl script.
struct try_site {
  temp_dir dir;
  std::string config;
  try_site() {
    ::chmod(dir.path().c_str(), 0755);
    dir.write(
        "site/good.pl",
        "print \"Content-Type: text/plain\\n\\nok $ENV{QUERY_STRING} $ENV{REMOTE_USER}\\n\";\n");
    dir.write("site/bad.pl",
              "print STDERR \"about to fail\\n\"; print \"no headers here\\n\\n\";\n");
    dir.write("site/post.pl",
              "read(STDIN, my $b, $ENV{CONTENT_LENGTH}); print \"Content-Type: "
              "text/plain\\n\\n[$b] $ENV{HTTP_X_TEST}\";\n");
    for (const char* f : {"site", "site/good.pl", "site/bad.pl", "site/post.pl"})
      ::chmod((dir / f).c_str(), 0755);
    dir.write("data.txt", "posted body");
    dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:8080"]
document_root = "site"
[identity]
process = "www-data"
[accounts]
alice = "www-data"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
)"));
    config = dir / "c.toml";
  }
};

TEST(CliTry, ShowsEnvironmentOutputAndVerdictOfAGoodScript) {
  try_site s;
  auto r = run({kBinary, "try", "--config", s.config, "--user", "alice", "/good.pl?x=1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* want :
       {"== environment\n", "QUERY_STRING=x=1\n", "REMOTE_USER=alice\n", "SCRIPT_NAME=/good.pl\n",
        "== stdout (", "ok x=1 alice\n", "== exit\nexit 0\n",
        "== verdict of the strict parser\n200 OK (document)", "== the client would get\n200 OK\n",
        ::geteuid() == 0 ? "authenticated alice -> account www-data"
                         : "authenticated alice -> cgihost's own account uid "})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
}

TEST(CliTry, ExplainsABrokenScriptAndExitsOne) {
  try_site s;
  auto r = run({kBinary, "try", "-c", s.config, "http://example.com/bad.pl"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("== stderr (14 bytes)\nabout to fail\n"), std::string::npos) << r.out;
  EXPECT_NE(
      r.out.find(
          "502 Bad Gateway: cgi.header.no_colon: header line without a colon at line 1 (byte 0): "
          "\"no headers here\""),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("HTTP_HOST=example.com\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("== exit\nexit 0\n"), std::string::npos) << r.out;
}

TEST(CliTry, SendsMethodHeadersAndData) {
  try_site s;
  auto r = run({kBinary, "try", "-c", s.config, "--method", "POST", "--header", "X-Test: yes",
                "--data", "@" + s.dir / "data.txt", "/post.pl"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[posted body] yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("REQUEST_METHOD=POST\n"), std::string::npos);
  EXPECT_NE(r.out.find("CONTENT_LENGTH=11\n"), std::string::npos);
  auto bad = run({kBinary, "try", "-c", s.config, "--header", "nocolon", "/good.pl"});
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(CliTry, ExplainPrintsTheDecisionChainAndEachCheckWithoutRunningAnything) {
  try_site site;
  site.dir.write("site/admin/tool.pl", "print \"Content-Type: text/plain\\n\\nadmin\\n\";\n");
  site.dir.write("site/secret.pl", "print \"Content-Type: text/plain\\n\\nsecret\\n\";\n");
  ::chmod((site.dir / "site/admin").c_str(), 0755);
  ::chmod((site.dir / "site/admin/tool.pl").c_str(), 0644);
  ::chmod((site.dir / "site/secret.pl").c_str(), 0600);  // owner only
  site.dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:8080"]
document_root = "site"
[identity]
process = "www-data"
[accounts]
alice = "www-data"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[locations]]
prefix = "/admin/"
create_process_as_user = false
)"));
  auto alice =
      run({kBinary, "try", "--config", site.config, "--user", "alice", "--explain", "/good.pl"});
  EXPECT_EQ(alice.exit_code, 0) << alice.out << alice.err;
  EXPECT_NE(alice.out.find("authenticated name: alice"), std::string::npos) << alice.out;
  EXPECT_NE(alice.out.find("create_process_as_user = true (from [cgi])"), std::string::npos)
      << alice.out;
  EXPECT_NE(alice.out.find("pass  script inside document_root"), std::string::npos) << alice.out;
  EXPECT_EQ(alice.out.find("== command"), std::string::npos) << alice.out;  // nothing ran
  EXPECT_NE(alice.out.find(::geteuid() == 0 ? "would run as www-data uid"
                                            : "would run as uid " + std::to_string(::geteuid())),
            std::string::npos)
      << alice.out;

  auto admin = run({kBinary, "try", "--config", site.config, "--explain", "/admin/tool.pl"});
  EXPECT_EQ(admin.exit_code, 0) << admin.out;
  EXPECT_NE(
      admin.out.find("create_process_as_user = false (from [[locations]] prefix \"/admin/\")"),
      std::string::npos)
      << admin.out;
  EXPECT_NE(admin.out.find("-> the process identity"), std::string::npos) << admin.out;

  auto unmapped =
      run({kBinary, "try", "--config", site.config, "--user", "mallory", "--explain", "/good.pl"});
  EXPECT_EQ(unmapped.exit_code, 1);
  EXPECT_NE(unmapped.out.find("FAIL  the name maps to an OS account"), std::string::npos)
      << unmapped.out;

  if (::geteuid() == 0) {  // then the script's mode is judged for the account that would run it
    auto secret = run({kBinary, "try", "--config", site.config, "--explain", "/secret.pl"});
    EXPECT_EQ(secret.exit_code, 1) << secret.out;
    EXPECT_NE(secret.out.find("FAIL  readable by nobody: nobody uid"), std::string::npos)
        << secret.out;
    EXPECT_NE(secret.out.find("-> 403"), std::string::npos) << secret.out;
  }
  auto escape = run({kBinary, "try", "--config", site.config, "--explain", "/nothing.pl"});
  EXPECT_EQ(escape.exit_code, 1);
  EXPECT_NE(escape.out.find("FAIL  script inside document_root"), std::string::npos) << escape.out;
}

// For a static file, --explain says whose right to read is judged and the verdict.
TEST(CliTry, ExplainJudgesAStaticFileForTheRequestsAccount) {
  try_site site;
  site.dir.write("site/notes.txt", "notes\n");
  ::chmod((site.dir / "site/notes.txt").c_str(), 0600);
  if (::geteuid() == 0) {
    const passwd* www = ::getpwnam("www-data");
    ASSERT_NE(www, nullptr);
    ASSERT_EQ(::chown((site.dir / "site/notes.txt").c_str(), www->pw_uid, www->pw_gid), 0);
  }
  auto anon = run({kBinary, "try", "--config", site.config, "--explain", "/notes.txt"});
  auto alice =
      run({kBinary, "try", "--config", site.config, "--user", "alice", "--explain", "/notes.txt"});
  EXPECT_EQ(alice.exit_code, 0) << alice.out;
  EXPECT_NE(alice.out.find("pass  file inside document_root"), std::string::npos) << alice.out;
  if (::geteuid() == 0) {
    EXPECT_EQ(anon.exit_code, 1) << anon.out;
    EXPECT_NE(anon.out.find("decision: static file, anonymous -> identity.anonymous -> account "
                            "nobody"),
              std::string::npos)
        << anon.out;
    EXPECT_NE(anon.out.find("FAIL  readable by nobody: nobody uid"), std::string::npos) << anon.out;
    EXPECT_NE(anon.out.find("-> 403"), std::string::npos) << anon.out;
    EXPECT_NE(alice.out.find("pass  readable by www-data"), std::string::npos) << alice.out;
    EXPECT_NE(alice.out.find("would be served: /notes.txt (read for www-data)"), std::string::npos)
        << alice.out;
  } else {  // one user: being able to open it is the check
    EXPECT_EQ(anon.exit_code, 0) << anon.out;
    EXPECT_NE(anon.out.find("no account to judge: cgihost is not root"), std::string::npos)
        << anon.out;
  }
}

// try and try --explain say what the server answers for a filtered path.
TEST(CliTry, AFilteredPathIsRefusedWithItsRule) {
  try_site site;
  site.dir.write("site/.env", "DB_PASSWORD=x\n");
  auto explain = run({kBinary, "try", "--config", site.config, "--explain", "/%2eenv"});
  EXPECT_EQ(explain.exit_code, 1) << explain.out;
  EXPECT_NE(
      explain.out.find("request filtering refuses the path before any handler or the file "
                       "system: filter.dot_segment: segment \".env\" begins with a dot -> 404"),
      std::string::npos)
      << explain.out;
  auto backup = run({kBinary, "try", "--config", site.config, "--explain", "/good.pl~"});
  EXPECT_EQ(backup.exit_code, 1) << backup.out;
  EXPECT_NE(backup.out.find("filter.denied_extension"), std::string::npos) << backup.out;
  auto tried = run({kBinary, "try", "--config", site.config, "/.env"});
  EXPECT_EQ(tried.exit_code, 0) << tried.out;  // a 404 is below 500
  EXPECT_NE(tried.out.find("refused by request filtering: filter.dot_segment"), std::string::npos)
      << tried.out;
  EXPECT_NE(tried.out.find("== the client would get\n404 Not Found"), std::string::npos)
      << tried.out;
  EXPECT_EQ(tried.out.find("DB_PASSWORD"), std::string::npos) << tried.out;
}

}  // namespace
}  // namespace cgihost::test
