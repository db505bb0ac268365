#pragma once
// Who is at the other end of a loopback TCP connection: the local process
// that owns it and the account it runs as. Windows only (issue 15): the
// IIS token check (host/dispatch/auth.cpp) believes X-IIS-WindowsAuthToken
// only from a process running as this process's own user (IIS's w3wp of the
// app pool that started cgihost), since any local process can guess a handle
// value. POSIX has no use for it: tcp_peer_owner says "not applicable".

#include <cstdint>
#include <optional>
#include <string>

#include "spawner/platform.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::spawner {

struct tcp_connection_owner {
  process_id pid = 0;
  process_account account;  // its token's user; `name` and `sid` empty when unreadable
};

// The local process owning the TCP connection whose own (local) end is
// `peer_address`:`peer_port` and whose remote end is `local_address`:
// `local_port` (our listener's end of it), found in the system's TCP table
// (GetExtendedTcpTable, TCP_TABLE_OWNER_PID_CONNECTIONS, IPv4 or IPv6).
// Numeric addresses; IPv4-mapped IPv6 counts as IPv4. nullopt and `why`
// when no such row exists or the table cannot be read. The account is read
// from the process's token (PROCESS_QUERY_LIMITED_INFORMATION); when that
// fails `account` stays empty and `why` says why.
std::optional<tcp_connection_owner> tcp_peer_owner(const std::string& peer_address,
                                                   std::uint16_t peer_port,
                                                   const std::string& local_address,
                                                   std::uint16_t local_port, std::string& why);

}  // namespace cgihost::spawner
