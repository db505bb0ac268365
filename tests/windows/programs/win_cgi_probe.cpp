// A CGI program for the Windows tests, the counterpart of
// tests/host/programs/cgi_probe.cpp: the test picks its behaviour with
// QUERY_STRING: mode=NAME, and for some modes n=NUMBER; pidfile=PATH makes
// it write its pid there first. Plain Win32 and the C++ standard library.
// The modes of cgi_probe behave the same (no mode: tiny; an unknown one:
// 400); "local" and "loop" redirect to /cgi-bin/probe.exe, "die" ends with
// TerminateProcess (exit code 9) after a partial body.
//
// Windows-only modes:
//   env         the environment block, one NAME=value a line, as received
//   cwd         the working directory
//   grandchild  starts a copy of itself (mode=sleep, n seconds, default 60)
//               in the same job, prints "grandchild PID", then ends, or with
//               then=sleep sleeps n seconds itself (the job-kill tests)
//   handles     handle_count=N (GetProcessHandleCount), the type of each
//               standard handle, and for each handle value in the query's
//               handle=HEX (repeatable) and in the PROBE_HANDLE variable
//               (hex, comma-separated): "handle HEX valid inherit=0|1" or
//               "handle HEX invalid error=N" (GetHandleInformation)
//   exit        ends with exit code n, printing nothing
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

std::string env(const char* name) {
  char buf[32768];
  DWORD n = GetEnvironmentVariableA(name, buf, sizeof buf);
  return n > 0 && n < sizeof buf ? std::string(buf, n) : std::string();
}

// Every value of `name` in QUERY_STRING, in order.
std::vector<std::string> params(const char* name) {
  std::vector<std::string> out;
  const std::string qs = env("QUERY_STRING"), key = std::string(name) + "=";
  std::size_t pos = 0;
  while (pos <= qs.size()) {
    std::size_t end = qs.find('&', pos);
    if (end == std::string::npos) end = qs.size();
    if (qs.compare(pos, key.size(), key) == 0)
      out.push_back(qs.substr(pos + key.size(), end - pos - key.size()));
    pos = end + 1;
  }
  return out;
}

std::string param(const char* name) {
  auto all = params(name);
  return all.empty() ? std::string() : all.front();
}

long number() { return std::atol(param("n").c_str()); }

void out(const std::string& s) {
  HANDLE h = GetStdHandle(STD_OUTPUT_HANDLE);
  std::size_t done = 0;
  while (done < s.size()) {
    DWORD n = 0;
    const DWORD want = static_cast<DWORD>(std::min<std::size_t>(s.size() - done, 1 << 20));
    if (!WriteFile(h, s.data() + done, want, &n, nullptr) || n == 0) ExitProcess(3);
    done += n;
  }
}

// One read from standard input: bytes read, 0 at its end (or on an error).
DWORD read_in(char* buf, DWORD size) {
  DWORD n = 0;
  if (!ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, size, &n, nullptr)) return 0;
  return n;
}

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string narrow(const wchar_t* w, int len = -1) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, len, nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(std::max(n, 0)), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, len, s.data(), n, nullptr, nullptr);
  if (len == -1 && !s.empty()) s.pop_back();  // the NUL
  return s;
}

void mode_env() {
  std::vector<std::string> lines;
  wchar_t* block = GetEnvironmentStringsW();
  for (const wchar_t* p = block; p && *p; p += std::wcslen(p) + 1) lines.push_back(narrow(p));
  if (block) FreeEnvironmentStringsW(block);
  std::sort(lines.begin(), lines.end());
  std::string body;
  for (const auto& l : lines) body += l + "\n";
  out("Content-Type: text/plain\r\n\r\n" + body);
}

void mode_cwd() {
  wchar_t buf[MAX_PATH * 4];
  DWORD n = GetCurrentDirectoryW(MAX_PATH * 4, buf);
  out("Content-Type: text/plain\r\n\r\n" + narrow(buf, static_cast<int>(n)) + "\n");
}

