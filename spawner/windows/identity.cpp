// spawner/identity.hpp for Windows: accounts are SIDs (LookupAccountNameW,
// as config/ finds them), an identity carries a primary token or none, and
// may_access is AccessCheck against the file's security descriptor.
#include "spawner/identity.hpp"

#include <aclapi.h>
#include <ntsecapi.h>
#include <sddl.h>
#include <windows.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <vector>

#include "spawner/files.hpp"
#include "spawner/password_file.hpp"
#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {

using win32::narrow;
using win32::wide;

constexpr const char* kLocalSystem = "S-1-5-18";
constexpr const char* kAdministrators = "S-1-5-32-544";

std::string sid_text(PSID sid) {
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(sid, &text)) return {};
  std::string out = narrow(text);
  LocalFree(text);
  return out;
}

// The SID of `text` ("S-1-5-..."), freed when the pointer goes.
std::shared_ptr<void> sid_of(const std::string& text) {
  PSID sid = nullptr;
  if (text.empty() || !ConvertStringSidToSidW(wide(text).c_str(), &sid)) return nullptr;
  return std::shared_ptr<void>(sid, [](void* p) { LocalFree(p); });
}

// "DOMAIN\user" of a SID, or "" when the system cannot name it.
std::string qualified_name(PSID sid) {
  wchar_t name[256], domain[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use{};
  if (!LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use)) return {};
  return narrow(dn ? std::wstring(domain) + L"\\" + name : std::wstring(name));
}

// The token handles this file made that are open now (owned()): a value a
// request names in X-IIS-WindowsAuthToken that is one of them is cgihost's
// own, never IIS's, and is neither used nor closed.
std::mutex own_tokens_mu;
std::set<HANDLE> own_tokens;

bool is_own_token(HANDLE h) {
  std::lock_guard lock(own_tokens_mu);
  return own_tokens.contains(h);
}

// A handle closed when the last copy goes.
std::shared_ptr<void> owned(HANDLE h) {
  {
    std::lock_guard lock(own_tokens_mu);
    own_tokens.insert(h);
  }
  return std::shared_ptr<void>(h, [](void* p) {
    std::lock_guard lock(own_tokens_mu);
    own_tokens.erase(p);
    CloseHandle(p);
  });
}

// An identification-level copy of `token` (this process's when null), which
// AccessCheck needs; null with GetLastError on failure.
std::shared_ptr<void> token_to_check(HANDLE token) {
  HANDLE own = nullptr;
  if (!token) {
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &own)) return {};
    token = own;
  }
  HANDLE dup = nullptr;
  const BOOL ok = DuplicateToken(token, SecurityIdentification, &dup);
  const DWORD error = GetLastError();
  if (own) CloseHandle(own);
  if (!ok) {
    SetLastError(error);
    return {};
  }
  return owned(dup);
}

// Whether the group `sid_text` is in `token` and enabled (a deny-only group,
// as UAC leaves Administrators in a filtered token, gives no powers).
bool token_has_enabled_group(HANDLE token, const char* group) {
  DWORD size = 0;
  GetTokenInformation(token, TokenGroups, nullptr, 0, &size);
  if (size == 0) return false;
  std::vector<unsigned char> buf(size);
  if (!GetTokenInformation(token, TokenGroups, buf.data(), size, &size)) return false;
  const auto* groups = reinterpret_cast<const TOKEN_GROUPS*>(buf.data());
  for (DWORD i = 0; i < groups->GroupCount; ++i)
    if ((groups->Groups[i].Attributes & SE_GROUP_ENABLED) &&
        sid_text(groups->Groups[i].Sid) == group)
      return true;
  return false;
}

// The SID of a token's user, or "" when it is no token.
std::string token_user(HANDLE token) {
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  if (size == 0) return {};
  std::vector<unsigned char> buf(size);
  if (!GetTokenInformation(token, TokenUser, buf.data(), size, &size)) return {};
  return sid_text(reinterpret_cast<const TOKEN_USER*>(buf.data())->User.Sid);
}

}  // namespace

bool identity::is_root() const noexcept {
  if (sid == kLocalSystem || sid == kAdministrators) return true;
  if (!token) return false;
  return token_user(token.get()) == kLocalSystem ||
         token_has_enabled_group(token.get(), kAdministrators);
}

std::string identity::describe() const {
  const std::string& shown = system_name.empty() ? name : system_name;
  if (shown.empty() && sid.empty()) return "this process";
  if (shown.empty() || sid.empty()) return shown.empty() ? sid : shown;
  return shown + " " + sid;
}

