#pragma once
// Paths the build gives the Windows tests (CGIHOST_EXE, CGIHOST_PROGRAM_*)
// are the build machine's: under Wine a POSIX path is reached through the
// drive Z:, which maps the root.

#include <string>

namespace cgihost::test {

inline std::wstring native_path(const std::string& path) {
  std::wstring out;
  if (!path.empty() && path[0] == '/') out = L"Z:";
  for (char c : path) out += c == '/' ? L'\\' : static_cast<wchar_t>(static_cast<unsigned char>(c));
  return out;
}

}  // namespace cgihost::test
