// tcp_peer_owner on POSIX: not applicable (see peer.hpp).
#include "spawner/peer.hpp"

namespace cgihost::spawner {

std::optional<tcp_connection_owner> tcp_peer_owner(const std::string&, std::uint16_t,
                                                   const std::string&, std::uint16_t,
                                                   std::string& why) {
  why = "not applicable: the owner of a connection is looked up on Windows only";
  return std::nullopt;
}

}  // namespace cgihost::spawner
