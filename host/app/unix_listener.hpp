#pragma once
// A listening Unix-domain socket at a path of the config's (`listen =
// "unix:/..."`, `[fastcgi] listen`): a stale socket file left by a server
// that ended is replaced, one something answers on is an error, and the
// owner, group and mode are set between bind and listen, before anyone can
// connect.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"

// Unix-socket listeners: POSIX only (Windows's AF_UNIX has no owner, group or mode to set).
#if defined(BOOST_ASIO_HAS_LOCAL_SOCKETS) && !defined(_WIN32)
#define CGIHOST_UNIX_LISTENERS 1
#endif

#ifdef CGIHOST_UNIX_LISTENERS

namespace cgihost::host {

namespace asio = boost::asio;

// The socket file bound; remove() unlinks it if it is still the one we made.
struct unix_socket_file {
  std::string path;
  unsigned long long device = 0, inode = 0;
  void remove() const;
};

// Binds and listens at `path` with `s`'s owner, group and mode. nullopt with
// `error` naming the path and the cause.
std::optional<asio::local::stream_protocol::acceptor> bind_unix_socket(
    asio::any_io_executor ex, const std::string& path, const config::socket_settings& s,
    unix_socket_file& made, std::string& error);

}  // namespace cgihost::host

#endif
