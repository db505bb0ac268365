#include "host/fastcgi/instance_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <cerrno>
#include <cstring>

#include "host/fastcgi/socket_dir.hpp"

namespace cgihost::host {

std::optional<instance_socket> listen_for_instance(std::string& folder, const std::string& name,
                                                   std::string& error) {
  if (folder.empty()) {
    folder = make_socket_dir(error);
    if (folder.empty()) return std::nullopt;
  }
  instance_socket out;
  out.address = folder + "/" + name + ".sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, out.address.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 128) != 0) {
    error = std::string("listening socket: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return std::nullopt;
  }
  out.listener = fd;
  return out;
}

void close_listener(spawner::native_handle listener) {
  if (listener >= 0) ::close(listener);
}

void forget_instance_socket(const std::string& address) {
  if (!address.empty()) ::unlink(address.c_str());
}

boost::asio::generic::stream_protocol::endpoint instance_endpoint(const std::string& address) {
  return boost::asio::local::stream_protocol::endpoint(address);
}

boost::asio::generic::stream_protocol instance_protocol() {
  return boost::asio::generic::stream_protocol(AF_UNIX, 0);
}

}  // namespace cgihost::host
