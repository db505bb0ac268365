// The privileged spawner service (cgihost service run/install/uninstall)
// and the front end that starts children through it ([identity]
// spawner_service): real processes, a real named pipe, under Wine in CI.
//
// Wine runs everything as one user, so the front end's account ([identity]
// server) is the test's own; its logons (S4U) do not give a token a child
// can run with, and its CreateProcessAsUserW ignores the token: what those
// would show is skipped with that reason. The token-forwarding path is run
// with a token of the test's own user, filtered so that its Administrators
// group is deny-only (Wine's user is an administrator; the service refuses
// such a token).
#include <winsock2.h>
#include <ws2tcpip.h>
// winsock2 before windows.h
#include <gtest/gtest.h>
#include <windows.h>
// After <windows.h>:
#include <sddl.h>
#include <tlhelp32.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "windows/http_client.hpp"
#include "windows/test_paths.hpp"
#include "windows/test_tokens.hpp"

namespace {

namespace fs = std::filesystem;
using cgihost::test::connect_to;
using cgihost::test::free_port;
using cgihost::test::http_get;
using cgihost::test::response;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Polls `done` until it holds or `limit` passes (no event to wait on).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 20s) {
  const auto until = clock_type::now() + limit;
  while (clock_type::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A process the test started, in a job of its own (it and what it starts
// end with the test), its output to `log`.
struct started_process {
  HANDLE job = nullptr;
  HANDLE process = nullptr;
  DWORD pid = 0;

  bool start(const std::wstring& line, const fs::path& log, const fs::path& dir) {
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
    HANDLE out =
        ::CreateFileW(log.wstring().c_str(), GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                      CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    STARTUPINFOW si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = si.hStdError = out;
    PROCESS_INFORMATION pi{};
    job = ::CreateJobObjectW(nullptr, nullptr);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    ::SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    std::wstring cmd = line;
    const BOOL ok = ::CreateProcessW(nullptr, cmd.data(), nullptr, nullptr, TRUE,
                                     CREATE_SUSPENDED | CREATE_NO_WINDOW, nullptr,
                                     dir.wstring().c_str(), &si, &pi);
    ::CloseHandle(out);
    if (!ok) return false;
    process = pi.hProcess;
    pid = pi.dwProcessId;
    ::AssignProcessToJobObject(job, process);
    ::ResumeThread(pi.hThread);
    ::CloseHandle(pi.hThread);
    return true;
  }
  bool exited() const { return process && ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0; }
  DWORD exit_code(DWORD wait_ms) const {
    DWORD code = STILL_ACTIVE;
    if (::WaitForSingleObject(process, wait_ms) == WAIT_OBJECT_0)
      ::GetExitCodeProcess(process, &code);
    return code;
  }
  void stop() {
    if (job) {
      ::TerminateJobObject(job, 1);
      if (process) ::WaitForSingleObject(process, 10000);
      ::CloseHandle(job);
    }
    if (process) ::CloseHandle(process);
    job = process = nullptr;
  }
};

std::wstring exe() { return cgihost::test::native_path(CGIHOST_EXE); }

std::wstring wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }

// DOMAIN\user of a token.
std::string user_of(HANDLE token) {
  std::vector<unsigned char> buf(512);
  DWORD size = 0;
  if (!::GetTokenInformation(token, TokenUser, buf.data(), 512, &size)) return {};
  char name[256], domain[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use{};
  if (!::LookupAccountSidA(nullptr, reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, name, &nn,
                           domain, &dn, &use))
    return {};
  return dn ? std::string(domain) + "\\" + name : std::string(name);
}

// The parent of process `pid` (toolhelp), 0 when it is not found.
DWORD parent_of(DWORD pid) {
  HANDLE snap = ::CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap == INVALID_HANDLE_VALUE) return 0;
  PROCESSENTRY32W e{};
  e.dwSize = sizeof e;
  DWORD parent = 0;
  for (BOOL more = ::Process32FirstW(snap, &e); more; more = ::Process32NextW(snap, &e))
    if (e.th32ProcessID == pid) parent = e.th32ParentProcessID;
  ::CloseHandle(snap);
  return parent;
}

bool process_gone(DWORD pid) {
  HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
  if (!h) return true;
  const bool gone = ::WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
  ::CloseHandle(h);
  return gone;
}

class ServiceWindowsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    WSADATA wsa;
    ::WSAStartup(MAKEWORD(2, 2), &wsa);
  }

  void SetUp() override {
    const auto n = std::random_device{}();
    dir_ = fs::temp_directory_path() / ("cgihost-wsvc-" + std::to_string(n));
    name_ = "cgihost-test-" + std::to_string(n);
    fs::create_directories(dir_ / "site" / "cgi-bin");
    fs::copy_file(cgihost::test::native_path(CGIHOST_PROGRAM_win_cgi_probe),
                  dir_ / "site" / "cgi-bin" / "probe.exe");
    HANDLE own = nullptr;
    ASSERT_TRUE(::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own));
    me_ = user_of(own);
    ::CloseHandle(own);
    ASSERT_FALSE(me_.empty());
  }

  void TearDown() override {
    front_.stop();
    service_.stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A config with the CGI module on /cgi-bin/, children as LocalService
  // unless a token comes, the front end's account `server`. The service's
  // process runs as `service_account` (under Wine every process runs as the
  // test's user, so that is the default here; a real install has LocalSystem).
  fs::path write_config(const std::string& server, const std::string& service,
                        std::string service_account = {}) {
    if (service_account.empty()) service_account = me_;
    port_ = free_port();
    const fs::path config = dir_ / "cgihost.toml";
    std::ofstream(config, std::ios::binary)
        << "listen = [\"127.0.0.1:" << port_ << "\"]\n"
        << "document_root = '" << (dir_ / "site").string() << "'\n"
        << "[identity]\nserver = '" << server << "'\n"
        << "process = 'NT AUTHORITY\\LOCAL SERVICE'\nanonymous = 'NT AUTHORITY\\LOCAL SERVICE'\n"
        << "spawner_service = \"" << service << "\"\n"
        << "spawner_service_account = '" << service_account << "'\n"
        << "[authentication]\niis_token = true\n"
        << "[[handlers]]\nmatch = \"/cgi-bin/*\"\nmodule = \"cgi\"\n"
        << "[[handlers]]\nmatch = \"*.php\"\nmodule = \"fastcgi\"\npool = \"resp\"\n"
        << "[pools.resp]\ncommand = ['"
        << fs::path(cgihost::test::native_path(CGIHOST_PROGRAM_win_fcgi_responder)).string()
        << "']\n"
        << "max_instances = 1\n"
        << "[cgi]\ntimeout = \"60s\"\n";
    return config;
  }

  // Starts `cgihost.exe service run --console` for `config`; true once it
  // listens (its log says so).
  bool start_service(const fs::path& config) {
    const std::wstring line = L"\"" + exe() + L"\" service run --console -c \"" + config.wstring() +
                              L"\" --name " + wide(name_);
    if (!service_.start(line, dir_ / "service.log", dir_)) return false;
    return eventually([&] {
             return service_.exited() || service_log().find("listens on") != std::string::npos;
           }) &&
           !service_.exited();
  }

  // Starts `cgihost.exe serve` for `config`; true once it answers.
  bool start_front(const fs::path& config) {
    const std::wstring line = L"\"" + exe() + L"\" serve -c \"" + config.wstring() + L"\"";
    if (!front_.start(line, dir_ / "front.log", dir_)) return false;
    return eventually([&] {
             if (front_.exited()) return true;
             SOCKET s = connect_to(port_);
             if (s == INVALID_SOCKET) return false;
             ::closesocket(s);
             return true;
           }) &&
           !front_.exited();
  }

  std::string service_log() const { return read_file(dir_ / "service.log"); }
  std::string front_log() const { return read_file(dir_ / "front.log"); }
  std::string logs() const {
    return "--- service log:\n" + service_log() + "--- front end log:\n" + front_log();
  }

  response get(const std::string& target, const std::string& fields = "") {
    return http_get(port_, target, fields);
  }

  // A token of the test's user made a realistic user's (the service refuses
  // an administrator's or a privileged one): the Administrators group
  // deny-only, no privilege but SeChangeNotify (DISABLE_MAX_PRIVILEGE),
  // Medium integrity where Wine allows it; duplicated into the front end as
  // IIS does: the value there.
  std::uintptr_t token_into_front() {
    HANDLE filtered = cgihost::test::new_filtered_token(), there = nullptr;
    EXPECT_TRUE(filtered) << ::GetLastError();
    EXPECT_TRUE(::DuplicateHandle(::GetCurrentProcess(), filtered, front_.process, &there, 0, FALSE,
                                  DUPLICATE_SAME_ACCESS))
        << ::GetLastError();
    ::CloseHandle(filtered);
    return reinterpret_cast<std::uintptr_t>(there);
  }

  static std::string hex(std::uintptr_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
  }

  std::wstring pipe() const { return L"\\\\.\\pipe\\" + wide(name_) + L"-spawner"; }

  fs::path dir_;
  std::string name_, me_;
  unsigned short port_ = 0;
  started_process service_, front_;
};

// (1) A CGI request runs through the service: the child is the service's,
// and both logs say who started it.
TEST_F(ServiceWindowsTest, ACgiRequestRunsThroughTheService) {
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  EXPECT_NE(front_log().find("spawner service " + name_ + " (pid " + std::to_string(service_.pid) +
                             ") starts children as: "),
            std::string::npos)
      << logs();
  const std::string pidfile = (dir_ / "child.pid").generic_string();
  auto r = get("/cgi-bin/probe.exe?mode=env&pidfile=" + pidfile,
               "X-IIS-WindowsAuthToken: " + hex(token_into_front()) + "\r\n");
  ASSERT_EQ(r.status, 200) << r.head << r.body << logs();
  EXPECT_NE(r.body.find("REMOTE_USER=" + me_ + "\n"), std::string::npos) << r.body;
  const std::string child = read_file(pidfile);
  ASSERT_FALSE(child.empty()) << "the probe wrote no pid";
  EXPECT_NE(service_log().find("started pid " + std::to_string(std::stoul(child)) +
                               " for the front end (pid " + std::to_string(front_.pid) + ")"),
            std::string::npos)
      << logs();
}

// (1b) Without a token the child is to run as LocalService: the service logs
// it on (S4U), which Wine cannot (its LsaLookupAuthenticationPackage fails);
// a failed logon is a 401 with the reason. (On Windows the logon succeeds:
// skipped there, nothing failed to show.)
TEST_F(ServiceWindowsTest, AnAccountsLogonFailureIs401WithTheReason) {
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  auto r = get("/cgi-bin/probe.exe?mode=tiny");
  if (r.status == 200)
    GTEST_SKIP() << "the S4U logon of LocalService succeeded here (a real LocalSystem service): "
                    "nothing failed to show";
  EXPECT_EQ(r.status, 401) << r.head << r.body << logs();
  // The script's access check, before any spawn, asks the service for the
  // account's token: its logon failed (never judged as the front end).
  EXPECT_NE(front_log().find("401 access.logon_failed"), std::string::npos) << logs();
  EXPECT_NE(front_log().find("LOCAL SERVICE"), std::string::npos) << logs();
  EXPECT_NE(service_log().find("refused a token request"), std::string::npos) << logs();
  // A static file the front end's account may read: the same, not served.
  std::ofstream(dir_ / "site" / "x.txt") << "x";
  auto file = get("/x.txt");
  EXPECT_EQ(file.status, 401) << file.head << file.body << logs();
  EXPECT_NE(front_log().find("static file /x.txt: no token of"), std::string::npos) << logs();
}

// (1b') The same for a pool: its instance runs as the process identity
// (LocalService), whose logon fails under Wine: 401 with the reason (the
// script's access check for the account), not 503.
TEST_F(ServiceWindowsTest, APoolInstancesLogonFailureIs401WithTheReason) {
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  std::ofstream(dir_ / "site" / "x.php") << "";
  auto r = get("/x.php");
  if (r.status == 200)
    GTEST_SKIP() << "the S4U logon of LocalService succeeded here (a real LocalSystem service): "
                    "nothing failed to show";
  EXPECT_EQ(r.status, 401) << r.head << r.body << logs();
  EXPECT_NE(front_log().find("[pool resp] rid="), std::string::npos) << logs();
  EXPECT_NE(front_log().find("401 access.logon_failed"), std::string::npos) << logs();
  EXPECT_NE(front_log().find("LOCAL SERVICE"), std::string::npos) << logs();
  auto again = get("/x.php");  // the service's failed logon, kept 30 s: the same answer
  EXPECT_EQ(again.status, 401) << again.head << logs();
}

// (1c) A forwarded token with the Administrators group enabled is never used.
TEST_F(ServiceWindowsTest, AnAdministratorsTokenIsRefused) {
  HANDLE own = nullptr, there = nullptr;
  ASSERT_TRUE(::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own));
  SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  PSID admins = nullptr;
  ::AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0,
                             0, 0, 0, &admins);
  BOOL admin = FALSE;
  HANDLE imp = nullptr;
  ::DuplicateToken(own, SecurityIdentification, &imp);
  ::CheckTokenMembership(imp, admins, &admin);
  ::CloseHandle(imp);
  ::FreeSid(admins);
  if (!admin) {
    ::CloseHandle(own);
    GTEST_SKIP() << "this test's user is no administrator: no such token to forward";
  }
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  ASSERT_TRUE(::DuplicateHandle(::GetCurrentProcess(), own, front_.process, &there, 0, FALSE,
                                DUPLICATE_SAME_ACCESS));
  ::CloseHandle(own);
  auto r = get("/cgi-bin/probe.exe?mode=tiny",
               "X-IIS-WindowsAuthToken: " + hex(reinterpret_cast<std::uintptr_t>(there)) + "\r\n");
  EXPECT_NE(r.status, 200) << r.body << logs();
  EXPECT_EQ(r.body.find("hello"), std::string::npos) << r.body;
  EXPECT_EQ(service_log().find("started pid"), std::string::npos) << logs();
}

