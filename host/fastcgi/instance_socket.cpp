#include "host/fastcgi/instance_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

#include "host/fastcgi/socket_dir.hpp"

namespace cgihost::host {

std::optional<instance_socket> listen_for_instance(std::string& folder, const std::string& name,
                                                   const config::pool&, std::string& error) {
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

void give_shutdown_event(const instance_socket&, spawner::launch_spec&) {}

void close_listener(const instance_socket& s) {
  if (s.listener >= 0) ::close(s.listener);
}

void forget_instance_socket(const std::string& address, spawner::native_handle) {
  if (!address.empty()) ::unlink(address.c_str());
}

bool signal_shutdown(spawner::native_handle) { return false; }

asio::awaitable<boost::system::error_code> connect_instance(instance_conn& conn,
                                                            const std::string& address,
                                                            asio::steady_timer& deadline) {
  using namespace asio::experimental::awaitable_operators;
  constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
  boost::system::error_code ec;
  if (conn.is_open()) conn.close(ec);
  auto r = co_await (conn.async_connect(instance_endpoint(address), nothrow) ||
                     deadline.async_wait(nothrow));
  if (r.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(std::get<0>(r));
}

boost::asio::generic::stream_protocol::endpoint instance_endpoint(const std::string& address) {
  return boost::asio::local::stream_protocol::endpoint(address);
}

boost::asio::generic::stream_protocol instance_protocol() {
  return boost::asio::generic::stream_protocol(AF_UNIX, 0);
}

}  // namespace cgihost::host
