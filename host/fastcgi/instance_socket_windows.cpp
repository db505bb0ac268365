// host/fastcgi/instance_socket.hpp on Windows: a loopback TCP listener per
// instance, given to it as its standard input (inheritable, as socket()
// makes it; the launcher's handle list lets only that child have it). Our
// copy is closed once the child has its own.
#include <winsock2.h>
#include <ws2tcpip.h>

#include <boost/asio/ip/tcp.hpp>
#include <system_error>

#include "host/fastcgi/instance_socket.hpp"

namespace cgihost::host {
namespace {

std::string wsa_message(int code) { return std::system_category().message(code); }

}  // namespace

std::optional<instance_socket> listen_for_instance(std::string&, const std::string&,
                                                   std::string& error) {
  SOCKET s = ::WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  if (s == INVALID_SOCKET) {
    error = "listening socket: " + wsa_message(::WSAGetLastError());
    return std::nullopt;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int len = sizeof addr;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s, SOMAXCONN) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error = "listening socket: " + wsa_message(::WSAGetLastError());
    ::closesocket(s);
    return std::nullopt;
  }
  instance_socket out;
  out.listener = reinterpret_cast<spawner::native_handle>(s);
  out.address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  return out;
}

void close_listener(spawner::native_handle listener) {
  if (listener != spawner::no_handle) ::closesocket(reinterpret_cast<SOCKET>(listener));
}

void forget_instance_socket(const std::string&) {}

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
