// The launcher and the child handle with real processes.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "spawner/broker.hpp"
#include "spawner/child.hpp"
#include "spawner/launch.hpp"
#include "spawner/reaper.hpp"
#include "support/eventually.hpp"

namespace cgihost::spawner {
namespace {
using namespace std::chrono_literals;

launch_spec sh(const std::string& script) {
  launch_spec s;
  s.program = "/bin/sh";
  s.argv = {"sh", "-c", script};
  s.env = {"PATH=/usr/bin:/bin"};
  return s;
}

// Reads a pipe to its end (bounded by 10 s).
std::string read_all(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

struct ran {
  std::string out, err;
  int status = -1;
};

ran run(const launch_spec& spec) {
  launch_error e;
  auto c = launch(spec, e);
  EXPECT_TRUE(c) << e.message();
  ran r;
  if (!c) return r;
  ::close(c->stdin_fd);
  r.out = read_all(c->stdout_fd);
  r.err = read_all(c->stderr_fd);
  ::close(c->stdout_fd);
  ::close(c->stderr_fd);
  ::waitpid(c->pid, &r.status, 0);
  return r;
}

TEST(Launch, RunsTheProgramWithItsPipes) {
  auto r = run(sh("read line; echo \"got $line\"; echo oops >&2; exit 3"));
  EXPECT_EQ(r.out, "got \n");  // stdin was closed: read gets nothing
  EXPECT_EQ(r.err, "oops\n");
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 3);
}

TEST(Launch, TheChildGetsOnlyTheGivenEnvironment) {
  launch_spec s;
  s.program = "/usr/bin/env";
  s.argv = {"env"};
  s.env = {"A=1", "B=two words"};
  EXPECT_EQ(run(s).out, "A=1\nB=two words\n");
}

TEST(Launch, WorkingDirectoryAndProcessGroup) {
  launch_spec s = sh("pwd; ps -o pgid= -p $$ | tr -d ' '; echo $$");
  s.working_dir = "/usr/share";
  auto r = run(s);
  std::istringstream in(r.out);
  std::string pwd, pgid, pid;
  in >> pwd >> pgid >> pid;
  EXPECT_EQ(pwd, "/usr/share");
  EXPECT_EQ(pgid, pid);  // it leads its own process group
}

TEST(Launch, NoDescriptorOfTheHostLeaks) {
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  ASSERT_EQ(::dup2(leaked, 100), 100);
  auto r = run(sh("ls /proc/$$/fd"));
  ::close(100);
  ::close(leaked);
  std::istringstream in(r.out);
  std::vector<std::string> fds;
  for (std::string fd; in >> fd;) fds.push_back(fd);
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << r.out;
}

TEST(Launch, SignalsAreResetForTheChild) {
  // The host ignores SIGPIPE; a script must not inherit that.
  auto old = std::signal(SIGPIPE, SIG_IGN);
  auto r = run(sh("grep -E '^SigIgn' /proc/$$/status"));
  std::signal(SIGPIPE, old);
  EXPECT_EQ(r.out, "SigIgn:\t0000000000000000\n");
}

TEST(Launch, NoInputGivesTheChildDevNullAndNoPipe) {
  launch_spec s = sh("cat; readlink /proc/$$/fd/0");
  s.no_input = true;
  launch_error e;
  auto c = launch(s, e);
  ASSERT_TRUE(c) << e.message();
  EXPECT_EQ(c->stdin_fd, no_handle);
  EXPECT_EQ(read_all(c->stdout_fd), "/dev/null\n");  // cat read its end at once
  ::close(c->stdout_fd);
  ::close(c->stderr_fd);
  int status = -1;
  ::waitpid(c->pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Launch, OurEndsAreNonBlockingTheChildsAreNot) {
  launch_spec s = sh("for f in 0 1 2; do grep '^flags' /proc/$$/fdinfo/$f; done");
  launch_error e;
  auto c = launch(s, e);
  ASSERT_TRUE(c) << e.message();
  for (int fd : {c->stdin_fd, c->stdout_fd, c->stderr_fd})
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK) << fd;
  ::close(c->stdin_fd);
  std::istringstream in(read_all(c->stdout_fd));
  ::close(c->stdout_fd);
  ::close(c->stderr_fd);
  ::waitpid(c->pid, nullptr, 0);
  int n = 0;
  for (std::string word, octal; in >> word >> octal; ++n)
    EXPECT_EQ(std::stoul(octal, nullptr, 8) & O_NONBLOCK, 0u) << "fd " << n << ": " << octal;
  EXPECT_EQ(n, 3);
}

TEST(Launch, ResourceLimitsApply) {
  launch_spec s = sh("ulimit -n; ulimit -t");
  s.limits.open_files = 64;
  s.limits.cpu_seconds = 7;
  EXPECT_EQ(run(s).out, "64\n7\n");
}

TEST(Launch, AMissingProgramIsAnErrorWithItsStep) {
  launch_spec s;
  s.program = "/nonexistent/program";
  s.argv = {"program"};
  launch_error e;
  EXPECT_FALSE(launch(s, e));
  EXPECT_EQ(e.step, launch_step::exec);
  EXPECT_EQ(e.code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(e.message(), "execve: No such file or directory");

  s = sh("true");
  s.working_dir = "/nonexistent/folder";
  EXPECT_FALSE(launch(s, e));
  EXPECT_EQ(e.step, launch_step::chdir);
}

// Pure, so checked here too; tests/spawner/windows_launch_test.cpp splits
// them back with CommandLineToArgvW and a real child's C runtime under Wine.
TEST(Launch, WindowsCommandLinesQuoteAsCommandLineToArgvWSplits) {
  auto line = [](std::vector<std::string> argv) {
    return windows_command_line(argv).value_or("?");
  };
  EXPECT_EQ(line({"a.exe", "plain", "two words", ""}), "a.exe plain \"two words\" \"\"");
  EXPECT_EQ(line({"a.exe", "say \"hi\""}), "a.exe \"say \\\"hi\\\"\"");
  // Backslashes are doubled only before a quote, the closing one included.
  EXPECT_EQ(line({"a.exe", "C:\\dir\\", "C:\\a b\\"}), "a.exe C:\\dir\\ \"C:\\a b\\\\\"");
  EXPECT_EQ(line({"C:\\Program Files\\x.exe", "tab\there"}),
            "\"C:\\Program Files\\x.exe\" \"tab\there\"");
  EXPECT_FALSE(windows_command_line({}));
  EXPECT_FALSE(windows_command_line({"a\"b.exe"}));  // argv[0] cannot hold a quote
  EXPECT_FALSE(windows_command_line({"a.exe", std::string("nul\0here", 8)}));
}

TEST(Launch, NeverRunsAChildAsRoot) {
  launch_spec s = sh("id -u");
  s.as = identity{"root", uid{0}, gid{0}, {}, "/root"};
  launch_error e;
  EXPECT_FALSE(launch(s, e));
  EXPECT_EQ(e.step, launch_step::setuid);
}

TEST(Launch, SwitchesToTheGivenIdentity) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch accounts";
  auto nobody = lookup_account("nobody");
  ASSERT_TRUE(nobody);
  auto id = resolve_identity(*nobody);
  ASSERT_TRUE(id);
  launch_spec s =
      sh("id -u; id -g; id -G; grep NoNewPrivs /proc/$$/status; echo \"$HOME $USER $LOGNAME\"");
  s.as = *id;
  auto r = run(s);
  std::string gid = std::to_string(nobody->gid.value);
  EXPECT_EQ(r.out, std::to_string(nobody->uid.value) + "\n" + gid + "\n" + gid +
                       "\nNoNewPrivs:\t1\n" + nobody->home + " nobody nobody\n")
      << r.err;
}

// Runs a coroutine on a fresh io_context to its end.
template <class F>
auto run_async(F f) {
  asio::io_context ctx;
  auto fut = asio::co_spawn(ctx, f(ctx.get_executor()), asio::use_future);
  ctx.run();
  return fut.get();
}

bool gone(pid_t pid, std::chrono::milliseconds within = 2000ms) {
  // Bounded: the reaper of an orphan (init) may take a moment.
  return test::eventually(
      [pid] {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string s;
        if (!stat || !std::getline(stat, s)) return true;
        auto close = s.rfind(')');
        // Only a zombie left counts as gone.
        return close != std::string::npos && s.size() > close + 2 && s[close + 2] == 'Z';
      },
      within);
}

TEST(Child, WaitReportsTheExitCode) {
  auto status = run_async([](asio::any_io_executor ex) -> asio::awaitable<exit_status> {
    launch_error e;
    auto l = launch(sh("exit 5"), e);
    child c(ex, *l);
    co_return co_await c.wait();
  });
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 5);
  EXPECT_EQ(status.describe(), "exit 5");
}

TEST(Child, TerminateEndsTheWholeGroupEvenWhenTermIsIgnored) {
  pid_t grandchild = 0;
  auto status = run_async([&](asio::any_io_executor ex) -> asio::awaitable<exit_status> {
    launch_error e;
    auto l = launch(sh("trap '' TERM; sleep 30 & echo $!; wait"), e);
    child c(ex, *l);
    // The grandchild's pid, from the script's first line.
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{c.stdout_pipe().native_handle(), POLLIN, 0};
      char buf[64];
      if (::poll(&p, 1, 100) > 0) {
        ssize_t n = ::read(p.fd, buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
      }
    }
    grandchild = std::atoi(line.c_str());
    co_return co_await c.terminate(200ms);
  });
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_TRUE(gone(grandchild)) << "pid " << grandchild << " is still running";
}

TEST(Child, DestroyingARunningChildKillsAndReapsIt) {
  pid_t pid = 0;
  {
    asio::io_context ctx;
    launch_error e;
    auto l = launch(sh("sleep 30"), e);
    ASSERT_TRUE(l);
    pid = l->pid;
    child c(ctx.get_executor(), *l);
  }
  int st;
  EXPECT_EQ(::waitpid(pid, &st, WNOHANG), -1);  // already reaped
  EXPECT_EQ(errno, ECHILD);
}

// The first line of a pipe (bounded: 10 s), without reading past it.
std::string first_line(int fd) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    char c;
    if (::poll(&p, 1, 100) > 0) {
      if (::read(fd, &c, 1) != 1) break;
      line += c;
    }
  }
  return line;
}

