// cgihost.exe's commands on Windows (run under Wine by ctest --preset
// windows): `password set|list|remove` over a real config and file, and
// `try --explain` in Windows words.

#include <aclapi.h>
#include <gtest/gtest.h>
#include <sddl.h>
#include <windows.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "windows/test_dacl.hpp"
#include "windows/test_paths.hpp"

namespace {
namespace fs = std::filesystem;
using cgihost::test::dacl_of;

struct run_result {
  int exit_code = -1;
  std::string out, err;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool under_wine() {
  const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

std::string without_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

std::string user_name() {
  wchar_t name[256];
  DWORD n = 256;
  if (!GetUserNameW(name, &n)) return {};
  std::string out;
  for (const wchar_t* c = name; *c; ++c) out += static_cast<char>(*c);
  return out;
}

class CliWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cgihost-wcli-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "site" / "cgi-bin");
    user_ = user_name();
    ASSERT_FALSE(user_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void write_config(const std::string& extra) {
    std::ofstream(dir_ / "c.toml", std::ios::binary)
        << "listen = [\"127.0.0.1:8080\"]\ndocument_root = '" << (dir_ / "site").string()
        << "'\n[identity]\nprocess = \"" << user_ << "\"\nanonymous = \"" << user_ << "\"\n"
        << extra;
  }

  // cgihost.exe with `args` and `input` on its standard input (a file, not
  // a console); its output through files, so nothing can fill a pipe.
  run_result run(const std::vector<std::string>& args, const std::string& input = "") {
    // Files of their own for each run: Wine may close an ended process's
    // handles a moment after it reports the end.
    const std::string n = std::to_string(++runs_);
    const std::string in_name = "stdin-" + n, out_name = "stdout-" + n, err_name = "stderr-" + n;
    std::ofstream(dir_ / in_name, std::ios::binary) << input;
    const std::wstring exe = cgihost::test::native_path(CGIHOST_EXE);
    std::wstring line = L"\"" + exe + L"\"";
    for (const auto& a : args) line += L" \"" + fs::path(a).wstring() + L"\"";
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
    auto open = [&](const std::string& name, DWORD access, DWORD how) {
      return CreateFileW((dir_ / name).wstring().c_str(), access, FILE_SHARE_READ, &sa, how,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
    };
    HANDLE in = open(in_name, GENERIC_READ, OPEN_EXISTING);
    HANDLE out = open(out_name, GENERIC_WRITE, CREATE_ALWAYS);
    HANDLE err = open(err_name, GENERIC_WRITE, CREATE_ALWAYS);
    STARTUPINFOW si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in;
    si.hStdOutput = out;
    si.hStdError = err;
    PROCESS_INFORMATION pi{};
    const BOOL ok = CreateProcessW(exe.c_str(), line.data(), nullptr, nullptr, TRUE,
                                   CREATE_NO_WINDOW, nullptr, dir_.wstring().c_str(), &si, &pi);
    CloseHandle(in);
    CloseHandle(out);
    CloseHandle(err);
    run_result r;
    if (!ok) return r;
    if (WaitForSingleObject(pi.hProcess, 60000) != WAIT_OBJECT_0) {
      TerminateProcess(pi.hProcess, 99);
      WaitForSingleObject(pi.hProcess, 10000);
      ADD_FAILURE() << "cgihost.exe did not end within 60 s";
    }
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    r.exit_code = static_cast<int>(code);
    // Text mode writes CRLF: compared as LF here.
    r.out = without_cr(read_all(dir_ / out_name));
    r.err = without_cr(read_all(dir_ / err_name));
    return r;
  }

  run_result password(const std::string& action, const std::string& account = "",
                      const std::string& input = "") {
    std::vector<std::string> args{"password", action, "-c", (dir_ / "c.toml").string()};
    if (!account.empty()) args.push_back(account);
    return run(args, input);
  }

  fs::path dir_;
  std::string user_;
  int runs_ = 0;
};

TEST_F(CliWindowsTest, PasswordSetListRemoveRoundTrip) {
  write_config("logon_password_file = \"cgihost.passwords\"\n");
  const fs::path file = dir_ / "cgihost.passwords";
  auto set = password("set", user_, "first secret\r\n");
  ASSERT_EQ(set.exit_code, 0) << set.err;
  ASSERT_TRUE(fs::exists(file)) << "relative to the config's folder";
  const std::string text = read_all(file);
  EXPECT_EQ(text.find("secret"), std::string::npos) << "never plain text: " << text;
  EXPECT_NE(text.find(user_ + ":"), std::string::npos) << text;
  auto list = password("list");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, user_ + "\n");

  // Set again under another case: the same account, one line, a new blob.
  std::string upper = user_;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto again = password("set", upper, "second secret\n");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(read_all(file), text);
  EXPECT_EQ(password("list").out, user_ + "\n") << "the config's spelling is kept";

  auto stranger = password("set", "cgihost-not-in-config", "x\n");
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_NE(stranger.err.find("is none the config runs children as"), std::string::npos)
      << stranger.err;
  auto empty = password("set", user_, "");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("no password on standard input"), std::string::npos) << empty.err;

