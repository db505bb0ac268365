#pragma once
// Where a pool's own instance listens: a listening socket handed to the
// instance as its standard input (FCGI_LISTENSOCK_FILENO, the way IIS and
// mod_fcgid start FastCGI programs), and the address cgihost connects to.
//
// POSIX (instance_socket.cpp): a Unix socket in the pool's socket folder
// (socket_dir.hpp), unlinked when the instance ends. Windows
// (instance_socket_windows.cpp): a loopback TCP port, which php-cgi.exe
// accepts on just as on a named pipe when its standard input is a socket;
// nothing to unlink.

#include <boost/asio/generic/stream_protocol.hpp>
#include <optional>
#include <string>

#include "spawner/platform.hpp"

namespace cgihost::host {

struct instance_socket {
  spawner::native_handle listener = spawner::no_handle;  // the instance's stdin; ours to close
  std::string address;  // a socket path (POSIX) or "127.0.0.1:PORT" (Windows)
};

// A new listening socket named `name` (POSIX: in `folder`, made on first use
// and remembered there). nullopt and `error` on failure.
std::optional<instance_socket> listen_for_instance(std::string& folder, const std::string& name,
                                                   std::string& error);

// Closes our copy of the listener once the instance has its own.
void close_listener(spawner::native_handle listener);

// Removes what is left of an instance's address when it ends (POSIX: the
// socket file).
void forget_instance_socket(const std::string& address);

// The endpoint to connect to an instance at `address`, and its protocol.
boost::asio::generic::stream_protocol::endpoint instance_endpoint(const std::string& address);
boost::asio::generic::stream_protocol instance_protocol();

}  // namespace cgihost::host
