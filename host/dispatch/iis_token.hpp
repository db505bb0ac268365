#pragma once
// Whether a request carries a token IIS forwarded that cgihost may use:
// with [authentication] iis_token = true (Windows only), IIS's
// HttpPlatformHandler duplicates the authenticated user's token into this
// process and names the handle in X-IIS-WindowsAuthToken. Only a loopback
// peer can be IIS on this machine: from any other peer the header is
// ignored (and the caller logs a warning naming the peer), never believed.
// The header never reaches a script whatever this decides (gateway drops it
// from the CGI variables and FastCGI params).
//
// Pure: no Win32 call. The Windows backend turns a `token` decision into a
// primary token (DuplicateTokenEx) and closes the handle when the request
// ends; on other platforms iis_token cannot be set (a config error).

#include <cstdint>
#include <string>
#include <string_view>

#include "host/dispatch/request.hpp"

namespace cgihost::host {

struct iis_token_decision {
  enum class kind {
    no_token,              // no header: the request is anonymous (as far as IIS goes)
    refused_not_loopback,  // a header from a peer that cannot be IIS: ignored
    malformed,             // from loopback, but no handle value (or the header twice)
    token,                 // `handle` is the value IIS sent
  };
  kind what = kind::no_token;
  std::uint64_t handle = 0;  // for `token`
  std::string reason;        // for `malformed`: why, e.g. "token handle is not hexadecimal"
};

// True for 127.0.0.0/8, ::1 and their IPv4-mapped forms (numeric addresses only).
bool is_loopback_address(std::string_view numeric_address);

// Decides from the request's fields and whether the connection's own peer
// (the TCP peer, never a client named by X-Forwarded-For) is loopback.
iis_token_decision decide_iis_token(const header_list& fields, bool peer_is_loopback);

// The error-log line for a decision that is not used (refused_not_loopback,
// malformed), naming the peer; empty for no_token and token.
std::string iis_token_warning(const iis_token_decision& d, std::string_view peer_address);

}  // namespace cgihost::host
