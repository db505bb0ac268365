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
#include <aclapi.h>
#include <sddl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "spawner/broker.hpp"
#include "spawner/broker_wire.hpp"
#include "spawner/launch.hpp"
#include "spawner/windows/late_reply.hpp"
#include "spawner/windows/pipe_message.hpp"
#include "spawner/windows/service.hpp"
#include "spawner/windows_security.hpp"
#include "support/eventually.hpp"
#include "windows/test_tokens.hpp"

namespace cgihost::spawner {
namespace {
using namespace std::chrono_literals;
using test::filtered_token;
using test::is_wine;
using test::own_sid;
using test::own_token;

std::string windows_path(std::string linux_path) {
  for (char& c : linux_path)
    if (c == '/') c = '\\';
  return "Z:" + linux_path;
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
  // [authentication] iis_token of the service under test.
  virtual bool iis_token() const { return true; }

  void SetUp() override {
    name_ = "cgihost-unit-" + std::to_string(std::random_device{}());
    stop_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    service::settings s;
    s.name = name_;
    s.server_name = "this test";
    s.server_sid = own_sid();
    s.iis_token = iis_token();
    s.log = [this](service::level, const std::string& line) {
      std::lock_guard lock(mu_);
      log_ += line + "\n";
    };
    s.ready = [this] { ready_ = true; };
    // Two accounts the config allows: "tester" (this user: its logon gives
    // a realistic token of it, Wine's own logons give none) and "failing"
    // (its logon fails).
    s.allowed = {account("tester", own_sid()), account("failing", "S-1-5-21-1-2-3-4242")};
    s.logon = [](const identity& a, std::string& error) -> std::shared_ptr<void> {
      if (a.name == "tester") return filtered_token();
      error = "LogonUserW: the user name or password is incorrect (a test's)";
      return nullptr;
    };
    release_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    s.replying = [this] {
      if (slow_) ::WaitForSingleObject(release_, 10000);
    };
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
    ::SetEvent(release_);
    broker_.reset();
    ::SetEvent(stop_);
    thread_.join();
    ::CloseHandle(stop_);
    ::CloseHandle(release_);
  }

  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }

  // `spec` is refused by the service: step `broker`, `detail` in the
  // reason, nothing started.
  void expect_refused(const launch_spec& spec, const std::string& detail) {
    launch_error error;
    EXPECT_FALSE(broker_->launch(spec, error));
    EXPECT_EQ(error.step, launch_step::broker);
    EXPECT_NE(error.detail.find(detail), std::string::npos) << error.detail;
    EXPECT_EQ(log().find("started pid"), std::string::npos) << log();
  }

  // An account as the front end and the service know it: its config name
  // and SID, no token.
  static identity account(const std::string& name, const std::string& sid) {
    identity id;
    id.name = name;
    id.sid = sid;
    return id;
  }

