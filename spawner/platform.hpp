#pragma once
// The platform's own names that the faces of spawner/ use, so that host/
// never names a POSIX or Win32 type itself.

#if defined(_WIN32)

namespace cgihost::spawner {

// An open file, folder, pipe or socket of this process: a HANDLE (void*, so
// that the faces need not include <windows.h>); INVALID_HANDLE_VALUE is
// `no_handle`.
using native_handle = void*;
inline native_handle const no_handle = reinterpret_cast<void*>(static_cast<long long>(-1));

// A process: its id (a DWORD); the process HANDLE that waits for it stays
// inside spawner/.
using process_id = unsigned long;

}  // namespace cgihost::spawner

#else

#include <sys/types.h>  // pid_t

namespace cgihost::spawner {

// An open file, folder, pipe or socket of this process: a descriptor.
using native_handle = int;
inline constexpr native_handle no_handle = -1;

// A process: its pid.
using process_id = pid_t;

}  // namespace cgihost::spawner

#endif
