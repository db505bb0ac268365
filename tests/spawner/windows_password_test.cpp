// spawner/password_file.hpp: the format on every platform; on Windows (run
// under Wine by ctest --preset windows) the DPAPI blobs, the file's DACL
// and account_token, whose logons Wine only fakes.

#include <gtest/gtest.h>

#include <string>

#include "spawner/password_file.hpp"

#if defined(_WIN32)
#include <aclapi.h>
#include <sddl.h>
#include <windows.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "spawner/identity.hpp"
#include "spawner/windows/win32_util.hpp"
#include "windows/test_dacl.hpp"
#endif

namespace cgihost::spawner {
namespace {

TEST(PasswordFile, FormatsAndParsesBack) {
  const std::vector<password_entry> entries{{"alice", {0x01, 0xab, 0xff}},
                                            {"HOST\\Web User", {0x00}}};
  const std::string text = format_password_file(entries);
  EXPECT_NE(text.find("alice:01abff\n"), std::string::npos) << text;
  EXPECT_NE(text.find("HOST\\Web User:00\n"), std::string::npos) << text;
  EXPECT_EQ(text[0], '#') << "a comment says what the file is";
  std::string error;
  auto back = parse_password_file(text, "p.txt", error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, entries);
  // CRLF, blank lines, upper-case digits, comments.
  auto crlf = parse_password_file("# x\r\n\r\nbob:0A0b\r\n", "p.txt", error);
  ASSERT_TRUE(crlf) << error;
  ASSERT_EQ(crlf->size(), 1u);
  EXPECT_EQ((*crlf)[0], (password_entry{"bob", {0x0a, 0x0b}}));
}

TEST(PasswordFile, ABadLineIsNamedByFileLineAndColumn) {
  const struct {
    const char* text;
    const char* error;
  } cases[] = {
      {"# c\nalice\n", "p.txt:2:1: expected ACCOUNT:HEX (the account's name, ':', its DPAPI blob)"},
      {":00\n", "p.txt:1:1: no account name before ':'"},
      {"alice:\n", "p.txt:1:7: no DPAPI blob after ':'"},
      {"alice:00\nbob:01x2\n", "p.txt:2:7: not a hexadecimal digit in the DPAPI blob: 'x'"},
      {"alice:012\n", "p.txt:1:9: an odd number of hexadecimal digits: the blob is cut short"},
      {"alice:00\n\nALICE:01\n", "p.txt:3:1: a second entry for account \"alice\""},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_password_file(c.text, "p.txt", error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

TEST(PasswordFile, NamesCompareWithoutCase) {
  EXPECT_TRUE(same_account_name("HOST\\Alice", "host\\alice"));
  EXPECT_FALSE(same_account_name("alice", "alicia"));
}

#if defined(_WIN32)
namespace fs = std::filesystem;
using test::dacl_of;

// A scratch folder, removed at the end.
class WindowsPasswordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cgihost-pw-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    file_ = dir_ / "cgihost.passwords";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The file's DACL as SDDL, or "" when the system keeps none (GetNamedSecurityInfoW).
  // Gives the file the DACL `sddl` (SetNamedSecurityInfoW); false when
  // this system keeps none.
  static bool set_dacl(const fs::path& file, const wchar_t* sddl) {
    PSECURITY_DESCRIPTOR sd = nullptr;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, nullptr))
      return false;
    BOOL present = FALSE, defaulted = FALSE;
    PACL dacl = nullptr;
    GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted);
    const DWORD r =
        SetNamedSecurityInfoW(const_cast<wchar_t*>(file.wstring().c_str()), SE_FILE_OBJECT,
                              DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                              nullptr, nullptr, dacl, nullptr);
    LocalFree(sd);
    return r == ERROR_SUCCESS && dacl_of(file).find(";;;WD)") != std::string::npos;
  }

