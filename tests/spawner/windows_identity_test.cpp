// spawner/identity.hpp on Windows (run under Wine by ctest --preset
// windows): accounts as SIDs, describe and is_root, AccessCheck against a
// file's security descriptor, and the S4U logon (which Wine fakes: skipped
// there).

#include <aclapi.h>
#include <gtest/gtest.h>
#include <sddl.h>
#include <windows.h>

#include <string>

#include "spawner/files.hpp"
#include "spawner/identity.hpp"
#include "spawner/windows/win32_util.hpp"
#include "spawner/windows_security.hpp"

namespace cgihost::spawner {
namespace {

std::string user_name() {
  wchar_t name[256];
  DWORD n = 256;
  return GetUserNameW(name, &n) ? win32::narrow(name) : std::string();
}

// A primary token of this process.
std::shared_ptr<void> own_token() {
  HANDLE token = nullptr, primary = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ALL_ACCESS, &token)) return nullptr;
  const BOOL ok = DuplicateTokenEx(token, TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                                   TokenPrimary, &primary);
  CloseHandle(token);
  if (!ok) return nullptr;
  return std::shared_ptr<void>(primary, [](void* p) { CloseHandle(p); });
}

TEST(WindowsIdentity, LookupAndResolve) {
  const std::string me = user_name();
  ASSERT_FALSE(me.empty());
  auto account = lookup_account(me);
  ASSERT_TRUE(account) << me;
  EXPECT_EQ(account->name, me);
  EXPECT_EQ(account->sid.rfind("S-1-5-", 0), 0u) << account->sid;
  EXPECT_FALSE(lookup_account("no-such-account-cgihost"));
  auto id = resolve_identity(*account);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->sid, account->sid);
  EXPECT_EQ(id->name, me);  // as the config names it; system_name as Windows does
  EXPECT_FALSE(id->token);  // no token yet: runs as this process
  // "DOMAIN\user S-1-5-21-..."
  EXPECT_NE(id->describe().find("\\" + me + " " + account->sid), std::string::npos)
      << id->describe();
  std::string why;
  EXPECT_TRUE(resolve_identity_now(*account, why)) << why;
  auto moved = *account;
  moved.sid = "S-1-5-21-1-2-3-4242";
  EXPECT_FALSE(resolve_identity_now(moved, why));
  EXPECT_EQ(why, "account " + me + " is now " + account->sid +
                     ", not S-1-5-21-1-2-3-4242 as when the config was loaded");
  EXPECT_FALSE(
      resolve_identity_now(spawner::account{"no-such-account-cgihost", uid{1}, gid{1}, ""}, why));
  EXPECT_EQ(why, "account no-such-account-cgihost does not exist (any more)");
}

TEST(WindowsIdentity, IsRoot) {
  identity system;
  system.sid = "S-1-5-18";
  EXPECT_TRUE(system.is_root());
  identity admins;
  admins.sid = "S-1-5-32-544";
  EXPECT_TRUE(admins.is_root());
  identity user;
  user.sid = "S-1-5-21-1-2-3-1001";
  EXPECT_FALSE(user.is_root());
  EXPECT_EQ(identity{}.describe(), "this process");
  // A token: root when the Administrators group is enabled in it.
  user.token = own_token();
  ASSERT_TRUE(user.token);
  PSID administrators = nullptr;
  ASSERT_TRUE(ConvertStringSidToSidW(L"S-1-5-32-544", &administrators));
  HANDLE check = nullptr;
  ASSERT_TRUE(DuplicateToken(user.token.get(), SecurityIdentification, &check));
  BOOL member = FALSE;
  ASSERT_TRUE(CheckTokenMembership(check, administrators, &member));
  CloseHandle(check);
  LocalFree(administrators);
  EXPECT_EQ(user.is_root(), member != FALSE);
}

