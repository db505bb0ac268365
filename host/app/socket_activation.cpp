#include "host/app/socket_activation.hpp"

#ifndef _WIN32
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace cgihost::host {

namespace asio = boost::asio;

std::string passed_socket::describe() const {
  std::string where = unix_path.empty() ? "?" : "unix:" + unix_path;
  if (tcp) {
    const auto a = tcp->address();
    where =
        (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(tcp->port());
  }
  return "fd " + std::to_string(fd) + " (" + (name.empty() ? "no name" : "name \"" + name + "\"") +
         ", " + where + ")";
}

std::optional<bool> passed_socket::named_front() const {
  if (name == "http") return false;
  if (name == "fastcgi") return true;
  return std::nullopt;
}

bool passed_socket::serves(const config::endpoint& ep, bool fastcgi) const {
  if (auto front = named_front(); front && *front != fastcgi) return false;
  if (ep.is_unix()) return !unix_path.empty() && unix_path == ep.unix_path;
  if (!tcp || tcp->port() != ep.port) return false;
  boost::system::error_code ec;
  const auto want = asio::ip::make_address(ep.address, ec);
  return !ec && (tcp->address() == want || tcp->address().is_unspecified());
}

#ifdef _WIN32

std::vector<passed_socket> take_passed_sockets(std::string&) { return {}; }

#else

namespace {

constexpr int kFirstPassedFd = 3;  // SD_LISTEN_FDS_START

std::optional<unsigned> number(const char* s) {
  if (!s || !*s) return std::nullopt;
  unsigned v = 0;
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

// What `fd` listens on; false with `error` when it is not a listening
// stream socket of a family cgihost serves.
bool describe_fd(passed_socket& s, std::string& error) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(s.fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    error = s.describe() + " is not a socket: " + std::strerror(errno);
    return false;
  }
  len = sizeof listening;
  if (type != SOCK_STREAM || ::getsockopt(s.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
      !listening) {
    error = s.describe() + " is not a listening stream socket (ListenStream=)";
    return false;
  }
  sockaddr_storage ss{};
  len = sizeof ss;
  if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    error = s.describe() + ": getsockname: " + std::strerror(errno);
    return false;
  }
  if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    asio::ip::tcp::endpoint ep;
    std::memcpy(ep.data(), &ss, std::min<std::size_t>(len, sizeof ss));
    s.tcp = ep;
    return true;
  }
  if (ss.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(ss);
    const std::size_t n =
        len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string path(un.sun_path, strnlen(un.sun_path, n));
    if (path.empty()) {
      error = s.describe() +
              " is an unnamed or abstract Unix socket: cgihost serves Unix sockets with a path";
      return false;
    }
    s.unix_path = std::move(path);
    return true;
  }
  error = s.describe() + " is neither a TCP nor a Unix socket";
  return false;
}

}  // namespace

std::vector<passed_socket> take_passed_sockets(std::string& error) {
  const auto pid = number(std::getenv("LISTEN_PID"));
  const auto count = number(std::getenv("LISTEN_FDS"));
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  const std::string names = names_env ? names_env : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  // Meant for another process (a parent that did not clear them): not ours.
  if (!pid || *pid != static_cast<unsigned>(::getpid()) || !count || *count == 0) return {};
  if (*count > 1024) {
    error = "LISTEN_FDS=" + std::to_string(*count) + " is not a number of sockets cgihost takes";
    return {};
  }
  std::vector<passed_socket> out;
  std::size_t from = 0;
  for (unsigned i = 0; i < *count; ++i) {
    passed_socket s;
    s.fd = kFirstPassedFd + static_cast<int>(i);
    if (!names.empty() && from <= names.size()) {
      const auto colon = names.find(':', from);
      s.name = names.substr(from, colon == std::string::npos ? std::string::npos : colon - from);
      from = colon == std::string::npos ? names.size() + 1 : colon + 1;
    }
    if (::fcntl(s.fd, F_SETFD, FD_CLOEXEC) != 0) {
      error = "LISTEN_FDS=" + std::to_string(*count) + ": " + s.describe() + ": " +
              std::strerror(errno);
      return {};
    }
    if (!describe_fd(s, error)) return {};
    out.push_back(std::move(s));
  }
  return out;
}

#endif

}  // namespace cgihost::host
