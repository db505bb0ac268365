// tcp_peer_owner on Windows: the TCP table's owner pid, then that process's
// token user. See peer.hpp.
#include "spawner/peer.hpp"

// <winsock2.h> before <windows.h>.
#include <winsock2.h>
#include <ws2tcpip.h>
// After them:
#include <iphlpapi.h>
#include <sddl.h>
#include <windows.h>

#include <array>
#include <cstring>
#include <vector>

#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {

// A numeric address as 16 bytes (IPv6) or 4 (IPv4; an IPv4-mapped IPv6
// address too). Empty when it is not numeric.
std::vector<unsigned char> address_bytes(const std::string& text) {
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::vector<unsigned char> out(4);
    std::memcpy(out.data(), &v4, 4);
    return out;
  }
  std::array<unsigned char, 16> v6{};
  if (::inet_pton(AF_INET6, text.c_str(), v6.data()) != 1) return {};
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6.data(), mapped, 12) == 0) return {v6.begin() + 12, v6.end()};
  return {v6.begin(), v6.end()};
}

// The table of `family`'s connections with their owner pids, or empty.
std::vector<char> tcp_table(ULONG family, std::string& why) {
  std::vector<char> buf;
  DWORD size = 0;
  for (int tries = 0; tries < 5; ++tries) {
    DWORD rc = ::GetExtendedTcpTable(buf.empty() ? nullptr : buf.data(), &size, FALSE, family,
                                     TCP_TABLE_OWNER_PID_CONNECTIONS, 0);
    if (rc == NO_ERROR) return buf;
    if (rc != ERROR_INSUFFICIENT_BUFFER) {
      why = "GetExtendedTcpTable: " + win32::message_of(rc);
      return {};
    }
    buf.resize(size + 4096);  // the table may grow before the next call
    size = static_cast<DWORD>(buf.size());
  }
  why = "GetExtendedTcpTable: the table kept growing";
  return {};
}

std::optional<DWORD> owner_v4(const std::vector<unsigned char>& peer, std::uint16_t peer_port,
                              const std::vector<unsigned char>& local, std::uint16_t local_port,
                              std::string& why) {
  auto buf = tcp_table(AF_INET, why);
  if (buf.empty()) return std::nullopt;
  const auto* t = reinterpret_cast<const MIB_TCPTABLE_OWNER_PID*>(buf.data());
  for (DWORD i = 0; i < t->dwNumEntries; ++i) {
    const auto& r = t->table[i];
    if (std::memcmp(&r.dwLocalAddr, peer.data(), 4) == 0 &&
        ::ntohs(static_cast<u_short>(r.dwLocalPort)) == peer_port &&
        std::memcmp(&r.dwRemoteAddr, local.data(), 4) == 0 &&
        ::ntohs(static_cast<u_short>(r.dwRemotePort)) == local_port)
      return r.dwOwningPid;
  }
  return std::nullopt;
}

std::optional<DWORD> owner_v6(const std::vector<unsigned char>& peer, std::uint16_t peer_port,
                              const std::vector<unsigned char>& local, std::uint16_t local_port,
                              std::string& why) {
  auto buf = tcp_table(AF_INET6, why);
  if (buf.empty()) return std::nullopt;
  const auto* t = reinterpret_cast<const MIB_TCP6TABLE_OWNER_PID*>(buf.data());
  for (DWORD i = 0; i < t->dwNumEntries; ++i) {
    const auto& r = t->table[i];
    if (std::memcmp(r.ucLocalAddr, peer.data(), 16) == 0 &&
        ::ntohs(static_cast<u_short>(r.dwLocalPort)) == peer_port &&
        std::memcmp(r.ucRemoteAddr, local.data(), 16) == 0 &&
        ::ntohs(static_cast<u_short>(r.dwRemotePort)) == local_port)
      return r.dwOwningPid;
  }
  return std::nullopt;
}

// The token user of process `pid`, or an empty account and `why`.
process_account account_of(DWORD pid, std::string& why) {
  process_account out;
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) {
    why = "OpenProcess: " + win32::message_of(::GetLastError());
    return out;
  }
  HANDLE token = nullptr;
  const bool opened = ::OpenProcessToken(process, TOKEN_QUERY, &token);
  const DWORD error = ::GetLastError();
  ::CloseHandle(process);
  if (!opened) {
    why = "OpenProcessToken: " + win32::message_of(error);
    return out;
  }
  DWORD size = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<char> buf(size);
  if (size != 0 && ::GetTokenInformation(token, TokenUser, buf.data(), size, &size)) {
    PSID sid = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
    wchar_t* text = nullptr;
    if (::ConvertSidToStringSidW(sid, &text)) {
      out.sid = win32::narrow(text);
      ::LocalFree(text);
    }
    wchar_t name[256], domain[256];
    DWORD nn = 256, dn = 256;
    SID_NAME_USE use;
    if (::LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use))
      out.name = (dn != 0 ? win32::narrow(domain) + "\\" : std::string()) + win32::narrow(name);
    else
      out.name = out.sid;
  } else {
    why = "GetTokenInformation(TokenUser): " + win32::message_of(::GetLastError());
  }
  ::CloseHandle(token);
  return out;
}

}  // namespace

std::optional<tcp_connection_owner> tcp_peer_owner(const std::string& peer_address,
                                                   std::uint16_t peer_port,
                                                   const std::string& local_address,
                                                   std::uint16_t local_port, std::string& why) {
  const auto peer = address_bytes(peer_address);
  const auto local = address_bytes(local_address);
  if (peer.empty() || local.empty() || peer.size() != local.size()) {
    why = "the connection's ends " + peer_address + " and " + local_address +
          " are not numeric addresses of one family";
    return std::nullopt;
  }
  auto pid = peer.size() == 4 ? owner_v4(peer, peer_port, local, local_port, why)
                              : owner_v6(peer, peer_port, local, local_port, why);
  if (!pid) {
    if (why.empty())
      why = "no local process owns the connection from " + peer_address + ":" +
            std::to_string(peer_port) + " (not in the TCP table)";
    return std::nullopt;
  }
  if (*pid == 0) {  // Wine's table has the row but no owner: nobody is believed
    why = "the TCP table names no owner process for the connection from " + peer_address + ":" +
          std::to_string(peer_port) + " (pid 0)";
    return std::nullopt;
  }
  tcp_connection_owner out;
  out.pid = *pid;
  out.account = account_of(*pid, why);
  return out;
}

}  // namespace cgihost::spawner
