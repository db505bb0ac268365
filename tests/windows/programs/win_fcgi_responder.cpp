// A small FastCGI responder for the Windows tests, started the way IIS's
// FastCgiModule (and mod_fcgid) start php-cgi.exe. Plain Win32, Winsock and
// the C++ standard library.
//
// Where it listens (as php-cgi.exe, only when its standard output and error
// are INVALID_HANDLE_VALUE; otherwise it exits 3):
//   - standard input is a named pipe's server end (the libfcgi / php-cgi
//     Windows convention): ConnectNamedPipe on it, serve that connection,
//     DisconnectNamedPipe, wait for the next. One pipe instance, one client
//     at a time, as php-cgi.exe: a pool of N needs N processes, each given
//     its own instance.
//   - standard input is a listening socket (FCGI_LISTENSOCK_FILENO): accept
//     on it.
//   - `-b HOST:PORT` (as php-cgi.exe -b): listens on TCP itself; port 0
//     picks one; the address is written to standard error as
//     "win_fcgi_responder listening on HOST:PORT".
// The pipe and socket I/O are overlapped-safe: the handle may have been
// created with or without FILE_FLAG_OVERLAPPED.
//
// Environment:
//   PHP_FCGI_MAX_REQUESTS=N   exits (0) after N requests, once the Nth is answered
//   _FCGI_SHUTDOWN_EVENT_=H   H, in decimal as php-cgi reads it: an inherited
//                             event; when it is signalled the process exits
//                             (0) at once when idle, else after the request
//                             in progress
//   WIN_FCGI_RESPONDER_IGNORE_SHUTDOWN=1  the event is not watched (a
//                             program that does not know it)
//   WIN_FCGI_RESPONDER_MARKER=F  a line "shutdown event: pid N" is appended
//                             to file F when the event ends the process, so
//                             a test tells that from its job being ended
//
// Each request is answered with a CGI response whose body is, one a line:
//   SCRIPT_FILENAME=..., REQUEST_METHOD=..., QUERY_STRING=..., STDIN_LENGTH=N,
//   PID=N, REQUEST_NUMBER=N (1 for this process's first)
// The query string picks misbehaviour:
//   crash=1     writes half of the response headers, then exits (code 255)
//   sleep=N     waits N seconds before answering
//   status=N    "Status: N" in the response
//   echo=1      the body is the request's stdin instead
//   big=N       N KiB of 'x' after the lines (several STDOUT records)
//   params=1    every param, NAME=value, after the lines
//   close=1     the connection is closed after the answer, FCGI_KEEP_CONN or not
//   pause=N     (a pipe) N ms between DisconnectNamedPipe and the next
//               ConnectNamedPipe: a client's CreateFileW sees ERROR_PIPE_BUSY
//   pipe=1      PIPE_NAME=<standard input's pipe name, as GetFileInformationByHandleEx
//               gives it>, after the lines
//   dacl=1      DACL=present|none|error N and one ACE=<allowed SID> line per
//               ACE of standard input's DACL (GetSecurityInfo), after the lines
// Records: STDOUT padded to a multiple of 8, an empty STDOUT, END_REQUEST
// (REQUEST_COMPLETE); the connection stays open when the web server set
// FCGI_KEEP_CONN; FCGI_GET_VALUES answered (one connection, no multiplexing);
// unknown record types get FCGI_UNKNOWN_TYPE; another role FCGI_UNKNOWN_ROLE.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
// after winsock2
#include <windows.h>
// after windows.h
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

enum : unsigned char {
  kBeginRequest = 1,
  kAbortRequest = 2,
  kEndRequest = 3,
  kParams = 4,
  kStdin = 5,
  kStdout = 6,
  kGetValues = 9,
  kGetValuesResult = 10,
  kUnknownType = 11,
};
enum : unsigned char { kRequestComplete = 0, kCantMpxConn = 1, kUnknownRole = 3 };
constexpr unsigned char kKeepConn = 1;
constexpr unsigned kResponder = 1;

void log(const std::string& line) {
  HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
  if (err == nullptr || err == INVALID_HANDLE_VALUE) return;
  const std::string text = "win_fcgi_responder: " + line + "\n";
  DWORD n = 0;
  WriteFile(err, text.data(), static_cast<DWORD>(text.size()), &n, nullptr);
}

// ---- the shutdown event and the request count ----