// (2) A pipe client that does not run as [identity] server is refused.
TEST_F(ServiceWindowsTest, APipeClientOfAnotherAccountIsRefused) {
  const auto config = write_config("NT AUTHORITY\\NETWORK SERVICE", name_);
  ASSERT_TRUE(start_service(config)) << logs();
  HANDLE h = ::CreateFileW(pipe().c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                           0, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    // The DACL's refusal (real Windows): the first gate.
    EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_ACCESS_DENIED));
    return;
  }
  // Wine does not check the pipe's DACL: the second gate closes it.
  DWORD mode = PIPE_READMODE_MESSAGE;
  ::SetNamedPipeHandleState(h, &mode, nullptr, nullptr);
  const char request[] = "L";
  DWORD n = 0;
  ::WriteFile(h, request, 1, &n, nullptr);
  char buf[256];
  EXPECT_FALSE(::ReadFile(h, buf, sizeof buf, &n, nullptr)) << "the service answered";
  ::CloseHandle(h);
  const std::string line =
      "refused a pipe client: pid " + std::to_string(::GetCurrentProcessId()) + " runs as " + me_;
  EXPECT_TRUE(eventually([&] { return service_log().find(line) != std::string::npos; })) << logs();
  EXPECT_NE(service_log().find("not as the [identity] server account"), std::string::npos);
}

