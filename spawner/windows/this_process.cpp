// this_process on Windows: the process token's user. See this_process.hpp.
#include "spawner/this_process.hpp"

#include <windows.h>
// After <windows.h>:
#include <sddl.h>

#include <memory>
#include <vector>

namespace cgihost::spawner {
namespace {

std::string narrow(const wchar_t* s) {
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, s, -1, nullptr, 0, nullptr, nullptr);
  if (n <= 1) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, s, -1, out.data(), n, nullptr, nullptr);
  out.pop_back();  // the NUL
  return out;
}

process_account read_account() {
  process_account out;
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return out;
  DWORD size = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<char> buf(size);
  if (size != 0 && ::GetTokenInformation(token, TokenUser, buf.data(), size, &size)) {
    PSID sid = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
    wchar_t* text = nullptr;
    if (::ConvertSidToStringSidW(sid, &text)) {
      out.sid = narrow(text);
      ::LocalFree(text);
    }
    wchar_t name[256], domain[256];
    DWORD name_size = 256, domain_size = 256;
    SID_NAME_USE use;
    if (::LookupAccountSidW(nullptr, sid, name, &name_size, domain, &domain_size, &use))
      out.name = (domain_size != 0 ? narrow(domain) + "\\" : std::string()) + narrow(name);
  }
  ::CloseHandle(token);
  return out;
}

}  // namespace

process_account current_account() {
  // A process's token user never changes: read once.
  static const process_account self = read_account();
  return self;
}

bool can_switch_accounts() { return false; }

process_id this_process_id() { return ::GetCurrentProcessId(); }

void ignore_broken_pipes() {}

bool drop_privileges(const identity& to, std::string& error) {
  error = "dropping privileges to " + to.name +
          " is not applicable on Windows: a process cannot change its token's user (the privileged "
          "part is to be a service of its own)";
  return false;
}

}  // namespace cgihost::spawner
