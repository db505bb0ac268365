#pragma once
// systemd's socket activation (sd_listen_fds(3)): listening sockets a socket
// unit (or systemd-socket-activate) opened and passed from fd 3 on, counted
// by $LISTEN_FDS, named by $LISTEN_FDNAMES (FileDescriptorName=), for the
// process $LISTEN_PID. cgihost serves on them instead of binding: a passed
// socket takes the place of the `listen` or `[fastcgi] listen` entry whose
// address it listens on. systemd keeps its copy open while cgihost restarts,
// so connections wait in its backlog instead of being refused.
//
// A name of "http" or "fastcgi" says which list the socket belongs to; such
// a socket that matches no entry is served anyway, on that front. Any other
// name (systemd's default is the socket unit's) must match an entry.

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/values.hpp"

namespace cgihost::host {

struct passed_socket {
  int fd = -1;
  std::string name;  // LISTEN_FDNAMES's; "" when none was given
  // What it listens on: a TCP address, or a Unix socket's path.
  std::optional<boost::asio::ip::tcp::endpoint> tcp;
  std::string unix_path;
  // "fd 3 (name \"http\", 127.0.0.1:8080)"
  std::string describe() const;
  // Whether it may serve `ep` of `listen` (fastcgi false) or `[fastcgi]
  // listen`: the same path, or the same port on the same address or on a
  // socket listening on every address (0.0.0.0, [::]); and a name of "http"
  // or "fastcgi" that says the other list does not.
  bool serves(const config::endpoint& ep, bool fastcgi) const;
  // The front its name names: "http" or "fastcgi" (nullopt for other names).
  std::optional<bool> named_front() const;
};

// Takes the sockets systemd passed to this process (LISTEN_PID is this
// process): each marked close-on-exec, and LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES removed from the environment, so that no child sees them.
// Empty without them (or on Windows). `error` when they are malformed or
// one is not a listening stream socket (TCP or Unix); then none is taken.
std::vector<passed_socket> take_passed_sockets(std::string& error);

}  // namespace cgihost::host