std::optional<account> lookup_account(const std::string& name) {
  const std::wstring w = wide(name);
  DWORD sid_size = 0, domain_size = 0;
  SID_NAME_USE use{};
  LookupAccountNameW(nullptr, w.c_str(), nullptr, &sid_size, nullptr, &domain_size, &use);
  if (name.empty() || sid_size == 0) return std::nullopt;
  std::vector<BYTE> sid(sid_size);
  std::wstring domain(domain_size, L'\0');
  if (!LookupAccountNameW(nullptr, w.c_str(), sid.data(), &sid_size, domain.data(), &domain_size,
                          &use))
    return std::nullopt;
  // A user, or a built-in service account such as IUSR or LocalService
  // (which Windows files as well-known groups); never a group of people.
  if (use != SidTypeUser && use != SidTypeWellKnownGroup) return std::nullopt;
  account a;
  a.name = name;
  a.sid = sid_text(sid.data());
  const UCHAR n = *GetSidSubAuthorityCount(sid.data());
  const std::uint32_t rid = n > 0 ? *GetSidSubAuthority(sid.data(), n - 1) : 0;
  const bool root = a.sid == kLocalSystem || a.sid == kAdministrators;
  a.uid = spawner::uid{root ? 0 : rid};
  a.gid = spawner::gid{root ? 0 : rid};
  return a;
}

std::optional<identity> resolve_identity(const account& account) {
  std::string sid = account.sid;
  if (sid.empty()) {
    auto found = lookup_account(account.name);
    if (!found) return std::nullopt;
    sid = found->sid;
  }
  auto binary = sid_of(sid);
  if (!binary) return std::nullopt;
  identity id{account.name, account.uid, account.gid, {}, account.home, sid, nullptr};
  id.system_name = qualified_name(binary.get());
  return id;
}

std::optional<identity> resolve_identity_now(const account& account, std::string& why) {
  auto now = lookup_account(account.name);
  if (!now) {
    why = "account " + account.name + " does not exist (any more)";
    return std::nullopt;
  }
  if (!account.sid.empty() && now->sid != account.sid) {
    why = "account " + account.name + " is now " + now->sid + ", not " + account.sid +
          " as when the config was loaded";
    return std::nullopt;
  }
  auto id = resolve_identity(*now);
  if (!id) why = "the SID of account " + account.name + " cannot be read";
  return id;
}

namespace {

// The descriptor's owner and DACL in SDDL, for a refusal's log line.
std::string sddl_of(PSECURITY_DESCRIPTOR sd) {
  wchar_t* text = nullptr;
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
          sd, SDDL_REVISION_1, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &text,
          nullptr))
    return "?";
  std::string out = narrow(text);
  LocalFree(text);
  return out;
}

std::string who(const identity& id, bool from_service = false) {
  if (id.token) return id.describe();
  if (id.sid.empty()) return "this process";
  return id.describe() + (from_service ? " (the spawner service's identification token)"
                                       : " (no token: judged as this process)");
}

std::shared_mutex source_mu;
const void* source_owner = nullptr;
access_token_source token_source;

// The token to judge `id` with: its own, or the source's (an identity with a
// SID and no token, while a source is set), or this process's; null with
// `why` and `denial` when the source has none.
std::shared_ptr<void> judging_token(const identity& id, bool& from_service, std::string& why,
                                    access_denial& denial) {
  from_service = false;
  if (!id.token && !id.sid.empty()) {
    std::shared_lock lock(source_mu);
    if (token_source) {
      bool logon_failed = false;
      std::string reason;
      auto token = token_source(id, reason, logon_failed);
      if (!token) {
        denial = logon_failed ? access_denial::logon_failed : access_denial::no_token;
        why = "no token of " + id.describe() +
              " to check with (never judged as this process): " + reason;
      }
      from_service = true;
      return token;
    }
  }
  auto token = token_to_check(id.token.get());
  if (!token) {
    denial = access_denial::no_token;
    why = "no token of " + who(id) + " to check with: " + win32::message_of(GetLastError());
  }
  return token;
}

}  // namespace

void set_access_token_source(const void* owner, access_token_source s) {
  std::unique_lock lock(source_mu);
  source_owner = owner;
  token_source = std::move(s);
}

void clear_access_token_source(const void* owner) {
  std::unique_lock lock(source_mu);
  if (source_owner != owner) return;
  source_owner = nullptr;
  token_source = nullptr;
}

bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why) {
  access_denial ignored;
  return may_access(id, file, need_exec, why, ignored);
}

bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why,
                access_denial& denial) {
  denial = access_denial::denied;
  const char* rights = need_exec ? "read and execute" : "read";
  if (file.security.empty()) {
    why = who(id) + " may not " + rights + " it: its security descriptor could not be read";
    return false;
  }
  bool from_service = false;
  auto token = judging_token(id, from_service, why, denial);
  if (!token) return false;
  auto* sd = const_cast<unsigned char*>(file.security.data());
  GENERIC_MAPPING mapping{FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
                          FILE_ALL_ACCESS};
  const DWORD desired = FILE_GENERIC_READ | (need_exec ? FILE_GENERIC_EXECUTE : 0);
  alignas(PRIVILEGE_SET) unsigned char privileges[256];
  DWORD privileges_size = sizeof privileges, granted = 0;
  BOOL status = FALSE;
  if (!AccessCheck(sd, token.get(), desired, &mapping, reinterpret_cast<PRIVILEGE_SET*>(privileges),
                   &privileges_size, &granted, &status)) {
    why = "AccessCheck for " + who(id, from_service) +
          " failed: " + win32::message_of(GetLastError());
    return false;
  }
  if (status) return true;
  char rights_hex[16];
  std::snprintf(rights_hex, sizeof rights_hex, "0x%lx", static_cast<unsigned long>(desired));
  why = who(id, from_service) + " may not " + rights + " it (rights " + rights_hex +
        "; its owner and DACL: " + sddl_of(sd) + ")";
  return false;
}

bool may_access_path(const identity& id, const char* path, bool need_exec, std::string& why,
                     std::error_code& ec) {
  unique_fd file(CreateFileW(wide(path).c_str(), READ_CONTROL | FILE_READ_ATTRIBUTES,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                             OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr));
  if (file.get() == no_handle) {
    ec = win32::error_of(GetLastError());
    return false;
  }
  auto info = info_of(file.get(), ec);
  if (!info) return false;
  return may_access(id, *info, need_exec, why);
}