// A script whose child leaves the script's process group and session
// (setsid; with `own_group`, only the group: setpgrp) and sleeps; its first
// line is that grandchild's pid. `then`: what the script does next.
launch_spec escaping_grandchild(const std::string& then, bool own_group = false) {
  if (own_group) return sh("perl -e 'setpgrp(0, 0); sleep 60' & echo $!; " + then);
  return sh("setsid sleep 60 & echo $!; " + then);
}

// Without a broker, this process is the reaper: what a child leaves behind
// ends when the child exits, by itself or killed.
TEST(Subreaper, AGrandchildThatCalledSetsidEndsWithItsParent) {
  std::string error;
  auto reaper = subreaper::start(error);
  ASSERT_TRUE(reaper) << error;
  struct variant {
    bool own_group;
    const char* then;
  };
  std::uint64_t expected = 0;
  for (auto [own_group, then] : {variant{false, "exit 0"}, variant{false, "exec sleep 30"},
                                 variant{true, "exit 0"}, variant{true, "exec sleep 30"}}) {
    ++expected;
    pid_t grandchild = 0;
    run_async([&](asio::any_io_executor ex) -> asio::awaitable<exit_status> {
      launch_error e;
      auto l = launch(escaping_grandchild(then, own_group), e);
      child c(ex, *l);
      grandchild = std::atoi(first_line(c.stdout_pipe().native_handle()).c_str());
      // Ended by itself, or (a timeout) its group killed: the grandchild is in neither.
      if (std::string(then) == "exit 0") co_return co_await c.wait();
      co_return co_await c.terminate(200ms);
    });
    ASSERT_GT(grandchild, 1) << then;
    EXPECT_TRUE(gone(grandchild)) << then << ": pid " << grandchild << " still runs";
  }
  (void)test::eventually([&] { return reaper->ended() >= expected; }, 3s);
  EXPECT_GE(reaper->ended(), expected);  // all reaped, not left as zombies
}

