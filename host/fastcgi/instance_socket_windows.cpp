// host/fastcgi/instance_socket.hpp on Windows: per instance a named pipe's
// server end (transport = "pipe") or a loopback TCP listener ("tcp") as its
// standard input, and an inheritable shutdown event (_FCGI_SHUTDOWN_EVENT_).
// The launcher's handle list lets only that child have them; our copy of
// the listener is closed once the child has its own.
#include <winsock2.h>
#include <ws2tcpip.h>
// after winsock2
#include <sddl.h>
#include <windows.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <system_error>

#include "host/fastcgi/instance_socket.hpp"

namespace cgihost::host {
namespace {

constexpr char kPipePrefix[] = R"(\\.\pipe\)";

std::string win_message(unsigned long code) { return std::system_category().message(code); }

bool is_pipe_name(const std::string& address) { return address.rfind(kPipePrefix, 0) == 0; }

std::wstring wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }  // ASCII

// "D:P(A;;GA;;;SY)(A;;GA;;;<this process's user>)": only cgihost's user and
// SYSTEM may open the pipe by its name (the default DACL lets Everyone
// read). The instance needs no access by name: it inherits the handle.
const std::wstring& pipe_sddl() {
  static const std::wstring sddl = [] {
    std::wstring out = L"D:P(A;;GA;;;SY)";
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return out;
    unsigned char buf[512];
    DWORD size = 0;
    wchar_t* sid = nullptr;
    if (::GetTokenInformation(token, TokenUser, buf, sizeof buf, &size) &&
        ::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf)->User.Sid, &sid)) {
      out += L"(A;;GA;;;" + std::wstring(sid) + L")";
      ::LocalFree(sid);
    }
    ::CloseHandle(token);
    return out;
  }();
  return sddl;
}

// \\.\pipe\cgihost-<pid>-<pool>-<n>-<random> (pool names are letters,
// digits, '-' and '_'); the random part so that no one can create it first.
std::string pipe_name(const std::string& pool, const std::string& name) {
  static std::mt19937_64 gen{std::random_device{}() ^
                             (static_cast<std::uint64_t>(std::random_device{}()) << 32)};
  char rnd[17];
  std::snprintf(rnd, sizeof rnd, "%016llx", static_cast<unsigned long long>(gen()));
  return std::string(kPipePrefix) + "cgihost-" + std::to_string(::GetCurrentProcessId()) + "-" +
         pool + "-" + name + "-" + rnd;
}

// The server end, inheritable, for the instance's stdin: one instance (a
// second would let another client in), byte mode, local clients only,
// overlapped so that php-cgi.exe's ConnectNamedPipe wakes every second to
// look at its shutdown event.
bool make_pipe(const std::string& name, instance_socket& out, std::string& error) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(pipe_sddl().c_str(), SDDL_REVISION_1,
                                                              &sd, nullptr)) {
    error = "named pipe's security descriptor: " + win_message(::GetLastError());
    return false;
  }
  SECURITY_ATTRIBUTES sa{sizeof sa, sd, TRUE};
  HANDLE h = ::CreateNamedPipeW(
      wide(name).c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE | FILE_FLAG_OVERLAPPED,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 64 * 1024,
      64 * 1024, 0, &sa);
  const DWORD err = ::GetLastError();
  ::LocalFree(sd);
  if (h == INVALID_HANDLE_VALUE) {
    error = "named pipe " + name + ": " + win_message(err);
    return false;
  }
  out.listener = h;
  out.address = name;
  return true;
}

bool make_tcp_listener(instance_socket& out, std::string& error) {
  SOCKET s = ::WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  if (s == INVALID_SOCKET) {
    error = "listening socket: " + win_message(::WSAGetLastError());
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int len = sizeof addr;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s, SOMAXCONN) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error = "listening socket: " + win_message(::WSAGetLastError());
    ::closesocket(s);
    return false;
  }
  out.listener = reinterpret_cast<spawner::native_handle>(s);
  out.address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  return true;
}

