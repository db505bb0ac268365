#pragma once
// The platform's own names that the faces of spawner/ use, so that host/
// never names a POSIX type itself. POSIX meanings today; issue 15 (Windows)
// gives each the meaning noted beside it.

#include <sys/types.h>  // POSIX: pid_t. Issue 15: <windows.h>'s HANDLE and DWORD instead.

namespace cgihost::spawner {

// An open file, folder, pipe or socket of this process: a descriptor.
// Windows: a HANDLE (and INVALID_HANDLE_VALUE for `no_handle`).
using native_handle = int;
inline constexpr native_handle no_handle = -1;

// A process: its pid. Windows: a process id (DWORD); the process HANDLE
// that waits for it stays inside spawner/.
using process_id = pid_t;

}  // namespace cgihost::spawner
