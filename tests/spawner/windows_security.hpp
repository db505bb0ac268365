#pragma once
// A file_info with a security descriptor of the tests' choosing, for
// may_access under Wine (which keeps no DACL a test sets on a file).
// Header-only, Windows only.

#include <windows.h>
// After <windows.h>:
#include <sddl.h>

#include "spawner/files.hpp"

namespace cgihost::spawner {

// A regular file's file_info whose security descriptor is the SDDL `sddl`
// (none when it does not parse).
inline file_info with_security(const wchar_t* sddl) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  ULONG size = 0;
  file_info out;
  out.what = file_info::kind::regular;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, &size))
    return out;
  const auto* bytes = static_cast<const unsigned char*>(sd);
  out.security.assign(bytes, bytes + size);
  ::LocalFree(sd);
  return out;
}

}  // namespace cgihost::spawner