// The pipe's CreateFileW, again while it is busy (the instance between two
// connections: not yet back in ConnectNamedPipe), on a timer, by `deadline`.
asio::awaitable<boost::system::error_code> connect_pipe(instance_conn& conn,
                                                        const std::string& address,
                                                        asio::steady_timer& deadline) {
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
  const std::wstring name = wide(address);
  auto pause = std::chrono::milliseconds(1);
  asio::steady_timer wait(co_await asio::this_coro::executor);
  while (true) {
    // SECURITY_IDENTIFICATION: the instance (which may run as another
    // account) may learn who connects, never act as cgihost.
    HANDLE h = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                             FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                             nullptr);
    if (h != INVALID_HANDLE_VALUE) {
      boost::system::error_code ec;
      conn.assign_pipe(h, ec);
      co_return ec;
    }
    const DWORD err = ::GetLastError();
    if (err != ERROR_PIPE_BUSY)
      co_return boost::system::error_code(static_cast<int>(err), boost::system::system_category());
    if (std::chrono::steady_clock::now() + pause >= deadline.expiry())
      co_return asio::error::timed_out;
    wait.expires_after(pause);
    co_await wait.async_wait(nothrow);
    pause = std::min(pause * 2, std::chrono::milliseconds(16));
  }
}

}  // namespace

std::optional<instance_socket> listen_for_instance(std::string&, const std::string& name,
                                                   const config::pool& pool, std::string& error) {
  instance_socket out;
  const bool made = pool.transport == config::pool_transport::pipe
                        ? make_pipe(pipe_name(pool.name, name), out, error)
                        : make_tcp_listener(out, error);
  if (!made) return std::nullopt;
  // Manual-reset: set once, seen by every thread that looks.
  SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
  HANDLE event = ::CreateEventW(&inherit, TRUE, FALSE, nullptr);
  if (event == nullptr) {
    error = "shutdown event: " + win_message(::GetLastError());
    close_listener(out);
    return std::nullopt;
  }
  out.shutdown_event = event;
  out.shutdown_env =
      "_FCGI_SHUTDOWN_EVENT_=" + std::to_string(reinterpret_cast<std::uintptr_t>(event));
  return out;
}

void give_shutdown_event(const instance_socket& s, spawner::launch_spec& spec) {
  if (s.shutdown_event == spawner::no_handle) return;
  spec.env.push_back(s.shutdown_env);
  spec.inherit.push_back(s.shutdown_event);
}

void close_listener(const instance_socket& s) {
  if (s.listener == spawner::no_handle) return;
  if (is_pipe_name(s.address))
    ::CloseHandle(s.listener);
  else
    ::closesocket(reinterpret_cast<SOCKET>(s.listener));
}

void forget_instance_socket(const std::string&, spawner::native_handle shutdown_event) {
  if (shutdown_event != spawner::no_handle) ::CloseHandle(shutdown_event);
}

bool signal_shutdown(spawner::native_handle shutdown_event) {
  return shutdown_event != spawner::no_handle && ::SetEvent(shutdown_event);
}

asio::awaitable<boost::system::error_code> connect_instance(instance_conn& conn,
                                                            const std::string& address,
                                                            asio::steady_timer& deadline) {
  if (is_pipe_name(address)) co_return co_await connect_pipe(conn, address, deadline);
  using namespace asio::experimental::awaitable_operators;
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
  auto& s = conn.as_socket();
  boost::system::error_code ec;
  if (s.is_open()) s.close(ec);
  auto r = co_await (s.async_connect(instance_endpoint(address), nothrow) ||
                     deadline.async_wait(nothrow));
  if (r.index() == 1) co_return asio::error::timed_out;
  ec = std::get<0>(std::get<0>(r));
  if (!ec) {
    boost::system::error_code ignored;
    s.set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  co_return ec;
}

boost::asio::generic::stream_protocol::endpoint instance_endpoint(const std::string& address) {
  const auto colon = address.rfind(':');
  boost::asio::ip::tcp::endpoint ep(
      boost::asio::ip::make_address_v4(address.substr(0, colon)),
      static_cast<unsigned short>(std::stoul(address.substr(colon + 1))));
  return ep;
}

boost::asio::generic::stream_protocol instance_protocol() {
  return boost::asio::generic::stream_protocol(AF_INET, IPPROTO_TCP);
}

}  // namespace cgihost::host