struct lifecycle {
  std::mutex mu;
  bool busy = false;
  bool shutting_down = false;
  unsigned long served = 0;
  unsigned long max_requests = 0;  // 0: no limit
};
lifecycle life;
std::atomic<long> pause_after_disconnect_ms{0};

// The marker a test reads: this process ended by its shutdown event.
void mark_shutdown() {
  const char* file = std::getenv("WIN_FCGI_RESPONDER_MARKER");
  if (!file || !*file) return;
  HANDLE h = CreateFileA(file, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                         OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) return;
  const std::string line = "shutdown event: pid " + std::to_string(GetCurrentProcessId()) + "\n";
  DWORD n = 0;
  WriteFile(h, line.data(), static_cast<DWORD>(line.size()), &n, nullptr);
  CloseHandle(h);
}

DWORD WINAPI wait_for_shutdown(LPVOID event) {
  WaitForSingleObject(static_cast<HANDLE>(event), INFINITE);
  std::lock_guard lock(life.mu);
  life.shutting_down = true;
  if (!life.busy) {
    log("shutdown event signalled: exiting");
    mark_shutdown();
    ExitProcess(0);
  }
  log("shutdown event signalled: exiting after the request in progress");
  return 0;
}

void watch_shutdown_event() {
  if (const char* deaf = std::getenv("WIN_FCGI_RESPONDER_IGNORE_SHUTDOWN"); deaf && *deaf == '1')
    return;
  const char* v = std::getenv("_FCGI_SHUTDOWN_EVENT_");
  if (!v || !*v) return;
  const auto handle = static_cast<std::uintptr_t>(std::strtoull(v, nullptr, 10));
  HANDLE event = reinterpret_cast<HANDLE>(handle);
  DWORD flags = 0;
  if (handle == 0 || !GetHandleInformation(event, &flags)) {
    log(std::string("_FCGI_SHUTDOWN_EVENT_=") + v + " is no handle here: ignored");
    return;
  }
  if (!CreateThread(nullptr, 0, wait_for_shutdown, event, 0, nullptr)) ExitProcess(2);
}

void begin_request() {
  std::lock_guard lock(life.mu);
  life.busy = true;
}

// After a request: exits when the shutdown event came or the count is reached.
void end_request() {
  std::lock_guard lock(life.mu);
  life.busy = false;
  ++life.served;
  if (life.shutting_down) {
    mark_shutdown();
    ExitProcess(0);
  }
  if (life.max_requests && life.served >= life.max_requests) {
    log("PHP_FCGI_MAX_REQUESTS reached: exiting");
    ExitProcess(0);
  }
}

// ---- transports: a named pipe instance or a socket ----

class channel {
 public:
  virtual ~channel() = default;
  // Up to `size` bytes; 0 at the end of the connection or on an error.
  virtual std::size_t read_some(char* buf, std::size_t size) = 0;
  virtual bool write_all(const char* data, std::size_t size) = 0;
  // Ends this connection (the listener stays).
  virtual void close() = 0;

  bool read_exact(char* buf, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      const std::size_t n = read_some(buf + done, size - done);
      if (n == 0) return false;
      done += n;
    }
    return true;
  }
};

// One overlapped operation on `h`, waited for (works on handles opened
// with and without FILE_FLAG_OVERLAPPED). Bytes moved; false on an error,
// with GetLastError() saying which.
template <class Op>
bool overlapped_io(HANDLE h, Op op, DWORD& moved) {
  OVERLAPPED ov{};
  ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (!ov.hEvent) return false;
  BOOL ok = op(&ov);
  DWORD error = ok ? 0 : GetLastError();
  if (ok) {
    moved = static_cast<DWORD>(ov.InternalHigh);
  } else if (error == ERROR_IO_PENDING) {
    ok = GetOverlappedResult(h, &ov, &moved, TRUE);
    error = ok ? 0 : GetLastError();
  }
  CloseHandle(ov.hEvent);
  SetLastError(error);
  return ok != FALSE;
}