// Starts this program again as mode=sleep; its pid, 0 on failure.
DWORD start_grandchild(long seconds) {
  wchar_t self[MAX_PATH * 4];
  DWORD len = GetModuleFileNameW(nullptr, self, MAX_PATH * 4);
  if (len == 0 || len >= MAX_PATH * 4) return 0;
  const std::string qs = "mode=sleep&n=" + std::to_string(seconds);
  SetEnvironmentVariableA("QUERY_STRING", qs.c_str());
  std::wstring cmd = L"\"" + std::wstring(self, len) + L"\"";
  STARTUPINFOW si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  // No handle inherited: it must not hold the response pipe open.
  if (!CreateProcessW(self, cmd.data(), nullptr, nullptr, FALSE, CREATE_NO_WINDOW, nullptr, nullptr,
                      &si, &pi))
    return 0;
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  return pi.dwProcessId;
}

void mode_grandchild() {
  const long n = number() ? number() : 60;
  const DWORD pid = start_grandchild(n);
  if (pid == 0) {
    out("Status: 500\r\nContent-Type: text/plain\r\n\r\nCreateProcessW failed: error " +
        std::to_string(GetLastError()) + "\n");
    return;
  }
  out("Content-Type: text/plain\r\n\r\ngrandchild " + std::to_string(pid) + "\n");
  if (param("then") == "sleep") Sleep(static_cast<DWORD>(n) * 1000);
}

const char* type_name(HANDLE h) {
  if (h == nullptr || h == INVALID_HANDLE_VALUE) return "none";
  switch (GetFileType(h)) {
    case FILE_TYPE_DISK:
      return "disk";
    case FILE_TYPE_CHAR:
      return "char";
    case FILE_TYPE_PIPE:
      return "pipe";
    default:
      return "unknown";
  }
}

std::string handle_line(const std::string& text) {
  const std::uint64_t v = std::strtoull(text.c_str(), nullptr, 16);
  DWORD flags = 0;
  HANDLE h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));
  if (v == 0 || !GetHandleInformation(h, &flags))
    return "handle " + hex(v) + " invalid error=" + std::to_string(GetLastError()) + "\n";
  return "handle " + hex(v) + " valid inherit=" + ((flags & HANDLE_FLAG_INHERIT) ? "1" : "0") +
         "\n";
}

void mode_handles() {
  DWORD count = 0;
  GetProcessHandleCount(GetCurrentProcess(), &count);
  std::string body = "handle_count=" + std::to_string(count) + "\n";
  body += std::string("stdin=") + type_name(GetStdHandle(STD_INPUT_HANDLE)) + "\n";
  body += std::string("stdout=") + type_name(GetStdHandle(STD_OUTPUT_HANDLE)) + "\n";
  body += std::string("stderr=") + type_name(GetStdHandle(STD_ERROR_HANDLE)) + "\n";
  std::vector<std::string> values = params("handle");
  const std::string listed = env("PROBE_HANDLE");
  for (std::size_t pos = 0; pos < listed.size();) {
    std::size_t end = std::min(listed.find(',', pos), listed.size());
    if (end > pos) values.push_back(listed.substr(pos, end - pos));
    pos = end + 1;
  }
  for (const auto& v : values) body += handle_line(v);
  out("Content-Type: text/plain\r\n\r\n" + body);
}

void mode_echo() {
  const long len = std::atol(env("CONTENT_LENGTH").c_str());
  out("Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(len) +
      "\r\n\r\n");
  char buf[65536];
  long left = len;
  while (left > 0) {
    DWORD r = read_in(buf, sizeof buf);
    if (r == 0) break;
    out(std::string(buf, r));
    left -= static_cast<long>(r);
  }
}

void mode_sink() {
  char buf[65536];
  long long total = 0;
  for (DWORD r; (r = read_in(buf, sizeof buf)) > 0;) total += r;
  out("Content-Type: text/plain\r\n\r\nread " + std::to_string(total) + "\n");
}

void mode_big(bool with_length) {
  std::string chunk(1 << 20, '\0');
  for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
  const long n = number();
  out(with_length ? "Content-Type: application/octet-stream\r\nContent-Length: " +
                        std::to_string(static_cast<long long>(n) << 20) + "\r\n\r\n"
                  : std::string("Content-Type: application/octet-stream\r\n\r\n"));
  for (long i = 0; i < n; ++i) out(chunk);
}

