// Whole messages over a message-mode named pipe. See pipe_message.hpp.
#include "spawner/windows/pipe_message.hpp"

#include <memory>

#include "spawner/broker_wire.hpp"

namespace cgihost::spawner::win32 {
namespace {

// An event for one overlapped call, closed at the end of the scope.
struct call {
  OVERLAPPED ov{};
  call() { ov.hEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr); }
  ~call() {
    if (ov.hEvent) ::CloseHandle(ov.hEvent);
  }
  call(const call&) = delete;
  call& operator=(const call&) = delete;

  // The result of a call that returned `ok`: the bytes moved, or false with
  // GetLastError() set. `stop` abandons a call still under way.
  bool finish(HANDLE h, BOOL ok, DWORD& moved, HANDLE stop) {
    if (!ok && ::GetLastError() != ERROR_IO_PENDING) return false;
    if (!ok && stop) {
      HANDLE both[2] = {ov.hEvent, stop};
      if (::WaitForMultipleObjects(2, both, FALSE, INFINITE) != WAIT_OBJECT_0) {
        ::CancelIoEx(h, &ov);
        // A read that completed before the cancel took its bytes out of the
        // pipe: they are returned, never dropped (a reply may name handles).
        if (::GetOverlappedResult(h, &ov, &moved, TRUE)) return true;
        if (::GetLastError() != ERROR_MORE_DATA) ::SetLastError(ERROR_OPERATION_ABORTED);
        return false;
      }
    }
    return ::GetOverlappedResult(h, &ov, &moved, TRUE) != FALSE;
  }
};

}  // namespace

bool write_message(HANDLE pipe, const std::string& data) {
  call c;
  if (!c.ov.hEvent) return false;
  DWORD moved = 0;
  const BOOL ok = ::WriteFile(pipe, data.data(), static_cast<DWORD>(data.size()), nullptr, &c.ov);
  return c.finish(pipe, ok, moved, nullptr) && moved == data.size();
}

int read_message(HANDLE pipe, std::string& data, HANDLE stop) {
  constexpr DWORD kChunk = 64 * 1024;
  data.clear();
  bool too_large = false;
  while (true) {
    call c;
    if (!c.ov.hEvent) return -1;
    auto buf = std::make_unique_for_overwrite<char[]>(kChunk);
    DWORD moved = 0;
    const BOOL ok = ::ReadFile(pipe, buf.get(), kChunk, nullptr, &c.ov);
    const bool done = c.finish(pipe, ok, moved, stop);
    const DWORD error = done ? ERROR_SUCCESS : ::GetLastError();
    if (!done && error != ERROR_MORE_DATA)
      return error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED ? 0 : -1;
    if (!too_large) data.append(buf.get(), moved);
    if (data.size() > wire::kMaxMessage) {
      too_large = true;
      data.clear();
    }
    if (done) return too_large ? -2 : 1;
  }
}

int take_message(HANDLE pipe, std::string& data) {
  DWORD available = 0;
  if (!::PeekNamedPipe(pipe, nullptr, 0, nullptr, &available, nullptr)) {
    const DWORD e = ::GetLastError();
    return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED ? 0 : -1;
  }
  if (available == 0) return 0;
  return read_message(pipe, data);
}

}  // namespace cgihost::spawner::win32