class pipe_channel final : public channel {
 public:
  explicit pipe_channel(HANDLE h) : h_(h) {}
  // Waits for the next client; false when the pipe is unusable.
  bool connect() {
    DWORD ignored = 0;
    connected_ = overlapped_io(
                     h_, [&](OVERLAPPED* ov) { return ConnectNamedPipe(h_, ov); }, ignored) ||
                 GetLastError() == ERROR_PIPE_CONNECTED;
    return connected_;
  }
  std::size_t read_some(char* buf, std::size_t size) override {
    DWORD n = 0;
    const DWORD want = static_cast<DWORD>(std::min<std::size_t>(size, 1 << 20));
    if (!overlapped_io(
            h_, [&](OVERLAPPED* ov) { return ReadFile(h_, buf, want, nullptr, ov); }, n))
      return 0;
    return n;
  }
  bool write_all(const char* data, std::size_t size) override {
    for (std::size_t done = 0; done < size;) {
      DWORD n = 0;
      const DWORD want = static_cast<DWORD>(std::min<std::size_t>(size - done, 1 << 20));
      auto op = [&](OVERLAPPED* ov) { return WriteFile(h_, data + done, want, nullptr, ov); };
      if (!overlapped_io(h_, op, n) || n == 0) return false;
      done += n;
    }
    return true;
  }
  void close() override {
    if (!connected_) return;
    connected_ = false;
    FlushFileBuffers(h_);
    DisconnectNamedPipe(h_);
  }

 private:
  HANDLE h_;
  bool connected_ = false;
};

