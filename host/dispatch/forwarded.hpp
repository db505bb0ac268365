#pragma once
// The client behind a trusted reverse proxy (nginx real_ip, IIS ARR's
// X-Forwarded-For, RFC 7239 Forwarded): who it is and how it reached the
// proxy, from the fields a peer in `[proxy] trusted` sends. Pure: the caller
// gives the fields and the connection's ends, and logs the warnings.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/request.hpp"

namespace cgihost::host {

// The request's client as scripts and the access log see it: the connection's
// peer, or what a trusted proxy said of the client it forwards.
struct client {
  std::string address;            // REMOTE_ADDR, the access log: numeric, no brackets
  std::uint16_t port = 0;         // REMOTE_PORT
  bool https = false;             // HTTPS=on
  std::string scheme = "http";    // REQUEST_SCHEME
  std::string server_name;        // SERVER_NAME when set; empty: from Host, else the local address
  std::uint16_t server_port = 0;  // SERVER_PORT
  bool forwarded = false;         // something of it came from a trusted proxy's fields
};

struct forwarded_result {
  host::client client;
  // One line per field from a trusted peer that was ignored as malformed
  // ("X-Forwarded-For ... ignored: ..."), for the log. Never set for an
  // untrusted peer, whose fields are not read at all.
  std::vector<std::string> warnings;
};

// The client of a request that came over a connection from `peer_address`
// (numeric, as the session prints it) port `peer_port` to our `local_port`.
//
// From a peer outside `proxy.trusted` (or with no trusted ranges; a peer on
// a Unix-socket listener, "unix:", is trusted only with `trusted_unix`) every
// forwarding field is ignored: the client is the peer, over http, on
// local_port. From a trusted peer:
// - The X-Forwarded-* fields are read when the peer sent any of
//   X-Forwarded-For/-Proto/-Port/-Host; else Forwarded (RFC 7239). Never both:
//   a proxy that sets one passes a client's own other one through unchanged.
// - The address: walking the list (X-Forwarded-For's items, Forwarded's
//   elements' for=) from the right, the first that is not itself trusted;
//   when every one is trusted, the leftmost. REMOTE_PORT is the port given
//   with it ("1.2.3.4:5", "[::1]:5"), else the peer's (as nginx real_ip and
//   Apache mod_remoteip keep it).
// - The scheme: X-Forwarded-Proto's last item, or the chosen Forwarded
//   element's proto= ("http" or "https", any case).
// - SERVER_PORT: X-Forwarded-Port's last item, else the port in a trusted
//   host, else the scheme's default (443, 80) when a scheme was given, else
//   local_port.
// - SERVER_NAME: X-Forwarded-Host's last item or the element's host=, only
//   with `proxy.trust_host`.
// A malformed value (not an address, "unknown" or an obfuscated "_name" of
// RFC 7239 §6.3, a bad quoted string, a port out of range) makes that field
// (for an address: the whole list) ignored, with a warning: never a partial
// address.
forwarded_result resolve_client(const header_list& fields, std::string_view peer_address,
                                std::uint16_t peer_port, std::uint16_t local_port,
                                const config::proxy_settings& proxy);

class exchange;

// Sets `ex.state().client` for the request the front put in `ex` (its fields
// and the connection's ends), logging each warning at warn with the request
// id. Called once, at the top of the dispatch.
void resolve_client(exchange& ex, const config::proxy_settings& proxy);

}  // namespace cgihost::host