  fs::path dir_, file_;
};

TEST_F(WindowsPasswordTest, ABlobDecryptsOnlyForItsAccount) {
  std::string error, password;
  auto blob = protect_password("Alice", "s3cret pass", error);
  ASSERT_TRUE(blob) << error;
  EXPECT_EQ(std::string(blob->begin(), blob->end()).find("s3cret"), std::string::npos);
  ASSERT_TRUE(unprotect_password("alice", *blob, password, error))
      << "the name is case-folded: " << error;
  EXPECT_EQ(password, "s3cret pass");
  wipe_secret(password);
  EXPECT_TRUE(password.empty());
  // The entropy is the account's name: moved to bob's line it does not decrypt.
  EXPECT_FALSE(unprotect_password("bob", *blob, password, error));
  EXPECT_NE(error.find("account bob"), std::string::npos) << error;
  EXPECT_NE(error.find("does not decrypt"), std::string::npos) << error;
  auto damaged = *blob;
  damaged[damaged.size() / 2] ^= 0x55;
  EXPECT_FALSE(unprotect_password("Alice", damaged, password, error));
}

TEST_F(WindowsPasswordTest, WrittenAtomicallyLeavingNoTemporaryFile) {
  std::string error;
  const std::vector<password_entry> entries{{"alice", {1, 2, 3}}, {"bob", {4}}};
  ASSERT_TRUE(write_password_file(file_, entries, error)) << error;
  ASSERT_TRUE(write_password_file(file_, {entries[1]}, error)) << "replaced: " << error;
  auto back = read_password_file(file_, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, std::vector<password_entry>{entries[1]});
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u) << "no temporary file is left behind";
}