// (3) The front end killed: what it started through the service ends.
TEST_F(ServiceWindowsTest, KillingTheFrontEndEndsItsChildren) {
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  const fs::path pidfile = dir_ / "sleeper.pid";
  const std::string token = hex(token_into_front());
  std::thread request([&] {
    get("/cgi-bin/probe.exe?mode=sleep&n=60&pidfile=" + pidfile.generic_string(),
        "X-IIS-WindowsAuthToken: " + token + "\r\n");
  });
  const bool started = eventually([&] { return !read_file(pidfile).empty(); });
  DWORD child = started ? static_cast<DWORD>(std::stoul(read_file(pidfile))) : 0;
  if (started) {
    EXPECT_EQ(parent_of(child), service_.pid) << "the child is not the service's";
    ::TerminateProcess(front_.process, 1);
  }
  request.join();
  ASSERT_TRUE(started) << logs();
  EXPECT_TRUE(eventually([&] { return process_gone(child); }))
      << "child " << child << " outlived its front end";
  EXPECT_FALSE(service_.exited()) << "the service serves on";
}

// The service ended under the front end: it stops (exit 1), as cgihost does
// on POSIX when its spawner process ends.
TEST_F(ServiceWindowsTest, TheFrontEndStopsWhenTheServiceEnds) {
  const auto config = write_config(me_, name_);
  ASSERT_TRUE(start_service(config)) << logs();
  ASSERT_TRUE(start_front(config)) << logs();
  ::TerminateJobObject(service_.job, 1);
  EXPECT_EQ(front_.exit_code(20000), 1u) << logs();
  EXPECT_NE(front_log().find("the spawner process (pid " + std::to_string(service_.pid) +
                             ") ended: no child can start any more"),
            std::string::npos)
      << logs();
}

