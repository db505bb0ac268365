// The spawner service's pipe server (spawner/windows/service.cpp) and the
// front end's client (broker::connect), in one process: the service serves
// on a thread, and this process is its [identity] server account. What
// travels: a forwarded token's value, the child's standard input and an
// inherited handle (duplicated out of the client), and back the child's pipe
// ends, process and job (duplicated into the client with least access).
// (A listener as standard input travels as the inherited handle does.)
// Wine ignores the token (CreateProcessAsUserW runs the child as its one
// user); the channel and the handles are real.
#include <gtest/gtest.h>
#include <windows.h>
// After <windows.h>:
#include <sddl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "spawner/broker.hpp"
#include "spawner/launch.hpp"
#include "spawner/windows/service.hpp"

namespace cgihost::spawner {
namespace {
using namespace std::chrono_literals;

std::string windows_path(std::string linux_path) {
  for (char& c : linux_path)
    if (c == '/') c = '\\';
  return "Z:" + linux_path;
}

std::string own_sid() {
  HANDLE token = nullptr;
  ::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token);
  std::vector<unsigned char> buf(512);
  DWORD size = 0;
  std::string out;
  wchar_t* text = nullptr;
  if (::GetTokenInformation(token, TokenUser, buf.data(), 512, &size) &&
      ::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, &text)) {
    for (const wchar_t* p = text; *p; ++p) out += static_cast<char>(*p);
    ::LocalFree(text);
  }
  ::CloseHandle(token);
  return out;
}

// This process's token with the Administrators group deny-only (the service
// refuses a token with it enabled), as a primary token.
std::shared_ptr<void> filtered_token() {
  HANDLE own = nullptr, out = nullptr;
  ::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own);
  SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  PSID admins = nullptr;
  ::AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0,
                             0, 0, 0, &admins);
  SID_AND_ATTRIBUTES deny{admins, 0};
  ::CreateRestrictedToken(own, 0, 1, &deny, 0, nullptr, 0, nullptr, &out);
  ::FreeSid(admins);
  ::CloseHandle(own);
  return out ? std::shared_ptr<void>(out, ::CloseHandle) : nullptr;
}

// All of an overlapped pipe's bytes until its writers are gone.
std::string read_to_end(HANDLE pipe) {
  std::string out;
  char buf[4096];
  while (true) {
    OVERLAPPED ov{};
    ov.hEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    DWORD n = 0;
    BOOL ok = ::ReadFile(pipe, buf, sizeof buf, nullptr, &ov);
    if (ok || ::GetLastError() == ERROR_IO_PENDING) ok = ::GetOverlappedResult(pipe, &ov, &n, TRUE);
    ::CloseHandle(ov.hEvent);
    if (!ok) return out;
    out.append(buf, n);
  }
}

class WindowsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "cgihost-unit-" + std::to_string(std::random_device{}());
    stop_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    service::settings s;
    s.name = name_;
    s.server_name = "this test";
    s.server_sid = own_sid();
    s.log = [this](service::level, const std::string& line) {
      std::lock_guard lock(mu_);
      log_ += line + "\n";
    };
    s.ready = [this] { ready_ = true; };
    thread_ = std::thread([this, s] {
      std::string error;
      if (!service::serve(s, stop_, error)) {
        std::lock_guard lock(mu_);
        log_ += "serve: " + error + "\n";
        ready_ = true;
      }
    });
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!ready_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    std::string error;
    broker_ = broker::connect(name_, error, 2);
    ASSERT_TRUE(broker_) << error << "\n" << log();
  }

  void TearDown() override {
    broker_.reset();
    ::SetEvent(stop_);
    thread_.join();
    ::CloseHandle(stop_);
  }

  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }

  std::string name_;
  HANDLE stop_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  std::string log_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<broker> broker_;
};