  auto removed = password("remove", user_);
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(password("list").out, "");
  auto twice = password("remove", user_);
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("no password stored for account"), std::string::npos) << twice.err;
}

// The file as `set` wrote it: only SYSTEM and the Administrators
// (GetNamedSecurityInfoW).
TEST_F(CliWindowsTest, TheWrittenFileIsForSystemAndAdministratorsOnly) {
  write_config("logon_password_file = \"cgihost.passwords\"\n");
  const fs::path file = dir_ / "cgihost.passwords";
  auto set = password("set", user_, "secret\n");
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const std::string dacl = dacl_of(file);
  ASSERT_FALSE(dacl.empty()) << "no DACL read back from " << file.string();
  EXPECT_EQ(dacl.find(";;;WD)"), std::string::npos) << "Everyone may not read it: " << dacl;
  if (under_wine())
    GTEST_SKIP() << "Wine keeps no DACL it is given: it shows one derived from the Unix mode ("
                 << dacl << "); the protected DACL is checked on Windows";
  EXPECT_EQ(dacl, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
}

TEST_F(CliWindowsTest, ADamagedLineIsNamedAndNoFileKeyIsSaid) {
  write_config("");
  auto none = password("list");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("sets no [identity] logon_password_file"), std::string::npos) << none.err;

  write_config("logon_password_file = \"cgihost.passwords\"\n");
  ASSERT_EQ(password("set", user_, "pw\n").exit_code, 0);
  { std::ofstream(dir_ / "cgihost.passwords", std::ios::app | std::ios::binary) << "bob:0g\n"; }
  auto list = password("list");
  EXPECT_EQ(list.exit_code, 1);
  EXPECT_NE(list.err.find("cgihost.passwords:4:6: not a hexadecimal digit in the DPAPI blob"),
            std::string::npos)
      << list.err;
}

// try --explain speaks Windows: DOMAIN\name and SIDs, a token and
// CreateProcessAsUserW or CreateProcessW, Job Object limits, prefixes
// without regard to case; never setuid or rlimits.
TEST_F(CliWindowsTest, TryExplainSpeaksWindows) {
  fs::copy_file(cgihost::test::native_path(CGIHOST_PROGRAM_win_cgi_probe),
                dir_ / "site" / "cgi-bin" / "probe.exe");
  write_config(
      "[[handlers]]\nmatch = \"/cgi-bin/*\"\nmodule = \"cgi\"\n"
      "[cgi]\nmax_address_space = 268435456\nmax_processes = 4\n"
      "[[locations]]\nprefix = \"/cgi-bin/\"\ncreate_process_as_user = true\n");
  auto r = run({"try", "-c", (dir_ / "c.toml").string(), "--explain", "/CGI-BIN/probe.exe"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* word :
       {"process identity: ", "S-1-5-", "\\", "CreateProcessW", "Job Object",
        "JOB_OBJECT_LIMIT_PROCESS_MEMORY 268435456 bytes", "JOB_OBJECT_LIMIT_ACTIVE_PROCESS 4",
        "no privileged spawner service",
        "create_process_as_user = true (from [[locations]] prefix \"/cgi-bin/\")"})
    EXPECT_NE(r.out.find(word), std::string::npos) << "\"" << word << "\" in:\n" << r.out;
  for (const char* posix : {"setuid", "setgid", "setgroups", "rlimit", "RLIMIT", " uid ", "gid "})
    EXPECT_EQ(r.out.find(posix), std::string::npos) << "\"" << posix << "\" in:\n" << r.out;
  // Without the service (never under Wine) it says what the service would do.
  EXPECT_NE(
      r.out.find("== with the privileged spawner service\nit would run as " + user_ + " S-1-5-"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("token: an S4U logon of " + user_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CreateProcessAsUserW"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("judged with an identification token of " + user_ + " from the service"),
            std::string::npos)
      << r.out;

  // With a stored password the token comes from LogonUserW.
  std::string text = read_all(dir_ / "c.toml");
  text.insert(text.find("[[handlers]]"), "logon_password_file = \"cgihost.passwords\"\n");
  std::ofstream(dir_ / "c.toml", std::ios::binary) << text;
  ASSERT_EQ(password("set", user_, "pw\n").exit_code, 0);
  auto stored = run({"try", "-c", (dir_ / "c.toml").string(), "--explain", "/cgi-bin/probe.exe"});
  EXPECT_NE(stored.out.find("token: LogonUserW of " + user_ + " with its password from "),
            std::string::npos)
      << stored.out << stored.err;
}

}  // namespace
