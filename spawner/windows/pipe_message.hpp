#pragma once
// One message of a message-mode named pipe, read or written whole: the
// spawner service's channel (broker.cpp, service.cpp). Works on handles
// opened with or without FILE_FLAG_OVERLAPPED (each call waits for its own
// completion). Inside spawner/ only.

#include <windows.h>

#include <string>

namespace cgihost::spawner::win32 {

// Writes `data` as one message; false when the pipe is broken or the write
// came up short.
bool write_message(HANDLE pipe, const std::string& data);

// Reads one message into `data`: 1 a message; 0 the other end closed; -1
// another error; -2 a message over wire::kMaxMessage (read to its end and
// dropped). `stop`, when given, is an event that abandons the read (-1).
// A message that completed before `stop` is returned (1), not dropped.
int read_message(HANDLE pipe, std::string& data, HANDLE stop = nullptr);

// The message already in the pipe, without waiting (PeekNamedPipe): 1 and
// `data` when there is one; 0 when there is none (or the other end is
// gone); -1 on another error, -2 as read_message.
int take_message(HANDLE pipe, std::string& data);

}  // namespace cgihost::spawner::win32