// (4) spawner_service names a service that is not there: a start-up error.
TEST_F(ServiceWindowsTest, NoServiceIsAStartUpError) {
  const auto config = write_config(me_, name_);
  const std::wstring line = L"\"" + exe() + L"\" serve -c \"" + config.wstring() + L"\"";
  ASSERT_TRUE(front_.start(line, dir_ / "front.log", dir_));
  const DWORD code = front_.exit_code(30000);
  EXPECT_NE(code, static_cast<DWORD>(STILL_ACTIVE)) << "serve runs on without its service";
  EXPECT_EQ(code, 1u) << front_log();
  const std::string log = front_log();
  EXPECT_NE(log.find("cannot start: the spawner service " + name_ +
                     " does not answer: \\\\.\\pipe\\" + name_ + "-spawner: "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("install and start it"), std::string::npos) << log;
}

// (4b) With the service stopped, any local user may serve its pipe: the front
// end refuses a pipe whose server runs as another account than
// [identity] spawner_service_account, before sending it anything.
TEST_F(ServiceWindowsTest, APipeServedByAnotherAccountIsRefusedAtStartUp) {
  // This test serves the pipe: it runs as me_, not as LocalSystem.
  HANDLE server =
      ::CreateNamedPipeW(pipe().c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4, 65536, 65536, 0, nullptr);
  ASSERT_NE(server, INVALID_HANDLE_VALUE) << ::GetLastError();
  const auto config = write_config(me_, name_, "NT AUTHORITY\\SYSTEM");
  const std::wstring line = L"\"" + exe() + L"\" serve -c \"" + config.wstring() + L"\"";
  ASSERT_TRUE(front_.start(line, dir_ / "front.log", dir_));
  const DWORD code = front_.exit_code(30000);
  ::CloseHandle(server);
  EXPECT_EQ(code, 1u) << front_log();
  const std::string log = front_log();
  EXPECT_NE(log.find("served by pid " + std::to_string(::GetCurrentProcessId()) + " running as " +
                     me_ + ", not as NT AUTHORITY\\SYSTEM ([identity] spawner_service_account)"),
            std::string::npos)
      << log;
}

// (5) Installed, started, stopped and removed through the service manager
// (Wine's services.exe), as an administrator does it.
class ServiceManagerTest : public ServiceWindowsTest {
 protected:
  DWORD run_cgihost(const std::wstring& args, std::string& output) {
    started_process p;
    const fs::path log = dir_ / "command.log";
    if (!p.start(L"\"" + exe() + L"\" " + args, log, dir_)) return 255;
    const DWORD code = p.exit_code(60000);
    p.stop();
    output = read_file(log);
    return code;
  }

  // The service's state, and its pid while it runs.
  static DWORD state_of(SC_HANDLE svc, DWORD* pid = nullptr) {
    SERVICE_STATUS_PROCESS st{};
    DWORD size = 0;
    if (!::QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&st),
                                sizeof st, &size))
      return 0;
    if (pid) *pid = st.dwProcessId;
    return st.dwCurrentState;
  }

  // `cgihost service install` for `config`: its exit code, output in `out`.
  DWORD install(const fs::path& config, std::string& out) {
    return run_cgihost(L"service install -c \"" + config.wstring() + L"\" --name " + wide(name_),
                       out);
  }

  // `cgihost service uninstall`, then whether the service is gone.
  bool uninstall(std::string& out) {
    const DWORD removed = run_cgihost(L"service uninstall --name " + wide(name_), out);
    SC_HANDLE again = ::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
    SC_HANDLE gone = ::OpenServiceW(again, wide(name_).c_str(), SERVICE_QUERY_STATUS);
    if (gone) ::CloseServiceHandle(gone);
    ::CloseServiceHandle(again);
    return removed == 0 && gone == nullptr;
  }

  // Stops the service; one that will not stop is ended by its pid (it runs
  // outside the test's jobs).
  static bool stop_service(SC_HANDLE svc) {
    DWORD pid = 0;
    if (state_of(svc, &pid) == SERVICE_STOPPED) return true;
    SERVICE_STATUS st{};
    ::ControlService(svc, SERVICE_CONTROL_STOP, &st);
    if (eventually([&] { return state_of(svc) == SERVICE_STOPPED; })) return true;
    if (HANDLE h = ::OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE, FALSE, pid)) {
      ::TerminateProcess(h, 1);
      ::WaitForSingleObject(h, 10000);
      ::CloseHandle(h);
    }
    return false;
  }
};

