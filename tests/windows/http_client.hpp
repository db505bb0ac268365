#pragma once
// The Windows tests' side of cgihost.exe's HTTP listener: a free loopback
// port to give it, a connection, and one GET read to the end (Connection:
// close). Include after <winsock2.h>.

#include <winsock2.h>

#include <cstdlib>
#include <string>

namespace cgihost::test {

// A port nothing listens on now (bound and released: the server takes it next).
inline unsigned short free_port() {
  SOCKET s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof a;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::closesocket(s);
  return ntohs(a.sin_port);
}

// A connection to 127.0.0.1:`port` whose reads give up after 30 s, or
// INVALID_SOCKET.
inline SOCKET connect_to(unsigned short port) {
  SOCKET s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::closesocket(s);
    return INVALID_SOCKET;
  }
  DWORD timeout_ms = 30000;
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&timeout_ms),
               sizeof timeout_ms);
  return s;
}

struct response {
  int status = 0;  // 0: no answer
  std::string head, body;
};

// A chunked body's data (the server frames a CGI body of unknown length so).
inline std::string dechunk(const std::string& in) {
  std::string out;
  std::size_t at = 0;
  while (at < in.size()) {
    const auto eol = in.find("\r\n", at);
    if (eol == std::string::npos) break;
    const std::size_t n = std::stoul(in.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    out += in.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return out;
}

// GET `target` with `fields` (each ending in CRLF) from 127.0.0.1:`port`:
// the head, and the body (de-chunked).
inline response http_get(unsigned short port, const std::string& target,
                         const std::string& fields = "") {
  response r;
  SOCKET s = connect_to(port);
  if (s == INVALID_SOCKET) return r;
  const std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + fields + "Connection: close\r\n\r\n";
  ::send(s, req.data(), static_cast<int>(req.size()), 0);
  std::string all;
  char buf[16384];
  int n;
  while ((n = ::recv(s, buf, sizeof buf, 0)) > 0) all.append(buf, static_cast<std::size_t>(n));
  ::closesocket(s);
  const auto end = all.find("\r\n\r\n");
  if (end == std::string::npos || all.size() < 12) return r;
  r.head = all.substr(0, end);
  r.body = all.substr(end + 4);
  if (r.head.find("Transfer-Encoding: chunked") != std::string::npos) r.body = dechunk(r.body);
  r.status = std::atoi(all.c_str() + 9);
  return r;
}

}  // namespace cgihost::test
