#pragma once
// systemd's service notification protocol (sd_notify(3), "Type=notify"):
// newline-separated KEY=VALUE datagrams to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). cgihost
// sends READY=1 once it listens, STOPPING=1 when a graceful stop begins,
// STATUS= with a one-line summary, and WATCHDOG=1 every half WATCHDOG_USEC
// while its io threads answer. Without NOTIFY_SOCKET (or on Windows) it is
// off and sends nothing.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace cgihost::host {

class sd_notify {
 public:
  sd_notify() = default;
  sd_notify(sd_notify&& other) noexcept;
  sd_notify& operator=(sd_notify&& other) noexcept;
  sd_notify(const sd_notify&) = delete;
  sd_notify& operator=(const sd_notify&) = delete;
  ~sd_notify();

  // Connects to $NOTIFY_SOCKET: called as root, before root is dropped (the
  // socket file's permissions are checked at connect, not at each send).
  // Removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
  // environment so no child sees them. Off when NOTIFY_SOCKET is unset;
  // `error` says why when it is set but cannot be used.
  static sd_notify from_environment(std::string& error);

  bool enabled() const { return fd_ >= 0; }
  // One datagram; false (and nothing else happens) when off or when it
  // cannot be sent.
  bool send(std::string_view state) const;
  // How often systemd wants WATCHDOG=1: WATCHDOG_USEC, when WATCHDOG_PID is
  // unset or this process's pid.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }
  const std::string& socket_name() const { return name_; }

 private:
  int fd_ = -1;
  std::string name_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace cgihost::host
