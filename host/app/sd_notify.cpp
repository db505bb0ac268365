#include "host/app/sd_notify.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace cgihost::host {

sd_notify::sd_notify(sd_notify&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      name_(std::move(other.name_)),
      watchdog_(other.watchdog_) {}

sd_notify& sd_notify::operator=(sd_notify&& other) noexcept {
  if (this != &other) {
    std::swap(fd_, other.fd_);
    name_ = std::move(other.name_);
    watchdog_ = other.watchdog_;
  }
  return *this;
}

#ifdef _WIN32

sd_notify::~sd_notify() = default;
sd_notify sd_notify::from_environment(std::string&) { return {}; }
bool sd_notify::send(std::string_view) const { return false; }

#else

namespace {

std::optional<unsigned long long> number(const char* s) {
  if (!s || !*s) return std::nullopt;
  unsigned long long v = 0;
  const char* end = s + std::strlen(s);
  auto r = std::from_chars(s, end, v);
  if (r.ec != std::errc{} || r.ptr != end) return std::nullopt;
  return v;
}

}  // namespace

sd_notify::~sd_notify() {
  if (fd_ >= 0) ::close(fd_);
}

sd_notify sd_notify::from_environment(std::string& error) {
  sd_notify n;
  error.clear();
  const char* socket_env = std::getenv("NOTIFY_SOCKET");
  std::string name = socket_env ? socket_env : "";
  const auto usec = number(std::getenv("WATCHDOG_USEC"));
  const auto for_pid = number(std::getenv("WATCHDOG_PID"));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  if (name.empty()) return n;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((name[0] != '/' && name[0] != '@') || name.size() >= sizeof addr.sun_path) {
    error = "NOTIFY_SOCKET \"" + name + "\" is neither an absolute path nor @abstract, or too long";
    return n;
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name[0] == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    error = "cannot connect to NOTIFY_SOCKET \"" + name + "\": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return n;
  }
  n.fd_ = fd;
  n.name_ = std::move(name);
  if (usec && *usec > 0 && (!for_pid || *for_pid == static_cast<unsigned long long>(::getpid())))
    n.watchdog_ = std::chrono::microseconds(*usec);
  return n;
}

bool sd_notify::send(std::string_view state) const {
  if (fd_ < 0) return false;
  return ::send(fd_, state.data(), state.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(state.size());
}

#endif

}  // namespace cgihost::host