TEST_F(ServiceManagerTest, InstallStartStopUninstall) {
  const auto config = write_config(me_, name_);
  std::string out;
  ASSERT_EQ(install(config, out), 0u) << out;
  EXPECT_NE(out.find("installed service " + name_), std::string::npos) << out;
  SC_HANDLE scm = ::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  ASSERT_NE(scm, nullptr) << ::GetLastError();
  SC_HANDLE svc =
      ::OpenServiceW(scm, wide(name_).c_str(),
                     SERVICE_QUERY_CONFIG | SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS);
  ASSERT_NE(svc, nullptr) << ::GetLastError();
  std::vector<unsigned char> buf(8192);
  DWORD size = 0;
  ASSERT_TRUE(::QueryServiceConfigW(svc, reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buf.data()),
                                    static_cast<DWORD>(buf.size()), &size))
      << ::GetLastError();
  const auto* qc = reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buf.data());
  const std::wstring path = qc->lpBinaryPathName ? qc->lpBinaryPathName : L"";
  EXPECT_EQ(path, L"\"" + exe() + L"\" service run -c \"" + fs::absolute(config).wstring() +
                      L"\" --name " + wide(name_));
  EXPECT_EQ(qc->dwStartType, static_cast<DWORD>(SERVICE_AUTO_START));
  const bool started = ::StartServiceW(svc, 0, nullptr) != FALSE;
  const DWORD start_error = ::GetLastError();
  bool pipe_up = false, stopped = true;
  if (started) {
    pipe_up = eventually([&] { return ::WaitNamedPipeW(pipe().c_str(), 100) != FALSE; });
    stopped = stop_service(svc);
  }
  ::CloseServiceHandle(svc);
  ::CloseServiceHandle(scm);
  EXPECT_TRUE(uninstall(out)) << "the service is still installed: " << out;
  ASSERT_TRUE(started) << "StartServiceW: " << start_error;
  EXPECT_TRUE(pipe_up) << "the started service made no pipe";
  EXPECT_TRUE(stopped) << "the service did not stop when asked";
}