TEST_F(WindowsPasswordTest, WrittenWithADaclForSystemAndAdministratorsOnly) {
  std::string error;
  ASSERT_TRUE(write_password_file(file_, {{"alice", {1}}}, error)) << error;
  const std::string dacl = dacl_of(file_);
  ASSERT_FALSE(dacl.empty()) << "GetNamedSecurityInfoW gave no DACL";
  EXPECT_EQ(dacl.find(";;;WD)"), std::string::npos) << "Everyone may not read it: " << dacl;
  if (win32::under_wine())
    GTEST_SKIP() << "Wine keeps no DACL it is given: it shows one derived from the Unix mode ("
                 << dacl << "); the protected DACL for SYSTEM and the Administrators is checked "
                 << "on Windows";
  EXPECT_EQ(dacl, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
}

TEST_F(WindowsPasswordTest, AMissingFileIsEmptyAndADamagedOneNamesItsLine) {
  std::string error;
  auto none = read_password_file(file_, error);
  ASSERT_TRUE(none) << error;
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(write_password_file(file_, {{"alice", {1}}}, error)) << error;
  { std::ofstream(file_, std::ios::app) << "bob:zz\n"; }
  EXPECT_FALSE(read_password_file(file_, error));
  EXPECT_EQ(error, file_.string() + ":4:5: not a hexadecimal digit in the DPAPI blob: 'z'");
}

TEST_F(WindowsPasswordTest, AFileOthersMayReadIsRefused) {
  std::string error;
  ASSERT_TRUE(write_password_file(file_, {{"alice", {1}}}, error)) << error;
  // (Wine turns the DACL into a Unix mode and back: Everyone keeps a read right.)
  ASSERT_TRUE(set_dacl(file_, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;WD)"));
  EXPECT_FALSE(read_password_file(file_, error));
  EXPECT_NE(error.find(": refused: "), std::string::npos) << error;
  EXPECT_NE(error.find("(S-1-1-0) may read it"), std::string::npos) << "names Everyone: " << error;
}

TEST_F(WindowsPasswordTest, WriteAccessForOthersIsNoRead) {
  if (win32::under_wine())
    GTEST_SKIP() << "Wine keeps no DACL it is given (it maps it to a Unix mode, where Everyone's "
                    "write comes with read)";
  std::string error;
  ASSERT_TRUE(write_password_file(file_, {{"alice", {1}}}, error)) << error;
  ASSERT_TRUE(set_dacl(file_, L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;WD)"));
  EXPECT_TRUE(read_password_file(file_, error)) << error;
}

// WRITE_DAC or WRITE_OWNER lets its holder grant itself read access: refused
// like read access.
TEST_F(WindowsPasswordTest, TheRightToChangeTheDaclCountsAsRead) {
  if (win32::under_wine())
    GTEST_SKIP() << "Wine keeps no DACL it is given (it maps it to a Unix mode)";
  std::string error;
  ASSERT_TRUE(write_password_file(file_, {{"alice", {1}}}, error)) << error;
  for (const wchar_t* sddl :
       {L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;WD;;;WD)", L"D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;WO;;;WD)"}) {
    ASSERT_TRUE(set_dacl(file_, sddl));
    error.clear();
    EXPECT_FALSE(read_password_file(file_, error));
    EXPECT_NE(error.find("S-1-1-0"), std::string::npos) << error;
  }
}

// account_token: the stored password when there is one, else S4U. Wine
// fakes both logons (its LogonUserW returns TRUE with the handle 0xdeadbeef,
// which is no token; its LSA has no S4U), so here every way must fail with
// an error that names the account and the way tried; on Windows a wrong
// password fails with ERROR_LOGON_FAILURE.
TEST_F(WindowsPasswordTest, AccountTokenNamesTheAccountAndTheWayTried) {
  account a;
  a.name = "cgihost-no-such-user";
  std::string error;
  EXPECT_FALSE(account_token(a, {}, error));
  EXPECT_NE(error.find("account cgihost-no-such-user"), std::string::npos) << error;
  EXPECT_NE(error.find("S4U"), std::string::npos) << error;

  auto blob = protect_password(a.name, "wrong password", error);
  ASSERT_TRUE(blob) << error;
  ASSERT_TRUE(write_password_file(file_, {{a.name, *blob}}, error)) << error;
  error.clear();
  EXPECT_FALSE(account_token(a, file_, error));
  EXPECT_NE(error.find("account cgihost-no-such-user"), std::string::npos) << error;
  EXPECT_NE(error.find("stored password"), std::string::npos) << error;

  // Another account's blob on this account's line: DPAPI refuses it.
  auto other = protect_password("someone-else", "x", error);
  ASSERT_TRUE(other) << error;
  ASSERT_TRUE(write_password_file(file_, {{a.name, *other}}, error)) << error;
  error.clear();
  EXPECT_FALSE(account_token(a, file_, error));
  EXPECT_NE(error.find("does not decrypt"), std::string::npos) << error;
}

TEST_F(WindowsPasswordTest, UnderWineLogonUserWIsASemiStub) {
  if (!win32::under_wine()) GTEST_SKIP() << "checks what Wine does; Windows refuses the logon";
  // Wine's LogonUserW "succeeds" for any name and any password, with the
  // handle 0xdeadbeef, which is no token (GetTokenInformation:
  // ERROR_INVALID_HANDLE); Windows gives ERROR_LOGON_FAILURE.
  HANDLE token = nullptr;
  const BOOL ok = LogonUserW(L"cgihost-no-such-user", L".", L"wrong",
                             LOGON32_LOGON_NETWORK_CLEARTEXT, LOGON32_PROVIDER_DEFAULT, &token);
  EXPECT_TRUE(ok);
  unsigned char buf[256];
  DWORD size = 0;
  EXPECT_FALSE(GetTokenInformation(token, TokenUser, buf, sizeof buf, &size));
  EXPECT_EQ(GetLastError(), static_cast<DWORD>(ERROR_INVALID_HANDLE));
  // So logon_with_password checks what it got, and account_token with a
  // stored password for an account that exists fails there, named.
  wchar_t name[256];
  DWORD n = 256;
  ASSERT_TRUE(GetUserNameW(name, &n));
  auto me = lookup_account(win32::narrow(name));
  ASSERT_TRUE(me);
  std::string error;
  auto blob = protect_password(me->name, "any", error);
  ASSERT_TRUE(blob) << error;
  ASSERT_TRUE(write_password_file(file_, {{me->name, *blob}}, error)) << error;
  error.clear();
  EXPECT_FALSE(account_token(*me, file_, error));
  EXPECT_NE(error.find("account " + me->name + ": the logon with its stored password"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("LogonUserW gave no token a process can run with"), std::string::npos)
      << error;
}
#endif

}  // namespace
}  // namespace cgihost::spawner