TEST(WindowsIdentity, MayAccessJudgesTheDacl) {
  std::string why;
  identity self;  // no token: this process's
  EXPECT_TRUE(may_access(self, with_security(L"O:BAG:BAD:(A;;FA;;;WD)"), true, why)) << why;
  EXPECT_TRUE(may_access(self, with_security(L"O:BAG:BAD:(A;;FR;;;WD)"), false, why)) << why;
  why.clear();
  EXPECT_FALSE(may_access(self, with_security(L"O:BAG:BAD:(A;;FR;;;WD)"), true, why));
  EXPECT_NE(why.find("this process may not read and execute it"), std::string::npos) << why;
  EXPECT_NE(why.find("(A;;FR;;;WD)"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(may_access(self, with_security(L"O:BAG:BAD:"), false, why));  // an empty DACL
  EXPECT_NE(why.find("may not read it"), std::string::npos) << why;
  EXPECT_FALSE(may_access(self, with_security(L"O:BAG:BAD:(D;;FR;;;WD)(A;;FA;;;WD)"), false, why));
  // With a token of its own (here this process's, as a primary token).
  identity with_token;
  with_token.token = own_token();
  EXPECT_TRUE(may_access(with_token, with_security(L"O:BAG:BAD:(A;;FR;;;WD)"), false, why));
  EXPECT_FALSE(may_access(with_token, file_info{}, false, why));  // no descriptor: no
  EXPECT_NE(why.find("security descriptor could not be read"), std::string::npos) << why;
}

TEST(WindowsIdentity, MayAccessPath) {
  wchar_t dir[MAX_PATH + 1], file[MAX_PATH + 1];
  GetTempPathW(MAX_PATH + 1, dir);
  ASSERT_NE(GetTempFileNameW(dir, L"cgh", 0, file), 0u);
  const std::string path = win32::narrow(file);
  std::string why;
  std::error_code ec;
  EXPECT_TRUE(may_access_path(identity{}, path.c_str(), false, why, ec)) << why;
  EXPECT_FALSE(ec);
  DeleteFileW(file);
  EXPECT_FALSE(may_access_path(identity{}, path.c_str(), false, why, ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

// On Windows; Wine keeps a file's DACL only where it can store extended
// attributes.
TEST(WindowsIdentity, MayAccessPathDenied) {
  wchar_t dir[MAX_PATH + 1], file[MAX_PATH + 1];
  GetTempPathW(MAX_PATH + 1, dir);
  ASSERT_NE(GetTempFileNameW(dir, L"cgh", 0, file), 0u);
  const std::string path = win32::narrow(file);
  std::string why;
  std::error_code ec;
  // A DACL that lets no one in (its owner may still read and change it).
  ACL empty;
  ASSERT_TRUE(InitializeAcl(&empty, sizeof empty, ACL_REVISION));
  ASSERT_EQ(SetNamedSecurityInfoW(file, SE_FILE_OBJECT,
                                  DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                  nullptr, nullptr, &empty, nullptr),
            static_cast<DWORD>(ERROR_SUCCESS));
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_EQ(GetNamedSecurityInfoW(file, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                  &dacl, nullptr, &sd),
            static_cast<DWORD>(ERROR_SUCCESS));
  const bool kept = dacl && dacl->AceCount == 0;
  LocalFree(sd);
  if (!kept) {
    DeleteFileW(file);
    GTEST_SKIP() << "the file system did not keep the DACL set (Wine keeps a file's DACL only "
                    "where it can store extended attributes)";
  }
  EXPECT_FALSE(may_access_path(identity{}, path.c_str(), false, why, ec));
  EXPECT_FALSE(ec);
  EXPECT_NE(why.find("may not read it"), std::string::npos) << why;
  DeleteFileW(file);
}

// Wine's LogonUserW "succeeds" with a handle that is no token: the result
// is checked, not believed. On Windows a wrong password fails the logon.
TEST(WindowsIdentity, PasswordLogonIsCheckedNotBelieved) {
  auto me = lookup_account(user_name());
  ASSERT_TRUE(me);
  std::string error;
  EXPECT_FALSE(logon_with_password(*me, "not-the-password-cgihost", error));
  if (win32::under_wine())
    EXPECT_EQ(error.rfind("LogonUserW gave no token a process can run with", 0), 0u) << error;
  else
    EXPECT_NE(error.find("LogonUserW: "), std::string::npos) << error;
  error.clear();
  EXPECT_FALSE(logon_with_password(spawner::account{"no-such-account-cgihost", uid{1}, gid{1}, ""},
                                   "x", error));
  EXPECT_EQ(error, "account no-such-account-cgihost has no SID");
}

TEST(WindowsIdentity, S4uLogon) {
  std::string error;
  EXPECT_FALSE(logon_s4u(spawner::account{"no-such-account-cgihost", uid{1}, gid{1}, ""}, error));
  EXPECT_EQ(error, "account no-such-account-cgihost has no SID");
  if (win32::under_wine())
    GTEST_SKIP() << "Wine fakes logons (LsaLogonUser, LogonUserW): identity semantics need "
                    "real Windows";
  auto me = lookup_account(user_name());
  ASSERT_TRUE(me);
  error.clear();
  auto token = logon_s4u(*me, error);
  // With SeTcbPrivilege (LocalSystem) a primary token of the account;
  // without, an error naming the step that failed (Windows gives an
  // identification token only, which cannot be made primary).
  if (!token) {
    EXPECT_FALSE(error.empty());
    GTEST_SKIP() << "no S4U token without SeTcbPrivilege: " << error;
  }
  identity id = *resolve_identity(*me);
  id.token = token;
  std::string why;
  EXPECT_TRUE(may_access(id, with_security(L"O:BAG:BAD:(A;;FR;;;WD)"), false, why)) << why;
  EXPECT_FALSE(may_access(id, with_security(L"O:BAG:BAD:"), false, why));
}

}  // namespace
}  // namespace cgihost::spawner