// Under the service manager no console shows why the service stops: a
// config that no longer loads stops it with its code 1 (its errors go to the
// event log too, which Wine only stubs: not read back here).
TEST_F(ServiceManagerTest, AConfigThatNoLongerLoadsStopsItWithCode1) {
  const auto config = write_config(me_, name_);
  std::string out;
  ASSERT_EQ(install(config, out), 0u) << out;
  std::ofstream(config, std::ios::binary) << "listen = [\n";  // cut short
  SC_HANDLE scm = ::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  SC_HANDLE svc =
      ::OpenServiceW(scm, wide(name_).c_str(), SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS);
  const bool started = svc && ::StartServiceW(svc, 0, nullptr) != FALSE;
  SERVICE_STATUS_PROCESS st{};
  DWORD size = 0;
  const bool ended =
      started && eventually([&] {
        return ::QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&st),
                                      sizeof st, &size) &&
               st.dwCurrentState == SERVICE_STOPPED;
      });
  if (svc && !ended) stop_service(svc);
  if (svc) ::CloseServiceHandle(svc);
  ::CloseServiceHandle(scm);
  EXPECT_TRUE(uninstall(out)) << out;
  ASSERT_TRUE(started) << ::GetLastError();
  ASSERT_TRUE(ended) << "the service runs on with a config that does not load";
  EXPECT_EQ(st.dwWin32ExitCode, static_cast<DWORD>(ERROR_SERVICE_SPECIFIC_ERROR));
  EXPECT_EQ(st.dwServiceSpecificExitCode, 1u);
}

}  // namespace
