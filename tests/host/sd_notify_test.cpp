// systemd's notification protocol (host/app/sd_notify) and the journal's
// line format (host/dispatch/logging): the parts alone, then `cgihost serve`
// from outside against a datagram socket that stands in for systemd's.

#include "host/app/sd_notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "host/dispatch/logging.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;
using host::sd_notify;

// A datagram socket bound to `name` (a path, or "@name" for the abstract
// namespace): what systemd listens on.
class fake_systemd {
 public:
  explicit fake_systemd(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    if (name[0] == '@') a.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~fake_systemd() { ::close(fd_); }
  bool bound() const { return bound_; }
  // The next datagram within `limit`, or nullopt.
  std::optional<std::string> next(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // Datagrams until one contains `needle` (within `limit`); that one, or nullopt.
  std::optional<std::string> until(const std::string& needle, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      auto d = next(left);
      if (!d) return std::nullopt;
      if (d->find(needle) != std::string::npos) return d;
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

std::string abstract_name() { return "@cgihost-test-notify-" + std::to_string(::getpid()); }

TEST(SdNotify, IsOffWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  std::string error;
  auto n = sd_notify::from_environment(error);
  EXPECT_FALSE(n.enabled());
  EXPECT_TRUE(error.empty());
  EXPECT_FALSE(n.send("READY=1"));
}

TEST(SdNotify, ARelativeNameIsAnErrorAndTheEnvironmentIsCleared) {
  ::setenv("NOTIFY_SOCKET", "relative/notify", 1);
  ::setenv("WATCHDOG_USEC", "1000000", 1);
  std::string error;
  auto n = sd_notify::from_environment(error);
  EXPECT_FALSE(n.enabled());
  EXPECT_NE(error.find("relative/notify"), std::string::npos) << error;
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
}

TEST(SdNotify, SendsToAPathSocket) {
  temp_dir dir;
  const std::string path = dir / "notify";
  fake_systemd sd(path);
  ASSERT_TRUE(sd.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  std::string error;
  auto n = sd_notify::from_environment(error);
  ASSERT_TRUE(n.enabled()) << error;
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);  // no child sees it
  EXPECT_TRUE(n.send("READY=1\nSTATUS=x"));
  EXPECT_EQ(sd.next(2s), "READY=1\nSTATUS=x");
  EXPECT_FALSE(n.watchdog());
}

TEST(SdNotify, SendsToAnAbstractSocketAndReadsTheWatchdogForThisProcessOnly) {
  const std::string name = abstract_name();
  fake_systemd sd(name);
  ASSERT_TRUE(sd.bound());
  std::string error;
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "500000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = sd_notify::from_environment(error);
  ASSERT_TRUE(n.enabled()) << error;
  EXPECT_EQ(n.watchdog(), std::chrono::microseconds(500000));
  EXPECT_TRUE(n.send("WATCHDOG=1"));
  EXPECT_EQ(sd.next(2s), "WATCHDOG=1");

  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "500000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // another process's
  auto other = sd_notify::from_environment(error);
  ASSERT_TRUE(other.enabled()) << error;
  EXPECT_FALSE(other.watchdog());
}

TEST(JournalFormat, CarriesTheSyslogPriorityAndNoTimestamp) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("t", sink);
  log.set_level(spdlog::level::trace);
  log.set_formatter(host::error_log_formatter(true));
  log.error("e");
  log.warn("w");
  log.info("i");
  log.debug("d");
  log.critical("c");
  EXPECT_EQ(out.str(),
            "<3>[error] e\n<4>[warning] w\n<6>[info] i\n<7>[debug] d\n<2>[critical] c\n");
  out.str("");
  log.set_formatter(host::error_log_formatter(false));
  log.info("i");
  EXPECT_TRUE(out.str().starts_with("20")) << out.str();  // the timestamp first
  EXPECT_NE(out.str().find(" [info] i\n"), std::string::npos) << out.str();
}

TEST(JournalFormat, OnlyWhenStderrIsTheStreamJournalStreamNames) {
  ::setenv("JOURNAL_STREAM", "1:2", 1);
  EXPECT_FALSE(host::stderr_is_journal());
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(host::stderr_is_journal());
}

const char* kSite = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[server]
threads = 2
)";

// `cgihost serve` under a stand-in for systemd: READY=1 once it listens (a
// connection is then answered), WATCHDOG=1 every half WATCHDOG_USEC, and
// STOPPING=1 on SIGTERM, then exit 0. As root, the network process has
// dropped root by then: the socket was connected before.
TEST(SdNotifyServe, ReadyWatchdogAndStopping) {
  temp_dir dir;
  dir.write("site/index.html", "hi\n");
  dir.write("c.toml", for_this_user(kSite));
  const std::string name = abstract_name() + "-serve";
  fake_systemd sd(name);
  ASSERT_TRUE(sd.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  auto ready = sd.until("READY=1", 10s);
  ASSERT_TRUE(ready) << p.err();
  EXPECT_NE(ready->find("MAINPID=" + std::to_string(p.pid())), std::string::npos) << *ready;
  auto at = ready->find("STATUS=listening on http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << *ready;
  const auto port = port_from_line(ready->substr(at));
  auto r = fetch(port, "/index.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Pings keep coming (every 100 ms): three within 2 s.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sd.until("WATCHDOG=1", 2s)) << "ping " << i << p.err();
  ASSERT_TRUE(p.signal(SIGTERM));
  auto stopping = sd.until("STOPPING=1", 10s);
  ASSERT_TRUE(stopping) << p.err();
  EXPECT_NE(stopping->find("STATUS=stopping"), std::string::npos) << *stopping;
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
}

// SIGHUP under systemd: RELOADING=1 with MONOTONIC_USEC, then READY=1 with
// the outcome in STATUS=, for a good config and for one that does not load.
TEST(SdNotifyServe, ReloadSaysReloadingThenReadyWithItsOutcome) {
  temp_dir dir;
  dir.write("site/index.html", "hi\n");
  dir.write("c.toml", for_this_user(kSite));
  // The network process (its own account by then) loads the config again:
  // the site must be readable to it, as it must to serve it.
  ::chmod(dir.path().c_str(), 0755);
  ::chmod((dir / "site").c_str(), 0755);
  const std::string name = abstract_name() + "-reload";
  fake_systemd sd(name);
  ASSERT_TRUE(sd.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(sd.until("READY=1", 10s)) << p.err();
  ASSERT_TRUE(p.signal(SIGHUP));
  auto reloading = sd.until("RELOADING=1", 10s);
  ASSERT_TRUE(reloading) << p.err();
  EXPECT_NE(reloading->find("MONOTONIC_USEC="), std::string::npos) << *reloading;
  auto ready = sd.until("READY=1", 10s);
  ASSERT_TRUE(ready) << p.err();
  EXPECT_NE(ready->find("STATUS=reloaded: generation 2"), std::string::npos) << *ready;
  dir.write("c.toml", "listen = [\n");
  ASSERT_TRUE(p.signal(SIGHUP));
  ASSERT_TRUE(sd.until("RELOADING=1", 10s)) << p.err();
  ready = sd.until("READY=1", 10s);
  ASSERT_TRUE(ready) << p.err();
  EXPECT_NE(ready->find("STATUS=reload failed"), std::string::npos) << *ready;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << p.err();
}

// No NOTIFY_SOCKET: nothing is sent and nothing is said about it.
TEST(SdNotifyServe, WithoutSystemdNothingChanges) {
  temp_dir dir;
  dir.write("site/index.html", "hi\n");
  dir.write("c.toml", for_this_user(kSite));
  ::unsetenv("NOTIFY_SOCKET");
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  ASSERT_TRUE(p.wait_stderr_line("listening on", 10s)) << p.err();
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_EQ(p.err().find("systemd"), std::string::npos) << p.err();
  EXPECT_EQ(p.err().find("<6>"), std::string::npos) << p.err();
}

// Under systemd with stderr connected to the journal, each error-log line
// starts with its syslog priority and has no timestamp of its own.
TEST(SdNotifyServe, StderrThatIsTheJournalGetsPriorityPrefixes) {
  temp_dir dir;
  dir.write("site/index.html", "hi\n");
  dir.write("c.toml", for_this_user(kSite));
  // JOURNAL_STREAM names the device and inode of the very stderr cgihost gets.
  child_process p({"/bin/sh", "-c",
                   "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" serve "
                   "--config \"$1\"",
                   CGIHOST_BINARY, dir / "c.toml"});
  auto line = p.wait_stderr_line("listening on", 10s);
  ASSERT_TRUE(line) << p.err();
  EXPECT_TRUE(line->starts_with("<6>[info] listening on")) << *line;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0);
}

}  // namespace
}  // namespace cgihost::test