  std::string name_;
  HANDLE stop_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  std::string log_;
  std::atomic<bool> ready_{false};
  // With slow_, the service writes no reply before release_ is set.
  std::atomic<bool> slow_{false};
  HANDLE release_ = nullptr;
  std::unique_ptr<broker> broker_;
};

// The handle values open in this process now (GetHandleInformation; Wine's
// GetProcessHandleCount says 0).
std::set<std::uintptr_t> open_handles() {
  std::set<std::uintptr_t> out;
  DWORD flags = 0;
  for (std::uintptr_t v = 4; v < 0x10000; v += 4)
    if (::GetHandleInformation(reinterpret_cast<HANDLE>(v), &flags)) out.insert(v);
  return out;
}

// The number after the last `prefix` in `text`, or 0.
unsigned long number_after(const std::string& text, const std::string& prefix) {
  const auto at = text.rfind(prefix);
  return at == std::string::npos ? 0 : std::stoul(text.substr(at + prefix.size()));
}

launch_spec forwarded_spec(std::vector<std::string> args) {
  launch_spec spec;
  spec.program = windows_path(CGIHOST_PROGRAM_win_child);
  spec.argv = {spec.program};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.as = identity{};
  spec.as->name = "forwarded";
  spec.as->token = filtered_token();
  return spec;
}

// The front end gave up waiting (its reply timeout) and closed its lane
// before the service replied: the service, whose reply then cannot be
// written, takes back the handles it gave the front end
// (DUPLICATE_CLOSE_SOURCE) and ends the child's job.
TEST_F(WindowsServiceTest, AReplyTheFrontEndNoLongerWaitsForLeavesNoHandleNorChild) {
  launch_error error;
  auto warm = broker_->launch(forwarded_spec({"exit", "0"}), error);  // first-use handles
  ASSERT_TRUE(warm) << error.message() << "\n" << log();
  ::WaitForSingleObject(warm->process, 10000);
  for (HANDLE h : {warm->process, warm->job, warm->stdout_fd, warm->stderr_fd, warm->stdin_fd})
    if (h != no_handle && h != nullptr) ::CloseHandle(h);
  broker_->set_reply_timeout(300ms);
  slow_ = true;
  const auto before = open_handles();
  EXPECT_FALSE(broker_->launch(forwarded_spec({"sleep"}), error));
  EXPECT_EQ(error.code, std::make_error_code(std::errc::timed_out)) << error.message();
  std::vector<std::uintptr_t> fresh;  // the child's handles given to this process, among others
  for (auto v : open_handles())
    if (!before.contains(v)) fresh.push_back(v);
  EXPECT_GE(fresh.size(), 4u);  // stdout, stderr, process, job
  const auto pid = number_after(log(), "started pid ");
  ASSERT_NE(pid, 0u) << log();
  HANDLE child = ::OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
  ASSERT_NE(child, nullptr) << ::GetLastError();
  ::SetEvent(release_);
  EXPECT_EQ(::WaitForSingleObject(child, 10000), WAIT_OBJECT_0);
  ::CloseHandle(child);
  EXPECT_TRUE(test::eventually([&] {
    return log().find("did not take the reply for pid " + std::to_string(pid)) != std::string::npos;
  })) << log();
  DWORD flags = 0;
  for (auto v : fresh)
    EXPECT_TRUE(test::eventually([&] {
      return !::GetHandleInformation(reinterpret_cast<HANDLE>(v), &flags);
    })) << "handle "
        << v << " is still open";
}

// The front end's access checks (may_access) as an account the config
// names: the service logs it on as for a launch and gives back an
// identification-level token (AccessCheck only), kept 30 s.
TEST_F(WindowsServiceTest, AnAllowedAccountsTokenComesBackAtIdentificationLevel) {
  std::string why;
  bool logon_failed = true;
  auto token = broker_->access_token(account("tester", own_sid()), why, logon_failed);
  ASSERT_TRUE(token) << why << "\n" << log();
  EXPECT_FALSE(logon_failed);
  SECURITY_IMPERSONATION_LEVEL level{};
  TOKEN_TYPE type{};
  DWORD size = 0;
  ASSERT_TRUE(::GetTokenInformation(token.get(), TokenType, &type, sizeof type, &size))
      << ::GetLastError();
  EXPECT_EQ(type, TokenImpersonation);
  ASSERT_TRUE(
      ::GetTokenInformation(token.get(), TokenImpersonationLevel, &level, sizeof level, &size))
      << ::GetLastError();
  EXPECT_EQ(level, SecurityIdentification);
  // TOKEN_QUERY only: nothing can be made of it.
  HANDLE dup = nullptr;
  EXPECT_FALSE(::DuplicateTokenEx(token.get(), TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                                  TokenPrimary, &dup));
  if (dup) ::CloseHandle(dup);
  auto again = broker_->access_token(account("tester", own_sid()), why, logon_failed);
  EXPECT_EQ(again.get(), token.get());  // kept, not asked for again
}

TEST_F(WindowsServiceTest, NoTokenForAnAccountTheConfigDoesNotNameOrWhoseLogonFails) {
  std::string why;
  bool logon_failed = true;
  EXPECT_FALSE(
      broker_->access_token(account("nobody-configured", "S-1-5-21-9-9-9-9"), why, logon_failed));
  EXPECT_FALSE(logon_failed);
  EXPECT_NE(why.find("not one the config allows"), std::string::npos) << why;
  EXPECT_NE(log().find("refused a token request"), std::string::npos) << log();
  EXPECT_FALSE(broker_->access_token(account("failing", "S-1-5-21-1-2-3-4242"), why, logon_failed));
  EXPECT_TRUE(logon_failed);
  EXPECT_NE(why.find("the user name or password is incorrect (a test's)"), std::string::npos)
      << why;
}

// Only the Administrators may read the file: this process (Wine's user is
// one) may; the account, whose token from the service has them deny-only,
// may not. Without the service the account is judged as this process.
TEST_F(WindowsServiceTest, MayAccessJudgesAnAccountWithTheServicesToken) {
  const file_info file = with_security(L"O:BAG:BAD:P(A;;FA;;;BA)");
  std::string why;
  access_denial denial{};
  if (!may_access(identity{}, file, false, why))
    GTEST_SKIP() << "this test's user is no administrator: " << why;
  EXPECT_FALSE(may_access(account("tester", own_sid()), file, false, why, denial));
  EXPECT_EQ(denial, access_denial::denied);
  EXPECT_NE(why.find("the spawner service's identification token) may not read it"),
            std::string::npos)
      << why;
  EXPECT_FALSE(may_access(account("failing", "S-1-5-21-1-2-3-4242"), file, false, why, denial));
  EXPECT_EQ(denial, access_denial::logon_failed);
  EXPECT_NE(why.find("never judged as this process"), std::string::npos) << why;
  EXPECT_NE(why.find("(a test's)"), std::string::npos) << why;
  EXPECT_FALSE(
      may_access(account("nobody-configured", "S-1-5-21-9-9-9-9"), file, false, why, denial));
  EXPECT_EQ(denial, access_denial::no_token);
  broker_.reset();  // no service connected
  EXPECT_TRUE(may_access(account("tester", own_sid()), file, false, why, denial)) << why;
}

// The front end's side: a reply already in the pipe when it gave up is taken
// without waiting and the handles it names are closed; an empty pipe or a
// refusal closes nothing (and does not wait).
TEST(LateReplyTest, AReplyInThePipeHasItsHandlesClosed) {
  const std::wstring name = L"\\\\.\\pipe\\cgihost-late-" + std::to_wstring(std::random_device{}());
  HANDLE server = ::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX,
                                     PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 4096,
                                     4096, 0, nullptr);
  ASSERT_NE(server, INVALID_HANDLE_VALUE) << ::GetLastError();
  HANDLE client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                                OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
  ASSERT_NE(client, INVALID_HANDLE_VALUE) << ::GetLastError();
  DWORD mode = PIPE_READMODE_MESSAGE;
  ASSERT_TRUE(::SetNamedPipeHandleState(client, &mode, nullptr, nullptr)) << ::GetLastError();
  EXPECT_EQ(win32::drop_late_reply(client), 0);  // nothing there: no wait
  auto value = [](HANDLE h) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
  };
  wire::launch_started started;
  std::vector<HANDLE> given;
  for (auto* v : {&started.stdout_handle, &started.process_handle, &started.job_handle}) {
    given.push_back(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    *v = value(given.back());
  }
  const std::string refused = wire::encode(wire::launch_reply{wire::launch_failed{}});
  ASSERT_TRUE(win32::write_message(server, refused));
  EXPECT_EQ(win32::drop_late_reply(client), 0);
  ASSERT_TRUE(win32::write_message(server, wire::encode(wire::launch_reply{started})));
  EXPECT_EQ(win32::drop_late_reply(client), 3);
  DWORD flags = 0;
  for (HANDLE h : given) EXPECT_FALSE(::GetHandleInformation(h, &flags)) << h;
  ::CloseHandle(client);
  ::CloseHandle(server);
}

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
  launch_spec spec = forwarded_spec({"exit", "0"});
  spec.as = identity{};
  spec.as->name = "nobody-configured";
  expect_refused(spec, "not one the config allows");
  // A malformed request: a relative program.
  spec.program = "win_child.exe";
  spec.as.reset();
  expect_refused(spec, "malformed");
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