namespace {

// A counted LSA string of a literal.
LSA_STRING lsa_string(const char* text) {
  LSA_STRING s;
  s.Buffer = const_cast<char*>(text);
  s.Length = static_cast<USHORT>(std::strlen(text));
  s.MaximumLength = s.Length;
  return s;
}

std::string nt_error(const char* step, NTSTATUS status) {
  return std::string(step) + ": " + win32::message_of(LsaNtStatusToWinError(status));
}

// MSV1_0_S4U_LOGON with its two strings after it, in one buffer (LSA wants
// them contiguous).
std::vector<unsigned char> s4u_request(const std::wstring& user, const std::wstring& domain) {
  std::vector<unsigned char> buf(sizeof(MSV1_0_S4U_LOGON) +
                                 (user.size() + domain.size()) * sizeof(wchar_t));
  auto* logon = reinterpret_cast<MSV1_0_S4U_LOGON*>(buf.data());
  logon->MessageType = MsV1_0S4ULogon;
  logon->Flags = 0;
  auto* text = reinterpret_cast<wchar_t*>(buf.data() + sizeof(MSV1_0_S4U_LOGON));
  std::memcpy(text, user.data(), user.size() * sizeof(wchar_t));
  logon->UserPrincipalName.Buffer = text;
  logon->UserPrincipalName.Length = logon->UserPrincipalName.MaximumLength =
      static_cast<USHORT>(user.size() * sizeof(wchar_t));
  std::memcpy(text + user.size(), domain.data(), domain.size() * sizeof(wchar_t));
  logon->DomainName.Buffer = text + user.size();
  logon->DomainName.Length = logon->DomainName.MaximumLength =
      static_cast<USHORT>(domain.size() * sizeof(wchar_t));
  return buf;
}

// The user and domain names a logon wants for `account` (LookupAccountSidW
// of its SID: the computer's name as the domain of a local account), and
// its SID.
bool logon_names(const account& account, std::wstring& user, std::wstring& domain,
                 std::string& sid_text_out, std::string& error) {
  sid_text_out = account.sid.empty() ? lookup_account(account.name).value_or(spawner::account{}).sid
                                     : account.sid;
  auto sid = sid_of(sid_text_out);
  if (!sid) {
    error = "account " + account.name + " has no SID";
    return false;
  }
  wchar_t name[256], dom[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use{};
  if (!LookupAccountSidW(nullptr, sid.get(), name, &nn, dom, &dn, &use)) {
    error = "LookupAccountSidW: " + win32::message_of(GetLastError());
    return false;
  }
  user.assign(name, nn);
  domain.assign(dom, dn);
  return true;
}

// A logon's `token` (closed here) as a primary token of the account `sid`,
// or null with `error`. Checked, not believed: Wine's logons "succeed" with
// a handle that is no token.
std::shared_ptr<void> primary_of(HANDLE token, const std::string& sid, const std::string& step,
                                 std::string& error) {
  HANDLE primary = nullptr;
  const BOOL ok = DuplicateTokenEx(token, TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                                   TokenPrimary, &primary);
  const DWORD dup_error = GetLastError();
  CloseHandle(token);
  if (!ok) {
    error = step + " gave no token a process can run with: DuplicateTokenEx: " +
            win32::message_of(dup_error);
    return nullptr;
  }
  auto out = owned(primary);
  if (const std::string user = token_user(primary); user != sid) {
    error = step + " gave a token of " + (user.empty() ? "no account" : user) + ", not of " + sid;
    return nullptr;
  }
  return out;
}

// LsaLogonUser of an S4U request through `lsa`: the token, or null with `error`.
HANDLE s4u_logon(HANDLE lsa, std::vector<unsigned char>& request, std::string& error) {
  LSA_STRING package = lsa_string(MSV1_0_PACKAGE_NAME), origin = lsa_string("cgihost");
  ULONG package_id = 0;
  NTSTATUS st = LsaLookupAuthenticationPackage(lsa, &package, &package_id);
  if (st != 0) {
    error = nt_error("LsaLookupAuthenticationPackage", st);
    return nullptr;
  }
  TOKEN_SOURCE source{};
  std::memcpy(source.SourceName, "cgihost", 7);
  AllocateLocallyUniqueId(&source.SourceIdentifier);
  void* profile = nullptr;
  ULONG profile_size = 0;
  LUID logon_id{};
  HANDLE token = nullptr;
  QUOTA_LIMITS quotas{};
  NTSTATUS sub = 0;
  st = LsaLogonUser(lsa, &origin, Network, package_id, request.data(),
                    static_cast<ULONG>(request.size()), nullptr, &source, &profile, &profile_size,
                    &logon_id, &token, &quotas, &sub);
  if (profile) LsaFreeReturnBuffer(profile);
  if (st != 0) {
    error = nt_error("LsaLogonUser (S4U)", st);
    return nullptr;
  }
  return token;
}

}  // namespace

std::shared_ptr<void> logon_s4u(const account& account, std::string& error) {
  std::wstring user, domain;
  std::string sid;
  if (!logon_names(account, user, domain, sid, error)) return nullptr;
  auto request = s4u_request(user, domain);
  HANDLE lsa = nullptr;
  LSA_OPERATIONAL_MODE mode = 0;
  LSA_STRING name = lsa_string("cgihost");
  // A trusted connection needs SeTcbPrivilege; without it, an untrusted one.
  NTSTATUS st = LsaRegisterLogonProcess(&name, &lsa, &mode);
  if (st != 0) st = LsaConnectUntrusted(&lsa);
  if (st != 0) {
    error = nt_error("LsaConnectUntrusted", st);
    return nullptr;
  }
  HANDLE token = s4u_logon(lsa, request, error);
  LsaDeregisterLogonProcess(lsa);
  if (!token) return nullptr;
  // A network logon's token is an impersonation token: CreateProcessAsUserW
  // needs a primary one. Without SeTcbPrivilege it is only an
  // identification token, which cannot be made primary.
  return primary_of(token, sid,
                    "the S4U logon (an identification token only without SeTcbPrivilege)", error);
}

std::shared_ptr<void> logon_with_password(const account& account, const std::string& password,
                                          std::string& error) {
  std::wstring user, domain;
  std::string sid;
  if (!logon_names(account, user, domain, sid, error)) return nullptr;
  std::wstring secret = wide(password);
  HANDLE token = nullptr;
  // IIS's default logonMethod for its anonymous user, ClearText (3): the
  // name and password stay with the logon session, so the child may reach
  // other servers as the account. A network logon gives an impersonation
  // token: primary_of makes it primary.
  const BOOL ok = LogonUserW(user.c_str(), domain.c_str(), secret.c_str(),
                             LOGON32_LOGON_NETWORK_CLEARTEXT, LOGON32_PROVIDER_DEFAULT, &token);
  const DWORD logon_error = GetLastError();
  SecureZeroMemory(secret.data(), secret.size() * sizeof(wchar_t));
  if (!ok) {
    error = "LogonUserW: " + win32::message_of(logon_error);
    return nullptr;
  }
  return primary_of(token, sid, "LogonUserW", error);
}

std::shared_ptr<void> account_token(const account& account,
                                    const std::filesystem::path& password_file,
                                    std::string& error) {
  std::string why;
  if (!password_file.empty()) {
    auto entries = read_password_file(password_file, why);
    if (!entries) {
      error = "account " + account.name + ": the logon password file: " + why;
      return nullptr;
    }
    const std::string folded = fold_account_name(account.name);
    for (const auto& e : *entries) {
      if (fold_account_name(e.account) != folded) continue;
      std::string password;
      if (!unprotect_password(account.name, e.blob, password, why)) {
        error = "account " + account.name + ": " + why;
        return nullptr;
      }
      auto token = logon_with_password(account, password, why);
      wipe_secret(password);
      if (!token)
        error =
            "account " + account.name +
            ": the logon with its stored password (LogonUserW, network cleartext) failed: " + why;
      return token;
    }
  }
  auto token = logon_s4u(account, why);
  if (!token)
    error = "account " + account.name + ": the S4U logon (no password stored) failed: " + why;
  return token;
}

namespace {

// Whether the value names a token of this process: the token's user SID
// (TokenUser) in `user`, or false with `error`. A handle of another kind, or
// no handle at all, fails with ERROR_INVALID_HANDLE (an object type
// mismatch); a token opened without TOKEN_QUERY with ERROR_ACCESS_DENIED.
bool token_user_of(HANDLE h, std::vector<unsigned char>& user, DWORD& error) {
  DWORD size = 0;
  if (!GetTokenInformation(h, TokenUser, nullptr, 0, &size) && size == 0) {
    error = GetLastError();
    return false;
  }
  user.resize(size);
  if (!GetTokenInformation(h, TokenUser, user.data(), size, &size)) {
    error = GetLastError();
    return false;
  }
  return true;
}

// The identity of a primary token whose user is `sid`: named as the system
// names it, uid and gid its relative id.
std::optional<identity> identity_of_token(std::shared_ptr<void> token, PSID sid,
                                          const std::string& named, std::string& error) {
  identity id;
  id.token = std::move(token);
  id.sid = sid_text(sid);
  id.system_name = qualified_name(sid);
  if (id.system_name.empty()) {
    error = named + ": the token's user " + id.sid +
            " has no name (LookupAccountSidW: " + win32::message_of(GetLastError()) + "); closed";
    return std::nullopt;
  }
  id.name = id.system_name;
  const UCHAR n = *GetSidSubAuthorityCount(sid);
  const std::uint32_t rid = n > 0 ? *GetSidSubAuthority(sid, n - 1) : 0;
  const bool root = id.sid == kLocalSystem || id.sid == kAdministrators;
  id.uid = spawner::uid{root ? 0 : rid};
  id.gid = spawner::gid{root ? 0 : rid};
  return id;
}

}  // namespace

std::optional<identity> adopt_forwarded_token(std::uint64_t handle, std::string& error) {
  HANDLE given = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(handle));
  const std::string named = "handle 0x" + [&] {
    char hex[20];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(handle));
    return std::string(hex);
  }();
  // One of cgihost's own tokens (another request's, a logon's): never IIS's.
  if (is_own_token(given)) {
    error = named + " is a token cgihost holds itself, not one IIS forwarded: left open";
    return std::nullopt;
  }
  std::vector<unsigned char> user;
  DWORD query_error = 0;
  if (!token_user_of(given, user, query_error) && query_error != ERROR_ACCESS_DENIED) {
    // Not a token, or no handle: not IIS's, and closing it could close a
    // handle cgihost itself uses (its socket, a file).
    error = named + " is no token handle of this process (GetTokenInformation: " +
            win32::message_of(query_error) + "): left as it is";
    return std::nullopt;
  }
  // A token IIS gave for this request: closed here whatever comes next.
  HANDLE primary = nullptr;
  BOOL dup = FALSE;
  DWORD dup_error = 0;
  if (query_error == 0) {
    dup = DuplicateTokenEx(given, TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation, TokenPrimary,
                           &primary);
    dup_error = GetLastError();
  }
  CloseHandle(given);
  if (query_error != 0) {
    error = named + " is a token this process may not query (GetTokenInformation: " +
            win32::message_of(query_error) + "); closed";
    return std::nullopt;
  }
  if (!dup) {
    error = named + ": no primary token of it (DuplicateTokenEx: " + win32::message_of(dup_error) +
            "); closed";
    return std::nullopt;
  }
  return identity_of_token(
      owned(primary), reinterpret_cast<const TOKEN_USER*>(user.data())->User.Sid, named, error);
}

}  // namespace cgihost::spawner
