#pragma once
// The folders of pool instances' sockets: /tmp/cgihost-fcgi-PID-XXXXXX, one
// per pool, removed when the pool ends.

#include <string>

namespace cgihost::host {

// A new socket folder of this process (made by the calling account, which
// will connect to the sockets in it); first, once per process, the folders
// of cgihost processes that no longer exist are removed (a cgihost killed
// with SIGKILL cannot remove its own). Empty and `error` on failure.
std::string make_socket_dir(std::string& error);

}  // namespace cgihost::host