// One filter for forwarded and logged-on tokens: an enabled administrators'
// group or a master's privilege is refused; a UAC-filtered user's token is not.
TEST(TokenRefusalTest, AdministratorsAndPowerfulPrivilegesAreRefused) {
  const std::string me = own_sid();
  auto own = own_token();
  auto realistic = filtered_token();
  auto privileged = filtered_token(false);
  ASSERT_TRUE(own && realistic && privileged);
  EXPECT_EQ(service::token_refusal(realistic.get(), me), "");
  const std::string priv = service::token_refusal(privileged.get(), me);
  if (is_wine() || !priv.empty()) {
    EXPECT_NE(priv.find(" holds Se"), std::string::npos) << priv;
  }
  const std::string admin = service::token_refusal(own.get(), me);
  if (is_wine() || !admin.empty()) {
    EXPECT_NE(admin.find("S-1-5-32-544"), std::string::npos) << admin;
  }
}

TEST_F(WindowsServiceTest, AForwardedTokenWithPowerfulPrivilegesIsRefused) {
  launch_spec spec = forwarded_spec({"exit", "0"});
  spec.as->token = filtered_token(false);
  if (service::token_refusal(spec.as->token.get(), own_sid()).empty())
    GTEST_SKIP() << "this test's user holds no such privilege";
  expect_refused(spec, "the forwarded token is refused: ");
  EXPECT_NE(log().find("refused a spawn request"), std::string::npos) << log();
}