TEST(Subreaper, NeverTouchesAChildItStartedAndSweepsDescendantsRoundByRound) {
  std::string error;
  auto reaper = subreaper::start(error);
  ASSERT_TRUE(reaper) << error;
  // Two levels that each leave their session: the second is inherited only
  // once the first is killed.
  asio::io_context ctx;
  launch_error e;
  auto keep = launch(sh("exec sleep 30"), e);  // a child of ours: must survive every sweep
  ASSERT_TRUE(keep);
  child kept(ctx.get_executor(), *keep);
  auto l = launch(sh("setsid sh -c 'setsid sleep 60 & echo $!; exec sleep 60' & read x"), e);
  ASSERT_TRUE(l);
  pid_t deepest = std::atoi(first_line(l->stdout_fd).c_str());
  child c(ctx.get_executor(), *l);
  ASSERT_GT(deepest, 1);
  ::close(l->stdin_fd);  // the child exits
  EXPECT_TRUE(gone(deepest)) << "pid " << deepest;
  reaper->sweep_now();
  EXPECT_FALSE(gone(keep->pid, 100ms)) << "a child it started was ended";
  ::close(keep->stdin_fd);
}

TEST(Access, OwnerThenGroupThenOtherBitsDecideAsTheKernelDoes) {
  identity alice{"alice", uid{1001}, gid{1001}, {gid{1001}, gid{33}}, "/home/alice"};
  std::string why;
  EXPECT_TRUE(may_access(alice, 1001, 0, 0400, false, why));
  EXPECT_FALSE(
      may_access(alice, 1001, 0, 0044, false, why));  // the owner bits apply, not the others
  EXPECT_NE(
      why.find(
          "alice uid 1001 may not read it (owner uid 1001, group gid 0, mode 0044; it is owner)"),
      std::string::npos)
      << why;
  EXPECT_TRUE(may_access(alice, 0, 33, 0040, false, why));  // a supplementary group
  EXPECT_FALSE(may_access(alice, 0, 33, 0040, true, why));  // read, but not execute
  EXPECT_TRUE(may_access(alice, 0, 33, 0050, true, why));
  EXPECT_FALSE(may_access(alice, 0, 0, 0640, false, why));  // other: nothing
  EXPECT_TRUE(may_access(alice, 0, 0, 0644, false, why));
  EXPECT_TRUE(may_access(alice, 0, 0, 0755, true, why));
}

