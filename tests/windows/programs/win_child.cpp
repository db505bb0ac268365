// A child for spawner/'s Windows tests (tests/spawner/windows_launch_test.cpp):
// plain Win32, what it does chosen by its first argument.
//   exit N            exits with N
//   out-err N         N bytes ("0123456789"...) to stdout, "to stderr\n" to stderr
//   echo              copies stdin to stdout until its end
//   env               each entry of its environment block, one a line
//   cwd               its working folder
//   argv              its command line split by CommandLineToArgvW, each ended by a NUL
//   crt-argv          main's argv (the C runtime's split), each ended by a NUL
//   handle HEX        whether HEX is a valid handle here ("valid"/"invalid"),
//                     and writes "leak" to it when it is
//   grandchild [stay] starts `win_child sleep` (inheriting nothing), prints its
//                     pid and a newline; then exits 0, or with `stay` sleeps
//   sleep             sleeps until ended
//   spawn N           starts N `win_child sleep`, prints "started K error E"
//   alloc MB          commits MB MiB, prints "ok" or "failed E"
//   spin MS           runs on the CPU until it had MS ms of user time, then exits 0
//   crash             dereferences a null pointer (an unhandled exception)
//   accept            accepts one connection on its stdin (a listening
//                     socket, FCGI_LISTENSOCK's model), writes "hello" to it
#include <winsock2.h>
// After winsock2:
#include <windows.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void write_out(const std::string& s, DWORD which = STD_OUTPUT_HANDLE) {
  HANDLE h = ::GetStdHandle(which);
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    DWORD n = 0;
    if (!::WriteFile(h, p, static_cast<DWORD>(left), &n, nullptr) || n == 0) return;
    p += n;
    left -= n;
  }
}

std::string narrow(const wchar_t* s, int len = -1) {
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, s, len, nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n > 0 ? n : 0), '\0');
  if (n > 0) ::WideCharToMultiByte(CP_UTF8, 0, s, len, out.data(), n, nullptr, nullptr);
  if (len < 0 && !out.empty()) out.pop_back();
  return out;
}

int echo() {
  HANDLE in = ::GetStdHandle(STD_INPUT_HANDLE);
  char buf[16384];
  DWORD n = 0;
  while (::ReadFile(in, buf, sizeof buf, &n, nullptr) && n > 0) write_out(std::string(buf, n));
  return 0;
}

int env() {
  wchar_t* block = ::GetEnvironmentStringsW();
  for (const wchar_t* p = block; *p; p += std::wcslen(p) + 1) write_out(narrow(p) + "\n");
  ::FreeEnvironmentStringsW(block);
  return 0;
}

int argv_split() {
  // Through shell32 at run time: the programs link only what every one needs.
  using split_fn = LPWSTR*(WINAPI*)(LPCWSTR, int*);
  auto split = reinterpret_cast<split_fn>(reinterpret_cast<void*>(
      ::GetProcAddress(::LoadLibraryW(L"shell32.dll"), "CommandLineToArgvW")));
  if (!split) return 3;
  int argc = 0;
  LPWSTR* argv = split(::GetCommandLineW(), &argc);
  for (int i = 0; i < argc; ++i) write_out(narrow(argv[i]) + std::string(1, '\0'));
  ::LocalFree(argv);
  return 0;
}

// Starts `win_child sleep` with no handles of ours (not even our standard
// ones, which a console program would otherwise pass on); its process handle.
HANDLE start_sleeper() {
  wchar_t self[MAX_PATH];
  ::GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring line = L"\"" + std::wstring(self) + L"\" sleep";
  STARTUPINFOW si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;  // all three null
  PROCESS_INFORMATION pi{};
  if (!::CreateProcessW(self, line.data(), nullptr, nullptr, FALSE, CREATE_NO_WINDOW, nullptr,
                        nullptr, &si, &pi))
    return nullptr;
  ::CloseHandle(pi.hThread);
  return pi.hProcess;
}

int grandchild(bool stay) {
  HANDLE g = start_sleeper();
  if (!g) return 4;
  write_out(std::to_string(::GetProcessId(g)) + "\n");
  if (stay) ::Sleep(INFINITE);
  return 0;
}

int spawn(int n) {
  int started = 0;
  DWORD error = 0;
  for (int i = 0; i < n; ++i) {
    if (start_sleeper())
      ++started;
    else
      error = ::GetLastError();
  }
  write_out("started " + std::to_string(started) + " error " + std::to_string(error) + "\n");
  return 0;
}

int alloc(unsigned long long mib) {
  void* p = ::VirtualAlloc(nullptr, static_cast<SIZE_T>(mib << 20), MEM_COMMIT | MEM_RESERVE,
                           PAGE_READWRITE);
  write_out(p ? std::string("ok\n") : "failed " + std::to_string(::GetLastError()) + "\n");
  return 0;
}

// Until this process has had `ms` ms of user time (at most 20 s of wall time).
int spin(unsigned long long ms) {
  const auto give_up = ::GetTickCount64() + 20000;
  volatile unsigned long long n = 0;
  FILETIME created, exited, kernel, user;
  do {
    for (int i = 0; i < 1000000; ++i) n = n + 1;
    ::GetProcessTimes(::GetCurrentProcess(), &created, &exited, &kernel, &user);
  } while ((static_cast<unsigned long long>(user.dwHighDateTime) << 32 | user.dwLowDateTime) /
                   10000 <
               ms &&
           ::GetTickCount64() < give_up);
  return 0;
}

int accept_one() {
  WSADATA wsa;
  if (::WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 5;
  auto listener = reinterpret_cast<SOCKET>(::GetStdHandle(STD_INPUT_HANDLE));
  SOCKET s = ::accept(listener, nullptr, nullptr);
  if (s == INVALID_SOCKET) return 6;
  ::send(s, "hello", 5, 0);
  ::closesocket(s);
  return 0;
}

int handle(const char* hex) {
  HANDLE h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(std::strtoull(hex, nullptr, 16)));
  DWORD flags = 0;
  if (!::GetHandleInformation(h, &flags)) {
    write_out("invalid\n");
    return 0;
  }
  DWORD n = 0;
  ::WriteFile(h, "leak", 4, &n, nullptr);
  write_out("valid\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";
  if (mode == "exit") return std::atoi(arg);
  if (mode == "out-err") {
    std::string out(static_cast<std::size_t>(std::atol(arg)), '\0');
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>('0' + i % 10);
    write_out(out);
    write_out("to stderr\n", STD_ERROR_HANDLE);
    return 0;
  }
  if (mode == "echo") return echo();
  if (mode == "env") return env();
  if (mode == "cwd") {
    wchar_t dir[MAX_PATH];
    ::GetCurrentDirectoryW(MAX_PATH, dir);
    write_out(narrow(dir) + "\n");
    return 0;
  }
  if (mode == "argv") return argv_split();
  if (mode == "crt-argv") {
    for (int i = 0; i < argc; ++i) write_out(std::string(argv[i]) + std::string(1, '\0'));
    return 0;
  }
  if (mode == "handle") return handle(arg);
  if (mode == "grandchild") return grandchild(std::strcmp(arg, "stay") == 0);
  if (mode == "sleep") ::Sleep(INFINITE);
  if (mode == "spawn") return spawn(std::atoi(arg));
  if (mode == "alloc") return alloc(std::strtoull(arg, nullptr, 10));
  if (mode == "spin") return spin(std::strtoull(arg, nullptr, 10));
  if (mode == "accept") return accept_one();
  if (mode == "crash") {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }
  return 2;
}
