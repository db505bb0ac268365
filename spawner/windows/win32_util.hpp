#pragma once
// What the files of spawner/windows/ share: UTF-8 <-> UTF-16 (protocol/
// utf16.hpp's, for wchar_t), Win32 errors as errno values and as text.
// Inside spawner/ only.

#include <windows.h>

#include <string>
#include <string_view>
#include <system_error>

namespace cgihost::spawner::win32 {

// protocol/utf16.hpp's lenient conversions for the wide API (wchar_t is
// UTF-16 here): an ill-formed part becomes U+FFFD, as MultiByteToWideChar
// does.
std::wstring wide(std::string_view utf8);
std::string narrow(std::wstring_view utf16);

// The POSIX name of a Win32 error (ERROR_FILE_NOT_FOUND -> ENOENT, ...), or
// 0 when it has none.
int errno_of(DWORD error);
// A Win32 error as an error_code: generic (errno) when it has a POSIX name,
// so that callers compare with std::errc on both platforms; else system.
std::error_code error_of(DWORD error);
// The system's text of a Win32 error, with its number: "Access is denied.
// (5)".
std::string message_of(DWORD error);

// Whether this process runs under Wine (ntdll exports wine_get_version):
// Wine fakes logons and tokens.
bool under_wine();

}  // namespace cgihost::spawner::win32