// The spawn broker of privilege separation, on its own (as root).
class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root: the broker starts children as other accounts";
    auto nobody = lookup_account("nobody");
    ASSERT_TRUE(nobody);
    nobody_ = resolve_identity(*nobody);
    ASSERT_TRUE(nobody_);
    auto root = identity{"root", uid{0}, gid{0}, {gid{0}}, "/root"};
    std::string error;
    // Root is dropped from the list, whatever the caller says. Two lanes.
    broker_ = broker::start({*nobody_, root}, error, 2);
    ASSERT_TRUE(broker_) << error;
  }
  // A child of the broker's, as nobody, that sleeps 30 s; only its status pipe kept open.
  launched_child sleeper() {
    launch_spec s = sh("exec sleep 30");
    s.as = *nobody_;
    launch_error e;
    auto c = broker_->launch(s, e);
    EXPECT_TRUE(c) << e.message();
    if (!c) return {};
    for (int fd : {c->stdin_fd, c->stdout_fd, c->stderr_fd}) ::close(fd);
    return *c;
  }
  std::optional<identity> nobody_;
  std::unique_ptr<broker> broker_;
};

TEST_F(BrokerTest, StartsAChildAsAnAllowedAccountAndReportsItsExit) {
  launch_spec s = sh("id -u; exit 3");
  s.as = *nobody_;
  launch_error e;
  auto c = broker_->launch(s, e);
  ASSERT_TRUE(c) << e.message();
  EXPECT_GE(c->stdin_fd, 0);
  ::close(c->stdin_fd);
  EXPECT_EQ(read_all(c->stdout_fd), std::to_string(nobody_->uid.value) + "\n");
  ::close(c->stdout_fd);
  ::close(c->stderr_fd);
  EXPECT_EQ(c->via, broker_.get());
  auto status = read_status(c->status_fd, 5000ms);
  ::close(c->status_fd);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_TRUE(gone(c->pid));  // reaped by the broker
}

