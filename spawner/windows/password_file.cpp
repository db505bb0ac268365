// spawner/password_file.hpp on Windows: DPAPI blobs, the file's DACL, the
// atomic replace.
#include "spawner/password_file.hpp"

#include <aclapi.h>
#include <dpapi.h>
#include <sddl.h>
#include <windows.h>

#include <vector>

#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {

using win32::message_of;
using win32::narrow;
using win32::wide;

// Owned by the Administrators, full access for SYSTEM and the
// Administrators, nothing inherited (P). Setting that owner needs an
// elevated administrator.
constexpr const wchar_t* kFileSddl = L"O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)";

// A security descriptor freed with LocalFree.
struct local_sd {
  PSECURITY_DESCRIPTOR sd = nullptr;
  ~local_sd() {
    if (sd) LocalFree(sd);
  }
};

std::string sid_string(PSID sid) {
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(sid, &text)) return "?";
  std::string out = narrow(text);
  LocalFree(text);
  wchar_t name[256], domain[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use{};
  if (LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use))
    out = narrow(dn ? std::wstring(domain) + L"\\" + name : std::wstring(name)) + " (" + out + ")";
  return out;
}

bool is_sid(PSID sid, WELL_KNOWN_SID_TYPE type) { return IsWellKnownSid(sid, type); }

// Whether `sid` is this process's user (the account running `cgihost
// password`, or the LocalSystem service).
bool is_own_user(PSID sid) {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<unsigned char> buf(size ? size : 1);
  const bool got = GetTokenInformation(token, TokenUser, buf.data(), size, &size);
  CloseHandle(token);
  return got && EqualSid(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, sid);
}

// Who may read the file besides SYSTEM and the Administrators: "" when no
// one, else the first other account. Its owner counts (an owner may always
// rewrite the DACL): an owner other than those two is allowed only when it
// is this process's user, as ssh allows a key's owner to read it.
std::string other_reader(PSID owner, PACL dacl) {
  auto trusted = [](PSID sid) {
    return is_sid(sid, WinLocalSystemSid) || is_sid(sid, WinBuiltinAdministratorsSid);
  };
  const bool own = owner && !trusted(owner) && is_own_user(owner);
  if (owner && !trusted(owner) && !own)
    return sid_string(owner) + " (its owner, who may change its DACL)";
  if (!dacl) return "everyone (the file has no DACL)";
  // Reading, or a right that grants itself reading (WRITE_DAC, WRITE_OWNER).
  constexpr DWORD reading =
      FILE_READ_DATA | GENERIC_READ | GENERIC_ALL | MAXIMUM_ALLOWED | WRITE_DAC | WRITE_OWNER;
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    ACE_HEADER* ace = nullptr;
    if (!GetAce(dacl, i, reinterpret_cast<void**>(&ace))) return "? (an ACE that cannot be read)";
    if (ace->AceFlags & INHERIT_ONLY_ACE) continue;
    if (ace->AceType == ACCESS_DENIED_ACE_TYPE) continue;
    if (ace->AceType != ACCESS_ALLOWED_ACE_TYPE)
      return "? (an ACE of type " + std::to_string(ace->AceType) + " this check does not read)";
    auto* allowed = reinterpret_cast<ACCESS_ALLOWED_ACE*>(ace);
    PSID sid = &allowed->SidStart;
    if (!(allowed->Mask & reading)) continue;
    if (trusted(sid) || (own && EqualSid(sid, owner))) continue;
    return sid_string(sid);
  }
  return {};
}

// The text of `file`, after its DACL check; nullopt with `error`.
std::optional<std::string> read_guarded(const std::filesystem::path& file, bool& missing,
                                        std::string& error) {
  HANDLE h = CreateFileW(file.wstring().c_str(), GENERIC_READ | READ_CONTROL, FILE_SHARE_READ,
                         nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    missing = e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND;
    error = file.string() + ": " + message_of(e);
    return std::nullopt;
  }
  PACL dacl = nullptr;
  PSID owner = nullptr;
  local_sd sd;
  const DWORD got =
      GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      &owner, nullptr, &dacl, nullptr, &sd.sd);
  std::string text;
  if (got == ERROR_SUCCESS) {
    if (const std::string other = other_reader(owner, dacl); !other.empty()) {
      CloseHandle(h);
      error = file.string() + ": refused: " + other +
              " may read it, and a machine's DPAPI blobs decrypt for any process of the machine; "
              "let only SYSTEM and the Administrators read it (remove the file and set the "
              "passwords again: `cgihost password set` writes it so)";
      return std::nullopt;
    }
    char buf[4096];
    DWORD n = 0;
    while (ReadFile(h, buf, sizeof buf, &n, nullptr) && n > 0) text.append(buf, n);
  }
  CloseHandle(h);
  if (got != ERROR_SUCCESS) {
    error = file.string() + ": its DACL cannot be read: " + message_of(got);
    return std::nullopt;
  }
  return text;
}

}  // namespace

