#pragma once
// A file's DACL as the system reads it back, for the Windows tests of the
// logon password file (spawner's and the `cgihost password` command's).
// Header-only, Windows only.

#include <windows.h>
// After <windows.h>:
#include <aclapi.h>
#include <sddl.h>

#include <filesystem>
#include <string>

namespace cgihost::test {

// The DACL of `file` in SDDL ("D:P(A;;FA;;;SY)..."), "" when it cannot be
// read. Wine derives one from the Unix mode: it keeps none it is given.
inline std::string dacl_of(const std::filesystem::path& file) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  PACL dacl = nullptr;
  if (::GetNamedSecurityInfoW(file.wstring().c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                              nullptr, nullptr, &dacl, nullptr, &sd) != ERROR_SUCCESS)
    return {};
  wchar_t* text = nullptr;
  std::string out;
  if (::ConvertSecurityDescriptorToStringSecurityDescriptorW(
          sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, nullptr)) {
    for (const wchar_t* c = text; *c; ++c) out += static_cast<char>(*c);
    ::LocalFree(text);
  }
  ::LocalFree(sd);
  return out;
}

}  // namespace cgihost::test