TEST_F(WindowsServiceTest, AChildStartsWithItsTokenAndEventAndComesBackWithLeastAccess) {
  const std::string child = windows_path(CGIHOST_PROGRAM_win_child);
  // An event it inherits, named in _FCGI_SHUTDOWN_EVENT_ as php-cgi reads it.
  SECURITY_ATTRIBUTES inheritable{sizeof inheritable, nullptr, TRUE};
  HANDLE event = ::CreateEventW(&inheritable, TRUE, FALSE, nullptr);
  const std::string ours = std::to_string(reinterpret_cast<std::uintptr_t>(event));
  launch_spec spec;
  spec.program = child;
  spec.argv = {child, "env"};
  spec.env = {"_FCGI_SHUTDOWN_EVENT_=" + ours, "OTHER=" + ours};
  spec.inherit = {event};
  spec.as = identity{};
  spec.as->name = "forwarded";
  spec.as->token = filtered_token();
  ASSERT_TRUE(spec.as->token);
  launch_error error;
  auto launched = broker_->launch(spec, error);
  ASSERT_TRUE(launched) << error.message() << "\n" << log();
  ASSERT_NE(launched->process, no_handle);
  ASSERT_NE(launched->job, no_handle);
  const std::string env = read_to_end(launched->stdout_fd);
  EXPECT_EQ(::WaitForSingleObject(launched->process, 10000), WAIT_OBJECT_0);
  DWORD code = 99;
  EXPECT_TRUE(::GetExitCodeProcess(launched->process, &code)) << ::GetLastError();
  EXPECT_EQ(code, 0u);
  // The event's value in the child is the service's duplicate, not ours;
  // another variable holding the same number is left alone.
  EXPECT_NE(env.find("_FCGI_SHUTDOWN_EVENT_="), std::string::npos) << env;
  EXPECT_EQ(env.find("_FCGI_SHUTDOWN_EVENT_=" + ours + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("OTHER=" + ours + "\n"), std::string::npos) << env;
  EXPECT_NE(log().find("started pid " + std::to_string(launched->pid)), std::string::npos) << log();
  // Least access: the process may be waited for, never written to or ended.
  EXPECT_FALSE(::TerminateProcess(launched->process, 1));
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_ACCESS_DENIED));
  EXPECT_TRUE(::TerminateJobObject(launched->job, 1)) << ::GetLastError();
  for (HANDLE h : {launched->process, launched->job, launched->stdout_fd, launched->stderr_fd,
                   launched->stdin_fd, event})
    if (h != no_handle && h != nullptr) ::CloseHandle(h);
}

TEST_F(WindowsServiceTest, AnAccountTheConfigDoesNotNameIsRefused) {
  launch_spec spec;
  spec.program = windows_path(CGIHOST_PROGRAM_win_child);
  spec.argv = {spec.program, "exit", "0"};
  spec.as = identity{};
  spec.as->name = "nobody-configured";
  launch_error error;
  EXPECT_FALSE(broker_->launch(spec, error));
  EXPECT_EQ(error.step, launch_step::broker);
  EXPECT_NE(error.detail.find("not one the config allows"), std::string::npos) << error.detail;
  // A malformed request: a relative program.
  spec.program = "win_child.exe";
  spec.as.reset();
  EXPECT_FALSE(broker_->launch(spec, error));
  EXPECT_NE(error.detail.find("malformed"), std::string::npos) << error.detail;
}

// FILE_FLAG_FIRST_PIPE_INSTANCE: a second server for a name in use (another
// service, or a squatter that came first) does not start.
TEST_F(WindowsServiceTest, ATakenPipeNameIsAnError) {
  service::settings s;
  s.name = name_;
  s.server_sid = own_sid();
  s.log = [](service::level, const std::string&) {};
  HANDLE stop = ::CreateEventW(nullptr, TRUE, TRUE, nullptr);
  std::string error;
  const bool served = service::serve(s, stop, error);
  ::CloseHandle(stop);
  if (served && ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version"))
    GTEST_SKIP() << "Wine makes a first instance of a pipe name in use "
                    "(FILE_FLAG_FIRST_PIPE_INSTANCE is not enforced there)";
  EXPECT_FALSE(served);
  EXPECT_NE(error.find("\\\\.\\pipe\\" + name_ + "-spawner: "), std::string::npos) << error;
  EXPECT_NE(error.find("another service"), std::string::npos) << error;
}

}  // namespace
}  // namespace cgihost::spawner