std::string fold_account_name(const std::string& name) {
  const std::wstring w = wide(name);
  if (w.empty()) return {};
  std::wstring folded(w.size(), L'\0');
  const int n =
      LCMapStringEx(LOCALE_NAME_INVARIANT, LCMAP_LOWERCASE, w.data(), static_cast<int>(w.size()),
                    folded.data(), static_cast<int>(folded.size()), nullptr, nullptr, 0);
  if (n <= 0) return name;
  folded.resize(static_cast<std::size_t>(n));
  return narrow(folded);
}

std::optional<std::vector<password_entry>> read_password_file(const std::filesystem::path& file,
                                                              std::string& error) {
  bool missing = false;
  auto text = read_guarded(file, missing, error);
  if (!text) {
    if (!missing) return std::nullopt;
    error.clear();
    return std::vector<password_entry>{};
  }
  return parse_password_file(*text, file.string(), error);
}

bool write_password_file(const std::filesystem::path& file,
                         const std::vector<password_entry>& entries, std::string& error) {
  local_sd sd;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(kFileSddl, SDDL_REVISION_1, &sd.sd,
                                                            nullptr)) {
    error = "the file's security descriptor: " + message_of(GetLastError());
    return false;
  }
  SECURITY_ATTRIBUTES sa{sizeof sa, sd.sd, FALSE};
  std::filesystem::path temp = file;
  temp += L".new-" + std::to_wstring(GetCurrentProcessId());
  HANDLE h = CreateFileW(temp.wstring().c_str(), GENERIC_WRITE, 0, &sa, CREATE_NEW,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    error = temp.string() + ": " + message_of(e) +
            (e == ERROR_INVALID_OWNER || e == ERROR_ACCESS_DENIED
                 ? " (run it as an administrator, from an elevated prompt)"
                 : "");
    return false;
  }
  const std::string text = format_password_file(entries);
  DWORD written = 0;
  const bool ok = WriteFile(h, text.data(), static_cast<DWORD>(text.size()), &written, nullptr) &&
                  written == text.size() && FlushFileBuffers(h);
  const DWORD write_error = GetLastError();
  CloseHandle(h);
  if (!ok || !MoveFileExW(temp.wstring().c_str(), file.wstring().c_str(),
                          MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    error = (ok ? file.string() + ": MoveFileExW: " + message_of(GetLastError())
                : temp.string() + ": " + message_of(write_error));
    DeleteFileW(temp.wstring().c_str());
    return false;
  }
  return true;
}

std::optional<std::vector<unsigned char>> protect_password(const std::string& account,
                                                           const std::string& password,
                                                           std::string& error) {
  std::string entropy = fold_account_name(account);
  DATA_BLOB in{static_cast<DWORD>(password.size()),
               reinterpret_cast<BYTE*>(const_cast<char*>(password.data()))};
  DATA_BLOB salt{static_cast<DWORD>(entropy.size()), reinterpret_cast<BYTE*>(entropy.data())};
  DATA_BLOB out{};
  if (!CryptProtectData(&in, L"cgihost logon password", &salt, nullptr, nullptr,
                        CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN, &out)) {
    error = "CryptProtectData for account " + account + ": " + message_of(GetLastError());
    return std::nullopt;
  }
  std::vector<unsigned char> blob(out.pbData, out.pbData + out.cbData);
  LocalFree(out.pbData);
  return blob;
}

bool unprotect_password(const std::string& account, const std::vector<unsigned char>& blob,
                        std::string& password, std::string& error) {
  std::string entropy = fold_account_name(account);
  DATA_BLOB in{static_cast<DWORD>(blob.size()), const_cast<BYTE*>(blob.data())};
  DATA_BLOB salt{static_cast<DWORD>(entropy.size()), reinterpret_cast<BYTE*>(entropy.data())};
  DATA_BLOB out{};
  if (!CryptUnprotectData(&in, nullptr, &salt, nullptr, nullptr, CRYPTPROTECT_UI_FORBIDDEN, &out)) {
    error = "the stored password of account " + account +
            " does not decrypt (CryptUnprotectData: " + message_of(GetLastError()) +
            "): another account's or another machine's blob, or a damaged one; set it again";
    return false;
  }
  password.assign(reinterpret_cast<const char*>(out.pbData), out.cbData);
  SecureZeroMemory(out.pbData, out.cbData);
  LocalFree(out.pbData);
  return true;
}

void wipe_secret(std::string& secret) {
  if (!secret.empty()) SecureZeroMemory(secret.data(), secret.size());
  secret.clear();
}

}  // namespace cgihost::spawner
