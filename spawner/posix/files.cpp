#include "spawner/files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace cgihost::spawner {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

int open_script(int root_fd, const char* relative, int flags, bool may_leave) {
  if (!may_leave) return open_beneath(root_fd, relative, flags);
  return ::openat(root_fd, relative, flags);
}

int open_beneath(int dir_fd, const char* relative, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dir_fd, relative, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  // Kernels before 5.6: refuse symlinks altogether rather than risk leaving the root.
  return ::openat(dir_fd, relative, flags | O_NOFOLLOW);
}

}  // namespace cgihost::spawner