// A pseudo-handle (the front end's own process, -1) is never duplicated out
// of the front end as a child's handle.
TEST_F(WindowsServiceTest, APseudoHandleIsRefused) {
  launch_spec spec = forwarded_spec({"exit", "0"});
  spec.inherit = {::GetCurrentProcess()};
  expect_refused(spec, "0xffffffffffffffff of the front end is no handle it may pass");
}

// The server account reads and writes the pipe but never makes an instance
// of it (FILE_CREATE_PIPE_INSTANCE, 0x4, is FILE_APPEND_DATA, part of
// FILE_GENERIC_WRITE): its ACE is 0x12019b. (Here the service's own account,
// which alone has 0x4, is the same user.)
TEST_F(WindowsServiceTest, ThePipesDaclLetsTheServerAccountMakeNoInstance) {
  const std::wstring pipe =
      L"\\\\.\\pipe\\" + std::wstring(name_.begin(), name_.end()) + L"-spawner";
  HANDLE h = INVALID_HANDLE_VALUE;
  for (int i = 0; i < 10 && h == INVALID_HANDLE_VALUE; ++i) {
    h = ::CreateFileW(pipe.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                      nullptr);
    if (h == INVALID_HANDLE_VALUE && ::GetLastError() == ERROR_PIPE_BUSY)
      ::WaitNamedPipeW(pipe.c_str(), 1000);  // the next instance is being made
  }
  ASSERT_NE(h, INVALID_HANDLE_VALUE) << ::GetLastError();
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD r = ::GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                                    nullptr, &dacl, nullptr, &sd);
  ::CloseHandle(h);
  if (r != ERROR_SUCCESS || !dacl) {
    if (sd) ::LocalFree(sd);
    GTEST_SKIP() << "the pipe's DACL cannot be read here (" << r << ")";
  }
  bool read_write = false;
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    ACCESS_ALLOWED_ACE* ace = nullptr;
    if (!::GetAce(dacl, i, reinterpret_cast<void**>(&ace))) continue;
    if (ace->Mask == 0x12019b) read_write = true;
    EXPECT_FALSE((ace->Mask & FILE_READ_DATA) && (ace->Mask & FILE_CREATE_PIPE_INSTANCE))
        << std::hex << ace->Mask;
  }
  EXPECT_TRUE(read_write);
  ::LocalFree(sd);
}

class WindowsServiceWithoutIisTokenTest : public WindowsServiceTest {
 protected:
  bool iis_token() const override { return false; }
};

TEST_F(WindowsServiceWithoutIisTokenTest, AForwardedTokenIsRefused) {
  expect_refused(forwarded_spec({"exit", "0"}), "[authentication] iis_token is off");
  EXPECT_NE(log().find("iis_token is off"), std::string::npos) << log();
}

// A wait that fails is an error with a log line, not a quiet stop.
TEST(WindowsServiceServeTest, AFailedWaitIsAnErrorNotAStop) {
  service::settings s;
  s.name = "cgihost-unit-" + std::to_string(std::random_device{}());
  s.server_sid = own_sid();
  std::string logged;
  s.log = [&logged](service::level, const std::string& line) { logged += line + "\n"; };
  std::string error;
  // No such handle: WaitForMultipleObjects fails at once.
  EXPECT_FALSE(service::serve(s, reinterpret_cast<HANDLE>(std::uintptr_t{0x7ff0}), error));
  EXPECT_NE(error.find("waiting for a client: "), std::string::npos) << error;
  EXPECT_NE(logged.find("the service stops serving"), std::string::npos) << logged;
}

// A failed logon is cached for 30 s (the same error, not retried), keyed by
// the password file's last write too: a changed file is tried at once.
TEST(ServiceAccountTokenTest, AFailureIsCachedUntilThePasswordFileChanges) {
  const auto n = std::to_string(std::random_device{}() % 100000);
  identity a;
  a.name = "cgihost-no-such-user-" + n;
  a.sid = "S-1-5-21-1-2-3-" + n;
  const auto file = std::filesystem::temp_directory_path() / ("cgihost-pw-" + n + ".txt");
  std::ofstream(file) << "";
  std::string first, second, third;
  EXPECT_FALSE(service::account_token(a, file, first, own_sid()));
  EXPECT_FALSE(service::account_token(a, file, second, own_sid()));
  EXPECT_EQ(first.find("not retried yet"), std::string::npos) << first;
  EXPECT_NE(second.find("not retried yet"), std::string::npos) << second;
  std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + 1min);
  EXPECT_FALSE(service::account_token(a, file, third, own_sid()));
  EXPECT_EQ(third.find("not retried yet"), std::string::npos) << third;
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace cgihost::spawner
