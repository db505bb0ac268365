// cgihost.exe as a Windows program: started as a real process (in a Job
// Object, so that it and its children end with the test) with a config file,
// and asked over loopback TCP. Runs under Wine in CI and on Windows as is.
#include <winsock2.h>
#include <ws2tcpip.h>
// winsock2 before windows.h
#include <gtest/gtest.h>
#include <windows.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "windows/http_client.hpp"
#include "windows/test_paths.hpp"

namespace {
namespace fs = std::filesystem;
using cgihost::test::connect_to;
using cgihost::test::free_port;
using cgihost::test::http_get;
using cgihost::test::response;
using namespace std::chrono_literals;

class ServerWindowsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    WSADATA wsa;
    ::WSAStartup(MAKEWORD(2, 2), &wsa);
  }

  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("cgihost-wserver-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "site" / "cgi-bin");
    std::ofstream(dir_ / "site" / "hello.txt", std::ios::binary) << "hello from a file\n";
  }

  void TearDown() override {
    if (job_) {
      ::TerminateJobObject(job_, 1);
      if (process_) ::WaitForSingleObject(process_, 10000);
      ::CloseHandle(job_);
    }
    if (process_) ::CloseHandle(process_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts cgihost.exe serve with `extra` config after listen and
  // document_root; returns once it answers (or fails the test).
  void start(const std::string& extra = "") {
    port_ = free_port();
    const fs::path config = dir_ / "cgihost.toml";
    std::ofstream(config, std::ios::binary)
        << "listen = [\"127.0.0.1:" << port_ << "\"]\n"
        << "document_root = '" << (dir_ / "site").string() << "'\n"
        << extra;
    const std::wstring exe = cgihost::test::native_path(CGIHOST_EXE);
    std::wstring line = L"\"" + exe + L"\" serve -c \"" + config.wstring() + L"\"";
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
    HANDLE log = ::CreateFileW((dir_ / "server.log").wstring().c_str(), GENERIC_WRITE,
                               FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, CREATE_ALWAYS,
                               FILE_ATTRIBUTE_NORMAL, nullptr);
    STARTUPINFOW si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = nullptr;
    si.hStdOutput = log;
    si.hStdError = log;
    PROCESS_INFORMATION pi{};
    job_ = ::CreateJobObjectW(nullptr, nullptr);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    ::SetInformationJobObject(job_, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    const BOOL ok = ::CreateProcessW(exe.c_str(), line.data(), nullptr, nullptr, TRUE,
                                     CREATE_SUSPENDED | CREATE_NO_WINDOW, nullptr,
                                     dir_.wstring().c_str(), &si, &pi);
    ::CloseHandle(log);
    ASSERT_TRUE(ok) << "CreateProcessW: " << ::GetLastError();
    process_ = pi.hProcess;
    ::AssignProcessToJobObject(job_, process_);
    ::ResumeThread(pi.hThread);
    ::CloseHandle(pi.hThread);
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until) {
      if (::WaitForSingleObject(process_, 0) == WAIT_OBJECT_0) break;
      SOCKET s = connect_to(port_);
      if (s != INVALID_SOCKET) {
        ::closesocket(s);
        return;
      }
      std::this_thread::sleep_for(50ms);  // polling for the port: no event to wait on
    }
    FAIL() << "cgihost.exe did not answer on port " << port_ << "; its log:\n" << server_log();
  }

  std::string server_log() const {
    std::ifstream in(dir_ / "server.log", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // GET `target` with `fields` ("Name: value\r\n" lines) added to the head.
  response get(const std::string& target, const std::string& fields = "") {
    return http_get(port_, target, fields);
  }

  fs::path dir_;
  unsigned short port_ = 0;
  HANDLE job_ = nullptr;
  HANDLE process_ = nullptr;
};

TEST_F(ServerWindowsTest, AStaticFileIsServedAndAMissingOneIs404) {
  start();
  auto r = get("/hello.txt");
  EXPECT_EQ(r.status, 200) << r.head << server_log();
  EXPECT_EQ(r.body, "hello from a file\n");
  EXPECT_NE(r.head.find("Content-Type: text/plain"), std::string::npos) << r.head;
  EXPECT_EQ(get("/nothing-here.txt").status, 404);
  EXPECT_NE(server_log().find("every child runs as this process's account"), std::string::npos)
      << "without the privileged service cgihost says who its children run as:\n"
      << server_log();
}

TEST_F(ServerWindowsTest, IisSourceDisclosureFormsAreRefused) {
  start();
  for (const char* target : {"/hello.txt::$DATA", "/hello.txt.", "/hello.txt%20", "/HELLO~1.TXT",
                             "/con", "/hello.txt%3A%3A%24DATA"}) {
    auto r = get(target);
    EXPECT_TRUE(r.status == 400 || r.status == 403 || r.status == 404)
        << target << " answered " << r.status << ":\n"
        << r.body;
    EXPECT_EQ(r.body.find("hello from a file"), std::string::npos) << target;
  }
}

// The CGI probe (tests/windows/programs/win_cgi_probe.cpp) as
// /cgi-bin/probe.exe, run by the CGI module.
class CgiWindowsTest : public ServerWindowsTest {
 protected:
  void SetUp() override {
    ServerWindowsTest::SetUp();
    for (const char* name : {"probe.exe", "nph-probe.exe"})
      fs::copy_file(cgihost::test::native_path(CGIHOST_PROGRAM_win_cgi_probe),
                    dir_ / "site" / "cgi-bin" / name);
    fs::create_directories(dir_ / "site" / "secret");
    std::ofstream(dir_ / "site" / "secret" / "key.txt") << "the key\n";
    start(
        "[[handlers]]\nmatch = \"/cgi-bin/*\"\nmodule = \"cgi\"\n"
        "[cgi]\ntimeout = \"3s\"\n"
        "[[locations]]\nprefix = \"/secret/\"\ndeny = true\n");
  }
};

TEST_F(CgiWindowsTest, AProgramGetsTheCgiEnvironmentAndItsFolder) {
  auto r = get("/cgi-bin/probe.exe?mode=env");
  ASSERT_EQ(r.status, 200) << r.head << r.body << server_log();
  for (const char* line :
       {"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "QUERY_STRING=mode=env",
        "SCRIPT_NAME=/cgi-bin/probe.exe", "SERVER_PROTOCOL=HTTP/1.1", "REMOTE_ADDR=127.0.0.1\n",
        "SERVER_ADDR=127.0.0.1\n"})
    EXPECT_NE(r.body.find(line), std::string::npos) << line << " missing:\n" << r.body;
  // The client's port, never 0 (a generic socket's cached peer once lost it).
  EXPECT_EQ(r.body.find("REMOTE_PORT=0\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("REMOTE_PORT="), std::string::npos) << r.body;
  auto cwd = get("/cgi-bin/probe.exe?mode=cwd");
  ASSERT_EQ(cwd.status, 200);
  EXPECT_NE(cwd.body.find("cgi-bin"), std::string::npos) << cwd.body;
}

TEST_F(CgiWindowsTest, PathsIgnoreCaseAsWindowsFileNamesDo) {
  // /CGI-BIN/ is /cgi-bin/: the program runs, its bytes are never sent.
  auto r = get("/CGI-BIN/PROBE.EXE?mode=tiny");
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body, "hello\n");
  // A denied location stays denied whatever the case.
  for (const char* target : {"/secret/key.txt", "/SECRET/key.txt", "/Secret/KEY.TXT"}) {
    auto d = get(target);
    EXPECT_EQ(d.status, 404) << target;
    EXPECT_EQ(d.body.find("the key"), std::string::npos) << target;
  }
}

TEST_F(CgiWindowsTest, MalformedHeadersAre502AndNphPassesThrough) {
  EXPECT_EQ(get("/cgi-bin/probe.exe?mode=nocolon").status, 502);
  EXPECT_EQ(get("/cgi-bin/probe.exe?mode=silent").status, 502);
  auto status = get("/cgi-bin/probe.exe?mode=status");
  EXPECT_EQ(status.status, 404);
  EXPECT_EQ(status.body, "missing\n");
  EXPECT_NE(server_log().find("header line without a colon"), std::string::npos)
      << "the 502's cause is logged:\n"
      << server_log();
  // nph-: the program's own status line and head reach the client unparsed.
  auto nph = get("/cgi-bin/nph-probe.exe?mode=nph");
  EXPECT_EQ(nph.status, 299) << nph.head;
  EXPECT_NE(nph.head.find("X-Raw: yes"), std::string::npos) << nph.head;
  EXPECT_EQ(nph.body, "raw");
}

TEST_F(CgiWindowsTest, ATimeoutEndsTheWholeJobGrandchildIncluded) {
  auto r = get("/cgi-bin/probe.exe?mode=grandchild&then=sleep&n=30");
  EXPECT_TRUE(r.status == 504 || r.status == 200) << r.status << r.body;
  const auto at = r.body.find("grandchild ");
  ASSERT_NE(at, std::string::npos) << r.body;
  const DWORD pid = static_cast<DWORD>(std::stoul(r.body.substr(at + 11)));
  HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
  if (h) {
    EXPECT_EQ(::WaitForSingleObject(h, 10000), WAIT_OBJECT_0)
        << "grandchild " << pid << " lives on";
    ::CloseHandle(h);
  }
}

// A pool of the FastCGI responder (tests/windows/programs/win_fcgi_responder.cpp),
// started the way IIS starts php-cgi.exe, on each transport: a named pipe's
// server end ("pipe", the default) or a listening socket ("tcp") as its
// standard input, and _FCGI_SHUTDOWN_EVENT_. The responder's own request
// limit is off: cgihost recycles it after max_requests, by the event.
class FastCgiWindowsTest : public ServerWindowsTest,
                           public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    ServerWindowsTest::SetUp();
    std::ofstream(dir_ / "site" / "x.php") << "<?php // run by the pool\n";
    start(
        "[[handlers]]\nmatch = \"*.php\"\nmodule = \"fastcgi\"\npool = \"resp\"\n"
        "[pools.resp]\ncommand = ['" +
        fs::path(cgihost::test::native_path(CGIHOST_PROGRAM_win_fcgi_responder)).string() +
        "']\ntransport = \"" + GetParam() +
        "\"\nmax_instances = 2\nmax_requests = 3\nrequest_timeout = \"5s\"\n" + more_pool_keys() +
        "[pools.resp.env]\nPHP_FCGI_MAX_REQUESTS = \"0\"\nWIN_FCGI_RESPONDER_MARKER = '" +
        marker().string() + "'\n" + more_env());
  }

  // Keys a derived fixture adds to the pool ("key = value\n" lines).
  virtual std::string more_pool_keys() const { return ""; }
  // Variables a derived fixture adds to the instances' environment.
  virtual std::string more_env() const { return ""; }

  fs::path marker() const { return dir_ / "marker.txt"; }

  // The pids the responder wrote as ended by their shutdown event.
  std::set<std::string> ended_by_event() const {
    std::set<std::string> pids;
    std::ifstream in(marker(), std::ios::binary);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("shutdown event: pid ", 0) == 0) pids.insert(line.substr(20));
    return pids;
  }

  // Polls `done` until it holds or `limit` passes (no event to wait on).
  template <class F>
  static bool eventually(F done, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  static std::string field(const std::string& body, const std::string& name) {
    const auto at = body.find(name + "=");
    if (at == std::string::npos) return {};
    const auto end = body.find('\n', at);
    return body.substr(at + name.size() + 1, end - at - name.size() - 1);
  }
};

INSTANTIATE_TEST_SUITE_P(Transports, FastCgiWindowsTest, ::testing::Values("pipe", "tcp"),
                         [](const auto& p) { return p.param; });

TEST_P(FastCgiWindowsTest, ARequestReachesThePoolWithItsParams) {
  auto r = get("/x.php?a=1");
  ASSERT_EQ(r.status, 200) << r.head << r.body << server_log();
  EXPECT_EQ(field(r.body, "REQUEST_METHOD"), "GET") << r.body;
  EXPECT_EQ(field(r.body, "QUERY_STRING"), "a=1") << r.body;
  EXPECT_NE(field(r.body, "SCRIPT_FILENAME").find("x.php"), std::string::npos) << r.body;
}

TEST_P(FastCgiWindowsTest, InstancesAreRecycledAfterMaxRequestsAndACrashIs502) {
  std::set<std::string> pids;
  for (int i = 0; i < 7; ++i) {
    auto r = get("/x.php?n=" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body << server_log();
    pids.insert(field(r.body, "PID"));
  }
  EXPECT_GE(pids.size(), 3u) << "7 requests, 3 per instance";
  EXPECT_EQ(get("/x.php?crash=1").status, 502);
  EXPECT_EQ(get("/x.php?after=crash").status, 200) << server_log();
  EXPECT_EQ(get("/x.php?again=1").status, 200) << server_log();
}

TEST_P(FastCgiWindowsTest, ARecycledInstanceIsEndedByItsShutdownEventNotItsJob) {
  std::string first;
  for (int i = 0; i < 3; ++i) {
    auto r = get("/x.php?n=" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r.body << server_log();
    if (i == 0) first = field(r.body, "PID");
    ASSERT_EQ(field(r.body, "PID"), first) << "an idle instance serves the next request";
  }
  // Its third request was its last: cgihost sets its event, and it exits.
  EXPECT_TRUE(eventually([&] { return ended_by_event().contains(first); }))
      << "pid " << first << " not ended by _FCGI_SHUTDOWN_EVENT_; log:\n"
      << server_log();
  EXPECT_TRUE(eventually([&] {
    return server_log().find("pid " + first + " ended") != std::string::npos;
  })) << server_log();
  auto next = get("/x.php?n=3");
  ASSERT_EQ(next.status, 200) << server_log();
  EXPECT_NE(field(next.body, "PID"), first);
  EXPECT_EQ(server_log().find("did not exit within"), std::string::npos) << server_log();
}

// How many handles cgihost.exe holds: GetProcessHandleCount, or where that
// says 0 (Wine) the handle values below 64 Ki that can be duplicated out of it.
DWORD handles_of(HANDLE process) {
  DWORD n = 0;
  if (::GetProcessHandleCount(process, &n) && n != 0) return n;
  for (std::uintptr_t v = 4; v < 0x10000; v += 4) {
    HANDLE here = nullptr;
    if (::DuplicateHandle(process, reinterpret_cast<HANDLE>(v), ::GetCurrentProcess(), &here, 0,
                          FALSE, DUPLICATE_SAME_ACCESS)) {
      ++n;
      ::CloseHandle(here);
    }
  }
  return n;
}

TEST_P(FastCgiWindowsTest, ManyRequestsLeaveNoHandleBehind) {
  // Instances come and go (max_requests = 3): each one's pipe or socket,
  // event and process handles must go with it.
  for (int i = 0; i < 6; ++i) ASSERT_EQ(get("/x.php?warm=" + std::to_string(i)).status, 200);
  const DWORD before = handles_of(process_);
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 60; ++i) {
    auto r = get("/x.php?i=" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body << server_log();
  }
  // Let the last recycled instance be reaped.
  DWORD after = 0;
  EXPECT_TRUE(eventually([&] { return (after = handles_of(process_)) <= before + 8; }))
      << "handles: " << before << " before 60 requests (20 instances), " << after << " after";
}

// An instance idle past idle_timeout is ended by its event too.
class FastCgiIdleWindowsTest : public FastCgiWindowsTest {
 protected:
  std::string more_pool_keys() const override { return "idle_timeout = \"1s\"\n"; }
};
INSTANTIATE_TEST_SUITE_P(Transports, FastCgiIdleWindowsTest, ::testing::Values("pipe", "tcp"),
                         [](const auto& p) { return p.param; });

TEST_P(FastCgiIdleWindowsTest, AnIdleInstanceIsEndedByItsShutdownEvent) {
  auto r = get("/x.php");
  ASSERT_EQ(r.status, 200) << r.body << server_log();
  const std::string pid = field(r.body, "PID");
  EXPECT_TRUE(eventually([&] { return ended_by_event().contains(pid); }))
      << "pid " << pid << " not ended by _FCGI_SHUTDOWN_EVENT_; log:\n"
      << server_log();
  EXPECT_EQ(server_log().find("did not exit within"), std::string::npos) << server_log();
  auto next = get("/x.php");
  ASSERT_EQ(next.status, 200) << server_log();
  EXPECT_NE(field(next.body, "PID"), pid);
}

// A program that does not watch the event is ended with its job after the grace.
class FastCgiDeafWindowsTest : public FastCgiWindowsTest {
 protected:
  std::string more_env() const override { return "WIN_FCGI_RESPONDER_IGNORE_SHUTDOWN = \"1\"\n"; }
};
INSTANTIATE_TEST_SUITE_P(Pipe, FastCgiDeafWindowsTest, ::testing::Values("pipe"),
                         [](const auto& p) { return p.param; });

TEST_P(FastCgiDeafWindowsTest, AnInstanceDeafToItsEventIsEndedAfterTheGrace) {
  std::string pid;
  for (int i = 0; i < 3; ++i) {
    auto r = get("/x.php?n=" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r.body << server_log();
    pid = field(r.body, "PID");
  }
  EXPECT_TRUE(eventually(
      [&] { return server_log().find("pid " + pid + " ended") != std::string::npos; }, 15s))
      << server_log();
  EXPECT_NE(server_log().find("pid " + pid + " did not exit within 3000 ms of being asked to end"),
            std::string::npos)
      << server_log();
  EXPECT_FALSE(ended_by_event().contains(pid));
  EXPECT_EQ(get("/x.php").status, 200) << server_log();
}

// The pipe transport only.
class FastCgiPipeWindowsTest : public FastCgiWindowsTest {};
INSTANTIATE_TEST_SUITE_P(Pipe, FastCgiPipeWindowsTest, ::testing::Values("pipe"),
                         [](const auto& p) { return p.param; });

TEST_P(FastCgiPipeWindowsTest, TheInstancesStandardInputIsANamedPipeNoOneElseCanOpen) {
  auto r = get("/x.php?pipe=1");
  ASSERT_EQ(r.status, 200) << r.body << server_log();
  const std::string name = field(r.body, "PIPE_NAME");
  ASSERT_EQ(name.rfind("\\cgihost-", 0), 0u) << r.body;
  const std::string pid = field(r.body, "PID");
  // The instance serves cgihost's connection (kept for the next request):
  // the pipe's one instance is taken.
  const std::wstring path = L"\\\\.\\pipe" + std::wstring(name.begin(), name.end());
  HANDLE h = ::CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                           nullptr);
  const DWORD err = ::GetLastError();
  if (h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
  EXPECT_EQ(h, INVALID_HANDLE_VALUE) << "another client opened " << name;
  EXPECT_TRUE(err == ERROR_PIPE_BUSY || err == ERROR_ACCESS_DENIED) << "error " << err;
  // And the instance goes on serving.
  auto again = get("/x.php?pipe=1");
  ASSERT_EQ(again.status, 200) << server_log();
  EXPECT_EQ(field(again.body, "PID"), pid);
}

TEST_P(FastCgiPipeWindowsTest, AKeptPipeTheInstanceDisconnectedIsOpenedAgain) {
  auto r = get("/x.php?close=1");
  ASSERT_EQ(r.status, 200) << r.body << server_log();
  const std::string pid = field(r.body, "PID");
  // cgihost kept its end; the instance disconnected the pipe and waits in
  // ConnectNamedPipe again. The kept end is found broken (PeekNamedPipe) and
  // a new connection made to the same instance.
  for (int i = 0; i < 2; ++i) {
    auto next = get("/x.php?n=" + std::to_string(i));
    ASSERT_EQ(next.status, 200) << next.body << server_log();
    EXPECT_EQ(field(next.body, "PID"), pid) << server_log();
  }
  EXPECT_EQ(server_log().find("closed its kept connection"), std::string::npos) << server_log();
}

TEST_P(FastCgiPipeWindowsTest, ABusyPipeIsTriedAgainUntilTheInstanceListens) {
  // The instance disconnects and waits 700 ms before ConnectNamedPipe: in
  // between, CreateFileW gets ERROR_PIPE_BUSY, and cgihost tries again on a
  // timer (the request's deadline is 5 s) instead of failing.
  auto r = get("/x.php?close=1&pause=700");
  ASSERT_EQ(r.status, 200) << r.body << server_log();
  const std::string pid = field(r.body, "PID");
  const auto t0 = std::chrono::steady_clock::now();
  auto next = get("/x.php?n=1");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(next.status, 200) << next.body << server_log();
  EXPECT_EQ(field(next.body, "PID"), pid) << server_log();
  EXPECT_GE(waited, 300ms) << "the pipe was never busy: nothing was tried again";
  EXPECT_EQ(server_log().find("trying again"), std::string::npos) << server_log();
}

TEST_P(FastCgiPipeWindowsTest, ThePipesDaclAdmitsOnlyThisUserAndSystem) {
  auto r = get("/x.php?dacl=1");
  ASSERT_EQ(r.status, 200) << r.body << server_log();
  const std::string dacl = field(r.body, "DACL");
  if (dacl != "present" || r.body.find("ACE=") == std::string::npos)
    GTEST_SKIP() << "the pipe's security descriptor as read back here has no DACL entries "
                    "(DACL="
                 << dacl << "): Wine does not keep named pipes' DACLs";
  EXPECT_EQ(r.body.find("ACE=S-1-1-0\n"), std::string::npos) << "Everyone:\n" << r.body;
  EXPECT_NE(r.body.find("ACE=S-1-5-18\n"), std::string::npos) << "SYSTEM:\n" << r.body;
  std::size_t aces = 0;
  for (std::size_t at = 0; (at = r.body.find("ACE=", at)) != std::string::npos; ++at) ++aces;
  EXPECT_EQ(aces, 2u) << "SYSTEM and cgihost's user only:\n" << r.body;
}

// [authentication] iis_token = true: the test plays IIS's HttpPlatformHandler,
// duplicating a token of its own into cgihost.exe and naming the handle in
// X-IIS-WindowsAuthToken from 127.0.0.1. (A peer that is not loopback cannot
// be made here: that refusal is decide_iis_token's, unit-tested.)
class IisTokenWindowsTest : public ServerWindowsTest {
 protected:
  void SetUp() override {
    ServerWindowsTest::SetUp();
    fs::copy_file(cgihost::test::native_path(CGIHOST_PROGRAM_win_cgi_probe),
                  dir_ / "site" / "cgi-bin" / "probe.exe");
    start(
        "[[handlers]]\nmatch = \"/cgi-bin/*\"\nmodule = \"cgi\"\n"
        "[authentication]\niis_token = true\n");
    ASSERT_TRUE(::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own_token_))
        << ::GetLastError();
  }

  void TearDown() override {
    if (own_token_) ::CloseHandle(own_token_);
    ServerWindowsTest::TearDown();
  }

  // A token of this test's user, a fresh object (its own TokenId).
  HANDLE fresh_token() const {
    HANDLE t = nullptr;
    EXPECT_TRUE(::DuplicateTokenEx(own_token_, TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                                   TokenPrimary, &t))
        << ::GetLastError();
    return t;
  }

  // `h` duplicated into cgihost.exe, as IIS does: the value there.
  std::uintptr_t into_server(HANDLE h) const {
    HANDLE there = nullptr;
    EXPECT_TRUE(::DuplicateHandle(::GetCurrentProcess(), h, process_, &there, 0, FALSE,
                                  DUPLICATE_SAME_ACCESS))
        << ::GetLastError();
    return reinterpret_cast<std::uintptr_t>(there);
  }

  static LUID token_id(HANDLE token) {
    TOKEN_STATISTICS st{};
    DWORD size = 0;
    if (!::GetTokenInformation(token, TokenStatistics, &st, sizeof st, &size)) return LUID{};
    return st.TokenId;
  }

  // Whether cgihost.exe still holds `value` as a handle of the object `ours`
  // names (the same token: its TokenId; any other object: open at all). A
  // closed value that cgihost reused for another object does not count.
  bool server_holds(std::uintptr_t value, HANDLE ours) const {
    HANDLE here = nullptr;
    if (!::DuplicateHandle(process_, reinterpret_cast<HANDLE>(value), ::GetCurrentProcess(), &here,
                           0, FALSE, DUPLICATE_SAME_ACCESS))
      return false;
    bool same = true;
    const LUID want = token_id(ours);
    if (want.LowPart || want.HighPart) {
      const LUID got = token_id(here);
      same = got.LowPart == want.LowPart && got.HighPart == want.HighPart;
    }
    ::CloseHandle(here);
    return same;
  }

  // Closes `value` in cgihost.exe (what cgihost left open, for the test's cleanup).
  void close_in_server(std::uintptr_t value) const {
    HANDLE here = nullptr;
    if (::DuplicateHandle(process_, reinterpret_cast<HANDLE>(value), ::GetCurrentProcess(), &here,
                          0, FALSE, DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
      ::CloseHandle(here);
  }

  static std::string hex(std::uintptr_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
  }

  response env_with_token(const std::string& value) {
    return get("/cgi-bin/probe.exe?mode=env", "X-IIS-WindowsAuthToken: " + value + "\r\n");
  }

  // DOMAIN\user of this test's token, as LookupAccountSidW names it.
  std::string own_user() const {
    std::vector<unsigned char> buf(512);
    DWORD size = 0;
    if (!::GetTokenInformation(own_token_, TokenUser, buf.data(), 512, &size)) return {};
    char name[256], domain[256];
    DWORD nn = 256, dn = 256;
    SID_NAME_USE use{};
    if (!::LookupAccountSidA(nullptr, reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, name,
                             &nn, domain, &dn, &use))
      return {};
    return dn ? std::string(domain) + "\\" + name : std::string(name);
  }

  HANDLE own_token_ = nullptr;
};

TEST_F(IisTokenWindowsTest, TheHandleCheckTellsAnOpenHandleFromAClosedOne) {
  // The control for the tests below: under Wine as on Windows, a value
  // cgihost.exe holds is seen, and once closed it is not.
  HANDLE t = fresh_token();
  const auto value = into_server(t);
  EXPECT_TRUE(server_holds(value, t));
  close_in_server(value);
  EXPECT_FALSE(server_holds(value, t));
  ::CloseHandle(t);
}

TEST_F(IisTokenWindowsTest, TheTokensUserIsRemoteUserAndTheHandleIsClosed) {
  const std::string user = own_user();
  ASSERT_FALSE(user.empty());
  HANDLE t = fresh_token();
  const auto value = into_server(t);
  auto r = env_with_token(hex(value));
  ASSERT_EQ(r.status, 200) << r.head << r.body << server_log();
  EXPECT_NE(r.body.find("REMOTE_USER=" + user + "\n"), std::string::npos) << user << " expected:\n"
                                                                          << r.body;
  EXPECT_NE(r.body.find("AUTH_TYPE=Negotiate\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("WINDOWSAUTHTOKEN"), std::string::npos) << r.body;
  EXPECT_FALSE(server_holds(value, t)) << "cgihost.exe left IIS's handle open";
  ::CloseHandle(t);
  // Without the privileged service it cannot start the child as that user:
  // it runs it as itself, and its log says so.
  const std::string log = server_log();
  EXPECT_NE(log.find("authenticated " + user + " by the token IIS forwarded"), std::string::npos)
      << log;
  EXPECT_NE(log.find("cannot switch"), std::string::npos) << log;
  // Without the header the same request is anonymous.
  auto anon = get("/cgi-bin/probe.exe?mode=env");
  ASSERT_EQ(anon.status, 200) << anon.body;
  EXPECT_EQ(anon.body.find("REMOTE_USER=" + user), std::string::npos) << anon.body;
}

TEST_F(IisTokenWindowsTest, AHandleThatIsNoTokenIs401AndLeftAsItIs) {
  // An event, not a token: 401 with the reason in the log. cgihost closes
  // only tokens (a value naming one of its own handles, its socket say,
  // must not make it close that), so the event stays: the test closes it.
  HANDLE ev = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  const auto value = into_server(ev);
  auto r = env_with_token(hex(value));
  EXPECT_EQ(r.status, 401) << r.head << r.body;
  EXPECT_EQ(r.body.find("REMOTE_USER="), std::string::npos) << r.body;
  EXPECT_TRUE(server_holds(value, ev));
  close_in_server(value);
  ::CloseHandle(ev);
  // "4" (whatever cgihost holds there, if anything) and a value no handle has.
  EXPECT_EQ(env_with_token("4").status, 401);
  EXPECT_EQ(env_with_token("fff0").status, 401);
  // Malformed ("-1", not hex): ignored with a warning, the request anonymous.
  auto bad = env_with_token("nothex");
  EXPECT_EQ(bad.status, 200) << bad.body;
  EXPECT_EQ(bad.body.find("REMOTE_USER="), std::string::npos) << bad.body;
  // cgihost still serves.
  EXPECT_EQ(get("/cgi-bin/probe.exe?mode=tiny").status, 200);
  const std::string log = server_log();
  EXPECT_NE(log.find("is no token handle of this process"), std::string::npos) << log;
  EXPECT_NE(log.find("X-IIS-WindowsAuthToken from 127.0.0.1 ignored"), std::string::npos) << log;
}

TEST_F(IisTokenWindowsTest, FiftyRequestsWithTokensLeaveNoHandleBehind) {
  const std::string user = own_user();
  for (int i = 0; i < 50; ++i) {
    HANDLE t = fresh_token();
    const auto value = into_server(t);
    auto r = env_with_token(hex(value));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body << server_log();
    EXPECT_NE(r.body.find("REMOTE_USER=" + user + "\n"), std::string::npos) << i;
    const bool held = server_holds(value, t);
    if (held) close_in_server(value);
    ::CloseHandle(t);
    ASSERT_FALSE(held) << "request " << i << " left handle 0x" << hex(value) << " open";
  }
}

}  // namespace
