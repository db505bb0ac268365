// config/accounts.hpp for Windows: accounts by name through the local
// security authority (LookupAccountNameW), who this process is from its
// token, programs on PATH with PATHEXT.
#include <windows.h>

#include <cstdlib>
#include <vector>

#include "config/accounts.hpp"
#include "protocol/utf16.hpp"

namespace cgihost::config {
namespace {

// protocol/utf16.hpp's lenient conversions (wchar_t is UTF-16 here): an
// ill-formed name becomes one with U+FFFD in it, which names no account.
std::wstring wide(const std::string& s) {
  const std::u16string w = protocol::utf8_to_utf16_lossy(s);
  return std::wstring(w.begin(), w.end());
}

std::string narrow(const std::wstring& w) {
  return protocol::utf16_to_utf8_lossy(std::u16string(w.begin(), w.end()));
}

std::string sid_text(PSID sid) {
  std::string out = "S-1-";
  const auto* auth = GetSidIdentifierAuthority(sid);
  std::uint64_t value = 0;
  for (int i = 0; i < 6; ++i) value = (value << 8) | auth->Value[i];
  out += std::to_string(value);
  const UCHAR n = *GetSidSubAuthorityCount(sid);
  for (UCHAR i = 0; i < n; ++i) out += "-" + std::to_string(*GetSidSubAuthority(sid, i));
  return out;
}

// LocalSystem and the Administrators group are Windows' root: children never
// run as them, so they get uid 0 for the loader's root rule.
bool counts_as_root(const std::string& sid) { return sid == "S-1-5-18" || sid == "S-1-5-32-544"; }

account from_sid(const std::string& name, PSID sid) {
  account a;
  a.name = name;
  a.sid = sid_text(sid);
  const UCHAR n = *GetSidSubAuthorityCount(sid);
  const std::uint32_t rid = n > 0 ? *GetSidSubAuthority(sid, n - 1) : 0;
  a.uid = a.gid = counts_as_root(a.sid) ? 0 : rid;
  return a;
}

}  // namespace

std::optional<std::uint32_t> lookup_system_group(const std::string& name) {
  (void)name;
  return std::nullopt;
}

std::optional<account> lookup_system_account(const std::string& name) {
  const std::wstring w = wide(name);
  DWORD sid_size = 0, domain_size = 0;
  SID_NAME_USE use{};
  LookupAccountNameW(nullptr, w.c_str(), nullptr, &sid_size, nullptr, &domain_size, &use);
  if (sid_size == 0) return std::nullopt;
  std::vector<BYTE> sid(sid_size);
  std::wstring domain(domain_size, L'\0');
  if (!LookupAccountNameW(nullptr, w.c_str(), sid.data(), &sid_size, domain.data(), &domain_size,
                          &use))
    return std::nullopt;
  // A user, or a built-in service account such as IUSR or LocalService
  // (which Windows files as well-known groups); never a group of people.
  if (use != SidTypeUser && use != SidTypeWellKnownGroup) return std::nullopt;
  return from_sid(name, sid.data());
}

std::optional<account> lookup_system_account_by_uid(std::uint32_t) { return std::nullopt; }

bool system_id_in_use(std::uint32_t) { return false; }

account current_system_account() {
  HANDLE token = nullptr;
  if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
    DWORD size = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &size);
    std::vector<BYTE> buf(size ? size : 1);
    const bool got = GetTokenInformation(token, TokenUser, buf.data(), size, &size);
    CloseHandle(token);
    if (got) {
      PSID sid = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
      wchar_t name[256], domain[256];
      DWORD nn = 256, dn = 256;
      SID_NAME_USE use{};
      std::string text = LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use)
                             ? narrow(std::wstring(domain) + L"\\" + name)
                             : sid_text(sid);
      return from_sid(text, sid);
    }
  }
  return account{"unknown", 1, 1, "", ""};
}

// The privileged spawner (a LocalSystem service) starts children as other
// accounts on Windows; the network process itself never does.
bool running_with_privileges() { return false; }

namespace {

bool regular_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

// `p` as given, or with one of PATHEXT's extensions when it has none.
std::optional<std::filesystem::path> with_extension(const std::filesystem::path& p) {
  if (p.has_extension()) {
    if (regular_file(p)) return p;
    return std::nullopt;
  }
  const char* pathext = std::getenv("PATHEXT");
  std::string_view exts = pathext ? pathext : ".COM;.EXE;.BAT;.CMD";
  while (!exts.empty()) {
    const auto semi = exts.find(';');
    const std::string ext(exts.substr(0, semi));
    if (!ext.empty()) {
      auto q = p;
      q += ext;
      if (regular_file(q)) return q;
    }
    if (semi == std::string_view::npos) break;
    exts.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::filesystem::path> find_program(const std::string& name,
                                                  const std::filesystem::path& base) {
  namespace fs = std::filesystem;
  if (name.empty()) return std::nullopt;
  if (name.find_first_of("/\\:") != std::string::npos) {
    fs::path p = fs::path(name).is_absolute() ? fs::path(name) : base / name;
    if (auto found = with_extension(p)) return found->lexically_normal();
    return std::nullopt;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env ? path_env : "";
  while (!dirs.empty()) {
    const auto semi = dirs.find(';');
    const std::string_view dir = dirs.substr(0, semi);
    if (!dir.empty())
      if (auto found = with_extension(fs::path(std::string(dir)) / name)) return found;
    if (semi == std::string_view::npos) break;
    dirs.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace cgihost::config