TEST_F(BrokerTest, RefusesAccountsOutsideItsListAndRoot) {
  auto www = lookup_account("www-data");
  ASSERT_TRUE(www);
  for (auto id : {*resolve_identity(*www), identity{"root", uid{0}, gid{0}, {gid{0}}, "/root"}}) {
    launch_spec s = sh("id -u");
    s.as = id;
    launch_error e;
    EXPECT_FALSE(broker_->launch(s, e)) << id.name;
    EXPECT_EQ(e.code.value(), EPERM) << id.name;
    EXPECT_EQ(e.message(),
              "spawner process: account \"" + id.name + "\" is not one the config allows");
  }
  launch_spec as_itself = sh("id -u");  // no account: the broker's own, root: refused too
  launch_error e;
  EXPECT_FALSE(broker_->launch(as_itself, e));
  EXPECT_EQ(e.code.value(), EPERM);
  // Ill-formed requests: a relative program, a NUL cutting an argument short.
  for (auto bad : {std::string("sh"), std::string("/bin/sh\0/bin/evil", 17)}) {
    launch_spec s = sh("id -u");
    s.as = *nobody_;
    s.program = bad;
    EXPECT_FALSE(broker_->launch(s, e));
    EXPECT_EQ(e.code.value(), EINVAL);
  }
  // Too large to send (argv and environment over 1 MiB): refused here, nothing sent.
  launch_spec big = sh("exit 0");
  big.as = *nobody_;
  big.env.assign(3, "X=" + std::string(512 * 1024, 'x'));
  EXPECT_FALSE(broker_->launch(big, e));
  EXPECT_EQ(e.code.value(), E2BIG);
  // It still serves well-formed requests afterwards.
  launch_spec ok = sh("exit 0");
  ok.as = *nobody_;
  auto c = broker_->launch(ok, e);
  ASSERT_TRUE(c) << e.message();
  for (int fd : {c->stdin_fd, c->stdout_fd, c->stderr_fd}) ::close(fd);
  EXPECT_EQ(read_status(c->status_fd, 5000ms), 0);
  ::close(c->status_fd);
}

TEST_F(BrokerTest, SignalsOnlyTheGroupsOfItsOwnChildren) {
  const auto c = sleeper();
  ASSERT_GT(c.pid, 0);
  EXPECT_FALSE(broker_->signal_group(::getpid(), 0, SIGTERM));        // not its child
  EXPECT_FALSE(broker_->signal_group(c.pid, c.serial + 1, SIGKILL));  // another start's pid
  EXPECT_TRUE(broker_->signal_group(c.pid, c.serial, SIGKILL));
  auto status = read_status(c.status_fd, 5000ms);
  ::close(c.status_fd);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  EXPECT_FALSE(broker_->signal_group(c.pid, c.serial, SIGKILL));  // reaped: no longer its child
}

TEST_F(BrokerTest, TwoCallersAtOnceGetTheirChildrenAndEitherIsSignalled) {
  // Two threads launch at once, each a child that waits for its stdin; each
  // is then signalled (through whichever lane is free) and reported.
  std::vector<launched_child> kids(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      launch_spec s = sh("read x; exit 7");
      s.as = *nobody_;
      launch_error e;
      auto c = broker_->launch(s, e);
      if (c) kids[i] = *c;
    });
  for (auto& t : threads) t.join();
  for (auto& c : kids) {
    ASSERT_GT(c.pid, 0);
    EXPECT_TRUE(broker_->signal_group(c.pid, c.serial, SIGKILL));
  }
  for (auto& c : kids) {
    auto status = read_status(c.status_fd, 5000ms);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFSIGNALED(*status));
    for (int fd : {c.stdin_fd, c.stdout_fd, c.stderr_fd, c.status_fd}) ::close(fd);
  }
  EXPECT_NE(kids[0].serial, kids[1].serial);
}