void mode_trickle() {
  out("Content-Type: text/plain\r\n\r\n");
  for (int i = 0; i < 6000; ++i) {
    out("tick\n");
    Sleep(10);
  }
}

void mode_stderr() {
  HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
  for (long i = 0; i < number(); ++i) {
    std::string line = "line " + std::to_string(i) + " of stderr\n";
    DWORD n = 0;
    WriteFile(err, line.data(), static_cast<DWORD>(line.size()), &n, nullptr);
  }
  out("Content-Type: text/plain\r\n\r\nok\n");
}

// The modes whose whole behaviour is one fixed output.
const std::map<std::string, const char*>& fixed_outputs() {
  static const std::map<std::string, const char*> m = {
      {"tiny", "Content-Type: text/plain\r\n\r\nhello\n"},
      {"status", "Status: 404 Not Here\r\nContent-Type: text/plain\r\n\r\nmissing\n"},
      {"nocontent", "Status: 204\r\n\r\n"},
      {"cookies", "Content-Type: text/plain\nSet-Cookie: a=1\nX-Between: y\nSet-Cookie: b=2\n\n"},
      {"local", "Location: /cgi-bin/probe.exe?mode=tiny\n\n"},
      {"client", "Location: http://example.com/there\n\n"},
      {"nocolon", "Content-Type: text/plain\nthis is not a header\n\n"},
      {"noblank", "Content-Type: text/plain\n"},
      {"badstatus", "Status: 2000\nContent-Type: text/plain\n\n"},
      {"notype", "X-Only: 1\n\nbody\n"},
      {"silent", ""},
      {"short", "Content-Type: text/plain\r\nContent-Length: 100\r\n\r\nshort"},
      {"long", "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nfive and more"},
      {"nph", "HTTP/1.1 299 Odd\r\nX-Raw: yes\r\n\r\nraw"},
      {"local_dotfile", "Location: /.env\n\n"},
      {"loop", "Location: /cgi-bin/probe.exe?mode=loop\n\n"},
      {"interim", "Status: 100 Continue\r\n\r\n"},
      {"upgrade",
       "Status: 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
      {"hints",
       "Status: 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Type: "
       "text/plain\r\n\r\nbody\n"},
      {"fold", "Content-Type: text/plain\nX-Long: a\n  b\n\n"},
      {"hopbyhop",
       "Content-Type: text/plain\r\nConnection: keep-alive\r\nTransfer-Encoding: "
       "chunked\r\n\r\nplain\n"},
  };
  return m;
}

const std::map<std::string, std::function<void()>>& actions() {
  static const std::map<std::string, std::function<void()>> m = {
      {"env", mode_env},
      {"cwd", mode_cwd},
      {"grandchild", mode_grandchild},
      {"handles", mode_handles},
      {"echo", mode_echo},
      {"sink", mode_sink},
      {"big", [] { mode_big(true); }},
      {"stream", [] { mode_big(false); }},
      {"trickle", mode_trickle},
      {"stderr", mode_stderr},
      {"sleep",
       [] {
         Sleep(static_cast<DWORD>(number() ? number() : 60) * 1000);
         out("Content-Type: text/plain\r\n\r\nwoke\n");
       }},
      {"die",
       [] {
         out("Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly ten..");
         TerminateProcess(GetCurrentProcess(), 9);
       }},
      {"exit", [] { ExitProcess(static_cast<UINT>(number())); }},
  };
  return m;
}

void write_pidfile() {
  const std::string pidfile = param("pidfile");
  if (pidfile.empty()) return;
  if (FILE* f = std::fopen(pidfile.c_str(), "w")) {
    std::fprintf(f, "%lu\n", static_cast<unsigned long>(GetCurrentProcessId()));
    std::fclose(f);
  }
}

}  // namespace

int main() {
  write_pidfile();
  std::string mode = param("mode");
  if (mode.empty()) mode = "tiny";
  if (auto f = fixed_outputs().find(mode); f != fixed_outputs().end()) {
    out(f->second);
  } else if (auto a = actions().find(mode); a != actions().end()) {
    a->second();
  } else {
    out("Status: 400\r\nContent-Type: text/plain\r\n\r\nunknown mode\n");
  }
  return 0;
}
