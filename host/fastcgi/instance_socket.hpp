#pragma once
// Where a pool's own instance listens: a listener handed to the instance as
// its standard input (FCGI_LISTENSOCK_FILENO, the way IIS and mod_fcgid
// start FastCGI programs), the address cgihost connects to, and how the
// instance is asked to end.
//
// POSIX (instance_socket.cpp): a Unix socket in the pool's socket folder
// (socket_dir.hpp), unlinked when the instance ends; SIGTERM asks it to end.
// Windows (instance_socket_windows.cpp), by the pool's `transport`: "pipe"
// (the default, IIS's FastCgiModule's way) a named pipe's server end,
// \\.\pipe\cgihost-<pid>-<pool>-<n>-<random>, one instance, local
// clients only, its DACL admitting only cgihost's user and SYSTEM; "tcp" a
// loopback TCP listener. Either way an inheritable manual-reset event named
// in the instance's environment as _FCGI_SHUTDOWN_EVENT_ (decimal, as
// php-cgi.exe reads it), set to ask it to end.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "host/fastcgi/instance_conn.hpp"
#include "spawner/launch.hpp"
#include "spawner/platform.hpp"

namespace cgihost::host {

struct instance_socket {
  spawner::native_handle listener = spawner::no_handle;  // the instance's stdin; ours to close
  // A socket path (POSIX), "127.0.0.1:PORT" or a pipe's name (Windows).
  std::string address;
  // Windows: the event that asks the instance to end (inheritable; ours to
  // close with forget_instance_socket), and "_FCGI_SHUTDOWN_EVENT_=N" for
  // its environment. POSIX: none, and empty.
  spawner::native_handle shutdown_event = spawner::no_handle;
  std::string shutdown_env;
};

// A new listener for instance `name` of pool `pool` (POSIX: in `folder`,
// made on first use and remembered there; Windows: by pool.transport).
// nullopt and `error` on failure.
std::optional<instance_socket> listen_for_instance(std::string& folder, const std::string& name,
                                                   const config::pool& pool, std::string& error);

// Windows: gives the instance its shutdown event (inherited, and named in
// its environment as _FCGI_SHUTDOWN_EVENT_). POSIX: nothing.
void give_shutdown_event(const instance_socket& s, spawner::launch_spec& spec);

// Closes our copy of the listener once the instance has its own.
void close_listener(const instance_socket& s);

// Removes what is left of an instance when it ends (POSIX: the socket file;
// Windows: its shutdown event's handle).
void forget_instance_socket(const std::string& address,
                            spawner::native_handle shutdown_event = spawner::no_handle);

// Asks the instance to end by its shutdown event: true when there is one
// (Windows; the caller ends its job after a grace), false when the caller
// must ask otherwise (POSIX: SIGTERM).
bool signal_shutdown(spawner::native_handle shutdown_event);

// Connects `conn` (open on the caller's executor) to the instance at
// `address` before `deadline` rings: a socket's connect, or on Windows the
// pipe's CreateFileW, tried again while the instance is between two
// connections (ERROR_PIPE_BUSY), on a timer, never blocking the thread.
boost::asio::awaitable<boost::system::error_code> connect_instance(
    instance_conn& conn, const std::string& address, boost::asio::steady_timer& deadline);

// The endpoint to connect to an instance at `address`, and its protocol.
boost::asio::generic::stream_protocol::endpoint instance_endpoint(const std::string& address);
boost::asio::generic::stream_protocol instance_protocol();

}  // namespace cgihost::host
