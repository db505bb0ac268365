#pragma once
// Tokens of this test process's user for the Windows tests (spawner
// service, front end): its SID, its own token, and the same made a
// realistic user's (Administrators deny-only, no privileges). Under Wine
// every process runs as one user, an administrator: these are the tokens
// the tests forward or judge with. Header-only, Windows only.

#include <windows.h>
// After <windows.h>:
#include <sddl.h>

#include <memory>
#include <string>
#include <vector>

namespace cgihost::test {

// This process's user SID as text ("S-1-5-21-..."), "" when unreadable.
inline std::string own_sid() {
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return {};
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

// `own`'s privileges but SeChangeNotify, to delete (Wine's
// DISABLE_MAX_PRIVILEGE deletes none: they are named one by one).
inline std::vector<LUID_AND_ATTRIBUTES> privileges_but_change_notify(HANDLE own) {
  DWORD size = 0;
  ::GetTokenInformation(own, TokenPrivileges, nullptr, 0, &size);
  std::vector<unsigned char> buf(size ? size : 1);
  std::vector<LUID_AND_ATTRIBUTES> out;
  LUID notify{};
  ::LookupPrivilegeValueW(nullptr, L"SeChangeNotifyPrivilege", &notify);
  if (size && ::GetTokenInformation(own, TokenPrivileges, buf.data(), size, &size)) {
    const auto* p = reinterpret_cast<const TOKEN_PRIVILEGES*>(buf.data());
    for (DWORD i = 0; i < p->PrivilegeCount; ++i)
      if (p->Privileges[i].Luid.LowPart != notify.LowPart ||
          p->Privileges[i].Luid.HighPart != notify.HighPart)
        out.push_back({p->Privileges[i].Luid, 0});
  }
  return out;
}

// This process's token made a realistic user's, as a primary token (a raw
// handle the caller closes; null on failure): the Administrators group
// deny-only (a UAC-filtered token), no privileges but SeChangeNotify
// (DISABLE_MAX_PRIVILEGE) when `strip_privileges`, and Medium integrity
// where SetTokenInformation allows it.
inline HANDLE new_filtered_token(bool strip_privileges = true) {
  HANDLE own = nullptr, out = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own)) return nullptr;
  SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  PSID admins = nullptr;
  ::AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0,
                             0, 0, 0, &admins);
  SID_AND_ATTRIBUTES deny{admins, 0};
  auto strip = privileges_but_change_notify(own);
  if (!strip_privileges) strip.clear();
  if (!::CreateRestrictedToken(own, strip_privileges ? DISABLE_MAX_PRIVILEGE : 0, 1, &deny,
                               static_cast<DWORD>(strip.size()), strip.data(), 0, nullptr, &out))
    out = nullptr;
  ::FreeSid(admins);
  ::CloseHandle(own);
  PSID medium = nullptr;
  if (out && ::ConvertStringSidToSidW(L"S-1-16-8192", &medium)) {
    TOKEN_MANDATORY_LABEL label{{medium, SE_GROUP_INTEGRITY}};
    ::SetTokenInformation(out, TokenIntegrityLevel, &label, sizeof label + ::GetLengthSid(medium));
    ::LocalFree(medium);
  }
  return out;
}

// new_filtered_token, closed when the last copy goes.
inline std::shared_ptr<void> filtered_token(bool strip_privileges = true) {
  HANDLE out = new_filtered_token(strip_privileges);
  return out ? std::shared_ptr<void>(out, ::CloseHandle) : nullptr;
}

// This process's own token (TOKEN_ALL_ACCESS), closed when the last copy goes.
inline std::shared_ptr<void> own_token() {
  HANDLE own = nullptr;
  ::OpenProcessToken(::GetCurrentProcess(), TOKEN_ALL_ACCESS, &own);
  return own ? std::shared_ptr<void>(own, ::CloseHandle) : nullptr;
}

inline bool is_wine() {
  return ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

}  // namespace cgihost::test
