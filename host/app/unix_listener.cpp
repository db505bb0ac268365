#include "host/app/unix_listener.hpp"

#ifdef CGIHOST_UNIX_LISTENERS

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace cgihost::host {
namespace {

std::string errno_text(int e) { return std::generic_category().message(e); }

// Whether something accepts connections on the socket file at `path`:
// ECONNREFUSED means the server that bound it is gone.
bool answers(const std::string& path, int& err) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return false;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  err = rc == 0 ? 0 : errno;
  ::close(fd);
  return rc == 0;
}

// Clears the way for a new socket at `path`: false with `error` when
// something else is there.
bool clear_stale(const std::string& path, std::string& error) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return true;  // nothing there
  const std::string where = "cannot listen on unix:" + path + ": ";
  if (!S_ISSOCK(st.st_mode)) {
    error = where + "the path exists and is not a socket";
    return false;
  }
  int err = 0;
  if (answers(path, err)) {
    error = where + "something answers on it already (another server runs there)";
    return false;
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    error = where + "cannot tell whether the socket is in use: " + errno_text(err);
    return false;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = where + "cannot remove the stale socket: " + errno_text(errno);
    return false;
  }
  return true;
}

}  // namespace

void unix_socket_file::remove() const {
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return;
  if (S_ISSOCK(st.st_mode) && st.st_dev == device && st.st_ino == inode) ::unlink(path.c_str());
}

std::optional<asio::local::stream_protocol::acceptor> bind_unix_socket(
    asio::any_io_executor ex, const std::string& path, const config::socket_settings& s,
    unix_socket_file& made, std::string& error) {
  if (!clear_stale(path, error)) return std::nullopt;
  const std::string where = "cannot listen on unix:" + path + ": ";
  asio::local::stream_protocol::acceptor acc(ex);
  boost::system::error_code ec;
  acc.open(asio::local::stream_protocol(), ec);
  if (!ec) acc.bind(asio::local::stream_protocol::endpoint(path), ec);
  if (ec) {
    error = where + ec.message();
    return std::nullopt;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) made = {path, st.st_dev, st.st_ino};
  // Before listen(): no connection can be made until the socket is ours to give.
  const uid_t uid = s.owner_uid ? static_cast<uid_t>(*s.owner_uid) : static_cast<uid_t>(-1);
  const gid_t gid = s.group_gid ? static_cast<gid_t>(*s.group_gid) : static_cast<gid_t>(-1);
  if ((s.owner_uid || s.group_gid) && ::chown(path.c_str(), uid, gid) != 0) {
    error = where + "cannot set its owner/group: " + errno_text(errno);
    made.remove();
    return std::nullopt;
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(s.mode)) != 0) {
    error = where + "cannot set its mode: " + errno_text(errno);
    made.remove();
    return std::nullopt;
  }
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = where + ec.message();
    made.remove();
    return std::nullopt;
  }
  return acc;
}

}  // namespace cgihost::host

#endif