TEST_F(BrokerTest, WhatAChildLeavesBehindEndsWithIt) {
  // The grandchild leaves the child's group and session; the child exits
  // normally, or is killed as a timeout kills it.
  for (const char* then : {"exit 0", "exec sleep 30"}) {
    launch_spec s = escaping_grandchild(then);
    s.as = *nobody_;
    launch_error e;
    auto c = broker_->launch(s, e);
    ASSERT_TRUE(c) << e.message();
    pid_t grandchild = std::atoi(first_line(c->stdout_fd).c_str());
    ASSERT_GT(grandchild, 1);
    if (std::string(then) != "exit 0") {
      EXPECT_TRUE(broker_->signal_group(c->pid, c->serial, SIGKILL));
    }
    EXPECT_TRUE(read_status(c->status_fd, 5000ms));
    EXPECT_TRUE(gone(grandchild)) << then << ": pid " << grandchild << " still runs";
    for (int fd : {c->stdin_fd, c->stdout_fd, c->stderr_fd, c->status_fd}) ::close(fd);
  }
}

TEST_F(BrokerTest, ItsChildrenStartWithDefaultSignalsAndMayHaveNoInput) {
  // The broker ignores SIGPIPE, SIGINT, SIGTERM, SIGHUP, ... (its dispositions
  // are frozen): none of that reaches a child.
  launch_spec s = sh("grep -E '^SigIgn' /proc/$$/status; readlink /proc/$$/fd/0");
  s.as = *nobody_;
  s.no_input = true;
  launch_error e;
  auto c = broker_->launch(s, e);
  ASSERT_TRUE(c) << e.message();
  EXPECT_EQ(c->stdin_fd, no_handle);
  EXPECT_EQ(read_all(c->stdout_fd), "SigIgn:\t0000000000000000\n/dev/null\n");
  for (int fd : {c->stdout_fd, c->stderr_fd}) ::close(fd);
  EXPECT_TRUE(read_status(c->status_fd, 5000ms));
  ::close(c->status_fd);
}

TEST_F(BrokerTest, TryWaitTakesAReportedExitWithoutWaiting) {
  launch_spec s = sh("read x; exit 5");
  s.as = *nobody_;
  launch_error e;
  auto c = broker_->launch(s, e);
  ASSERT_TRUE(c) << e.message();
  asio::io_context io;
  child ch(io.get_executor(), *c);
  EXPECT_FALSE(ch.try_wait());  // it waits for its input
  boost::system::error_code ec;
  ch.stdin_pipe().close(ec);
  EXPECT_TRUE(test::eventually([&] { return ch.try_wait().has_value(); }));
  auto status = ch.try_wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 5);
  EXPECT_TRUE(ch.exited());
  EXPECT_TRUE(gone(c->pid));
}

TEST_F(BrokerTest, ClosingTheChannelEndsItsChildrenAndTheBroker) {
  const auto c = sleeper();
  ASSERT_GT(c.pid, 0);
  pid_t broker_pid = broker_->pid();
  EXPECT_EQ(::kill(broker_pid, SIGTERM), 0);  // ignored: only the channel ends it
  EXPECT_FALSE(gone(broker_pid, 300ms));
  broker_.reset();  // as when cgihost ends
  EXPECT_TRUE(gone(c.pid));
  EXPECT_TRUE(gone(broker_pid));
  EXPECT_FALSE(read_status(c.status_fd, 1000ms));  // closed without a status: the broker is gone
  ::close(c.status_fd);
}

}  // namespace
}  // namespace cgihost::spawner