class socket_channel final : public channel {
 public:
  explicit socket_channel(SOCKET s) : s_(s) {}
  ~socket_channel() override { close(); }
  std::size_t read_some(char* buf, std::size_t size) override {
    const int n = recv(s_, buf, static_cast<int>(std::min<std::size_t>(size, 1 << 20)), 0);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  bool write_all(const char* data, std::size_t size) override {
    for (std::size_t done = 0; done < size;) {
      const int n =
          send(s_, data + done, static_cast<int>(std::min<std::size_t>(size - done, 1 << 20)), 0);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  void close() override {
    if (s_ == INVALID_SOCKET) return;
    shutdown(s_, SD_SEND);
    char buf[256];
    while (recv(s_, buf, sizeof buf, 0) > 0) {
    }
    closesocket(s_);
    s_ = INVALID_SOCKET;
  }

 private:
  SOCKET s_;
};

// ---- records ----

struct record {
  unsigned char type = 0;
  unsigned request_id = 0;
  std::string content;
};

// The next record; false at the end of the connection or on a malformed header.
bool read_record(channel& c, record& r) {
  unsigned char h[8];
  if (!c.read_exact(reinterpret_cast<char*>(h), sizeof h) || h[0] != 1) return false;
  r.type = h[1];
  r.request_id = (h[2] << 8) | h[3];
  const std::size_t length = (h[4] << 8) | h[5];
  const std::size_t padding = h[6];
  r.content.assign(length, '\0');
  std::string pad(padding, '\0');
  return c.read_exact(r.content.data(), length) && c.read_exact(pad.data(), padding);
}

bool write_record(channel& c, unsigned char type, unsigned id, const char* data, std::size_t n) {
  const std::size_t padding = (8 - n % 8) % 8;
  std::string out;
  out.reserve(8 + n + padding);
  const unsigned char h[8] = {1,
                              type,
                              static_cast<unsigned char>(id >> 8),
                              static_cast<unsigned char>(id),
                              static_cast<unsigned char>(n >> 8),
                              static_cast<unsigned char>(n),
                              static_cast<unsigned char>(padding),
                              0};
  out.append(reinterpret_cast<const char*>(h), 8);
  out.append(data, n);
  out.append(padding, '\0');
  return c.write_all(out.data(), out.size());
}

// A stream (STDOUT) in records of at most 65528 bytes, without its end.
bool write_stream(channel& c, unsigned char type, unsigned id, const std::string& data) {
  for (std::size_t done = 0; done < data.size();) {
    const std::size_t n = std::min<std::size_t>(data.size() - done, 65528);
    if (!write_record(c, type, id, data.data() + done, n)) return false;
    done += n;
  }
  return true;
}

bool end_request_record(channel& c, unsigned id, std::uint32_t app_status, unsigned char status) {
  const char body[8] = {static_cast<char>(app_status >> 24),
                        static_cast<char>(app_status >> 16),
                        static_cast<char>(app_status >> 8),
                        static_cast<char>(app_status),
                        static_cast<char>(status),
                        0,
                        0,
                        0};
  return write_record(c, kEndRequest, id, body, sizeof body);
}

// Name-value pairs (FastCGI §3.4); false when malformed.
bool parse_pairs(const std::string& s, std::vector<std::pair<std::string, std::string>>& out) {
  std::size_t i = 0;
  auto length = [&](std::size_t& len) {
    if (i >= s.size()) return false;
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      len = b0;
      ++i;
      return true;
    }
    if (i + 4 > s.size()) return false;
    len = ((b0 & 0x7fu) << 24) | (static_cast<unsigned char>(s[i + 1]) << 16) |
          (static_cast<unsigned char>(s[i + 2]) << 8) | static_cast<unsigned char>(s[i + 3]);
    i += 4;
    return true;
  };
  while (i < s.size()) {
    std::size_t nl = 0, vl = 0;
    if (!length(nl) || !length(vl) || s.size() - i < nl || s.size() - i - nl < vl) return false;
    out.emplace_back(s.substr(i, nl), s.substr(i + nl, vl));
    i += nl + vl;
  }
  return true;
}

void append_pair(std::string& out, const std::string& name, const std::string& value) {
  for (std::size_t len : {name.size(), value.size()}) {
    if (len < 0x80) {
      out += static_cast<char>(len);
    } else {
      out += static_cast<char>(0x80 | (len >> 24));
      out += static_cast<char>(len >> 16);
      out += static_cast<char>(len >> 8);
      out += static_cast<char>(len);
    }
  }
  out += name;
  out += value;
}

// FCGI_GET_VALUES: this responder takes one connection and one request at a time.
bool answer_get_values(channel& c, const std::string& content) {
  std::vector<std::pair<std::string, std::string>> asked;
  if (!parse_pairs(content, asked)) return false;
  const std::map<std::string, std::string> known = {
      {"FCGI_MAX_CONNS", "1"}, {"FCGI_MAX_REQS", "1"}, {"FCGI_MPXS_CONNS", "0"}};
  std::string out;
  for (const auto& [name, ignored] : asked)
    if (auto k = known.find(name); k != known.end()) append_pair(out, k->first, k->second);
  return write_record(c, kGetValuesResult, 0, out.data(), out.size());
}

// ---- one request ----

struct request {
  unsigned id = 0;
  bool keep_conn = false;
  std::map<std::string, std::string> params;
  std::vector<std::pair<std::string, std::string>> params_in_order;
  std::string stdin_data;
};

std::string query_value(const std::string& qs, const std::string& name) {
  const std::string key = name + "=";
  for (std::size_t pos = 0; pos <= qs.size();) {
    std::size_t end = qs.find('&', pos);
    if (end == std::string::npos) end = qs.size();
    if (qs.compare(pos, key.size(), key) == 0)
      return qs.substr(pos + key.size(), end - pos - key.size());
    pos = end + 1;
  }
  return "";
}

std::string param(const request& r, const char* name) {
  auto it = r.params.find(name);
  return it == r.params.end() ? std::string() : it->second;
}

// The name of standard input's pipe ("\\cgihost-..."), or "error N".
std::string stdin_pipe_name() {
  alignas(FILE_NAME_INFO) char buf[1024];
  if (!GetFileInformationByHandleEx(GetStdHandle(STD_INPUT_HANDLE), FileNameInfo, buf, sizeof buf))
    return "error " + std::to_string(GetLastError());
  const auto* info = reinterpret_cast<const FILE_NAME_INFO*>(buf);
  std::string name;
  for (DWORD i = 0; i < info->FileNameLength / sizeof(wchar_t); ++i)
    name += static_cast<char>(info->FileName[i]);
  return name;
}

// DACL=... and the allowed ACEs' SIDs of standard input's security descriptor.
std::string stdin_dacl() {
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err =
      GetSecurityInfo(GetStdHandle(STD_INPUT_HANDLE), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                      nullptr, nullptr, &dacl, nullptr, &sd);
  if (err != ERROR_SUCCESS) return "DACL=error " + std::to_string(err) + "\n";
  std::string out = dacl ? "DACL=present\n" : "DACL=none\n";
  for (DWORD i = 0; dacl && i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!GetAce(dacl, i, &ace)) continue;
    if (static_cast<ACE_HEADER*>(ace)->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
    char* sid = nullptr;
    if (ConvertSidToStringSidA(&static_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart, &sid)) {
      out += "ACE=" + std::string(sid) + "\n";
      LocalFree(sid);
    }
  }
  LocalFree(sd);
  return out;
}

std::string response_for(const request& r, unsigned long number) {
  const std::string qs = param(r, "QUERY_STRING");
  std::string head = "Content-Type: text/plain\r\n";
  if (const std::string status = query_value(qs, "status"); !status.empty())
    head = "Status: " + status + "\r\n" + head;
  if (query_value(qs, "echo") == "1") return head + "\r\n" + r.stdin_data;
  std::string body = "SCRIPT_FILENAME=" + param(r, "SCRIPT_FILENAME") + "\n" +
                     "REQUEST_METHOD=" + param(r, "REQUEST_METHOD") + "\n" + "QUERY_STRING=" + qs +
                     "\n" + "STDIN_LENGTH=" + std::to_string(r.stdin_data.size()) + "\n" +
                     "PID=" + std::to_string(GetCurrentProcessId()) + "\n" +
                     "REQUEST_NUMBER=" + std::to_string(number) + "\n";
  if (query_value(qs, "params") == "1")
    for (const auto& [n, v] : r.params_in_order) body += n + "=" + v + "\n";
  if (query_value(qs, "pipe") == "1") body += "PIPE_NAME=" + stdin_pipe_name() + "\n";
  if (query_value(qs, "dacl") == "1") body += stdin_dacl();
  if (const long kib = std::atol(query_value(qs, "big").c_str()); kib > 0)
    body += std::string(static_cast<std::size_t>(kib) * 1024, 'x');
  return head + "\r\n" + body;
}

// Answers `r`; false when the connection is gone.
bool answer(channel& c, const request& r) {
  const std::string qs = param(r, "QUERY_STRING");
  if (query_value(qs, "crash") == "1") {
    const std::string half = "Content-Type: te";
    write_record(c, kStdout, r.id, half.data(), half.size());
    log("crash=1: exiting mid-request");
    ExitProcess(255);
  }
  if (const long s = std::atol(query_value(qs, "sleep").c_str()); s > 0)
    Sleep(static_cast<DWORD>(s) * 1000);
  pause_after_disconnect_ms = std::atol(query_value(qs, "pause").c_str());
  unsigned long number = 0;
  {
    std::lock_guard lock(life.mu);
    number = life.served + 1;
  }
  return write_stream(c, kStdout, r.id, response_for(r, number)) &&
         write_record(c, kStdout, r.id, nullptr, 0) &&
         end_request_record(c, r.id, 0, kRequestComplete);
}

enum class step { more, request_ready, close };

// One record while a request is being read: BEGIN_REQUEST, PARAMS, STDIN,
// ABORT_REQUEST, management records, or what is refused.
step on_record(channel& c, const record& rec, request& r, bool& begun, bool& params_done) {
  if (rec.request_id == 0) {
    if (rec.type == kGetValues) return answer_get_values(c, rec.content) ? step::more : step::close;
    const char body[8] = {static_cast<char>(rec.type), 0, 0, 0, 0, 0, 0, 0};
    return write_record(c, kUnknownType, 0, body, sizeof body) ? step::more : step::close;
  }
  if (rec.type == kBeginRequest) {
    if (rec.content.size() != 8) return step::close;
    if (begun)
      return end_request_record(c, rec.request_id, 0, kCantMpxConn) ? step::more : step::close;
    const unsigned role = (static_cast<unsigned char>(rec.content[0]) << 8) |
                          static_cast<unsigned char>(rec.content[1]);
    const bool keep = (static_cast<unsigned char>(rec.content[2]) & kKeepConn) != 0;
    if (role != kResponder)
      return end_request_record(c, rec.request_id, 0, kUnknownRole) && keep ? step::more
                                                                            : step::close;
    begun = true;
    r.id = rec.request_id;
    r.keep_conn = keep;
    return step::more;
  }
  if (!begun || rec.request_id != r.id) return step::more;  // a request not ours: ignored
  if (rec.type == kAbortRequest) {
    end_request_record(c, r.id, 1, kRequestComplete);
    return step::close;
  }
  if (rec.type == kParams && !params_done) {
    if (rec.content.empty()) {
      params_done = true;
      return step::more;
    }
    return parse_pairs(rec.content, r.params_in_order) ? step::more : step::close;
  }
  if (rec.type == kStdin && params_done) {
    if (rec.content.empty()) return step::request_ready;
    r.stdin_data += rec.content;
    return step::more;
  }
  return step::close;  // out of order
}

// Serves requests on one connection until it ends or keep_conn is off.
void serve_connection(channel& c) {
  for (;;) {
    request r;
    bool begun = false, params_done = false;
    step s = step::more;
    record rec;
    while (s == step::more) {
      if (!read_record(c, rec)) return;
      s = on_record(c, rec, r, begun, params_done);
    }
    if (s == step::close) return;
    for (const auto& [n, v] : r.params_in_order) r.params[n] = v;
    begin_request();
    const bool ok = answer(c, r);
    if (!ok || !r.keep_conn || query_value(param(r, "QUERY_STRING"), "close") == "1") {
      c.close();
      end_request();
      return;
    }
    end_request();
  }
}

// ---- listeners ----

bool is_pipe_server(HANDLE h) {
  DWORD flags = 0;
  return GetFileType(h) == FILE_TYPE_PIPE &&
         GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr) && (flags & PIPE_SERVER_END) != 0;
}

[[noreturn]] void serve_pipe(HANDLE h) {
  DWORD mode = PIPE_READMODE_BYTE | PIPE_WAIT;
  SetNamedPipeHandleState(h, &mode, nullptr, nullptr);
  pipe_channel pipe(h);
  for (;;) {
    if (!pipe.connect()) {
      log("ConnectNamedPipe failed: error " + std::to_string(GetLastError()));
      ExitProcess(1);
    }
    serve_connection(pipe);
    pipe.close();
    if (const long ms = pause_after_disconnect_ms.exchange(0); ms > 0)
      Sleep(static_cast<DWORD>(ms));
  }
}

[[noreturn]] void serve_socket(SOCKET listener) {
  for (;;) {
    SOCKET s = accept(listener, nullptr, nullptr);
    if (s == INVALID_SOCKET) {
      log("accept failed: error " + std::to_string(WSAGetLastError()) +
          " (standard input is neither a named pipe's server end nor a listening socket, and no "
          "-b HOST:PORT was given?)");
      ExitProcess(1);
    }
    socket_channel conn(s);
    serve_connection(conn);
  }
}

// `-b HOST:PORT`: a listening socket, its address written to stderr.
SOCKET bind_tcp(const std::string& where) {
  const auto colon = where.rfind(':');
  if (colon == std::string::npos) return INVALID_SOCKET;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<u_short>(std::atoi(where.c_str() + colon + 1)));
  const std::string host = where.substr(0, colon);
  if (inet_pton(AF_INET, host.empty() ? "127.0.0.1" : host.c_str(), &a.sin_addr) != 1)
    return INVALID_SOCKET;
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, 0);  // not inheritable
  int len = sizeof a;
  if (s == INVALID_SOCKET || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(s, 16) != 0 || getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return INVALID_SOCKET;
  char text[64];
  inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
  log("listening on " + std::string(text) + ":" + std::to_string(ntohs(a.sin_port)));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 2;
  if (const char* m = std::getenv("PHP_FCGI_MAX_REQUESTS"))
    life.max_requests = std::strtoul(m, nullptr, 10);
  watch_shutdown_event();
  if (argc == 3 && std::strcmp(argv[1], "-b") == 0) {
    SOCKET s = bind_tcp(argv[2]);
    if (s == INVALID_SOCKET) {
      log(std::string("cannot listen on ") + argv[2] + ": error " +
          std::to_string(WSAGetLastError()));
      return 1;
    }
    serve_socket(s);
  }
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  if (in == nullptr || in == INVALID_HANDLE_VALUE) {
    log("no standard input and no -b HOST:PORT: nothing to serve");
    return 1;
  }
  // As php-cgi.exe and libfcgi decide (fcgi_init, OS_LibInit): standard
  // input is a listener only when standard output and error are
  // INVALID_HANDLE_VALUE; otherwise they would run as a CGI program. (Wine
  // hands a child NULL where its parent gave INVALID_HANDLE_VALUE, so NULL
  // counts as closed too: what matters is that no pipe was given.)
  auto closed = [](DWORD which) {
    HANDLE h = GetStdHandle(which);
    return h == nullptr || h == INVALID_HANDLE_VALUE;
  };
  if (!closed(STD_OUTPUT_HANDLE) || !closed(STD_ERROR_HANDLE)) {
    log("standard output or error is open: not started as a FastCGI server (php-cgi's rule)");
    return 3;
  }
  if (is_pipe_server(in)) serve_pipe(in);
  // Else a listening socket, or nothing to serve (accept says which). A
  // socket's GetFileType is FILE_TYPE_PIPE too, and Wine's getsockopt does
  // not know an inherited socket (WSAENOTSOCK) while its accept does.
  serve_socket(reinterpret_cast<SOCKET>(in));
}
