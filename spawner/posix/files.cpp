#include "spawner/files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace cgihost::spawner {
namespace {

long openat2(int dir_fd, const char* relative, int flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = resolve;
  return ::syscall(SYS_openat2, dir_fd, relative, &how, sizeof how);
}

// What the open descriptor `fd` names ("/srv/www/a.php"), as the kernel says.
std::optional<std::string> fd_target(int fd) {
  char link[64], buf[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, sizeof buf);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof buf)) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

int flags_for(open_for mode) {
  return mode == open_for::read ? O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY : O_PATH | O_CLOEXEC;
}

}  // namespace

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::optional<file_info> info_of(int fd, std::error_code& ec) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ec = std::error_code(errno, std::generic_category());
    return std::nullopt;
  }
  ec.clear();
  file_info out;
  out.what = S_ISREG(st.st_mode)   ? file_info::kind::regular
             : S_ISDIR(st.st_mode) ? file_info::kind::folder
                                   : file_info::kind::other;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.modified = st.st_mtim.tv_sec;
  out.modified_nanoseconds = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
  out.owner = st.st_uid;
  out.group = st.st_gid;
  out.mode = st.st_mode;
  return out;
}

int open_folder(const std::filesystem::path& path) {
  return ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

std::error_code can_read_folder(const std::filesystem::path& path) {
  if (::access(path.c_str(), R_OK | X_OK) == 0) return {};
  return std::error_code(errno, std::generic_category());
}

int open_script(int root_fd, const char* relative, open_for mode, bool may_leave) {
  if (!may_leave) return open_beneath(root_fd, relative, mode);
  return ::openat(root_fd, relative, flags_for(mode));
}

int open_script(int root_fd, const char* relative, bool may_leave) {
  return open_script(root_fd, relative, open_for::look, may_leave);
}

int open_beneath(int dir_fd, const char* relative, open_for mode) {
  const int flags = flags_for(mode);
  long fd = openat2(dir_fd, relative, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  // Kernels before 5.6: refuse symlinks altogether rather than risk leaving the root.
  return ::openat(dir_fd, relative, flags | O_NOFOLLOW);
}

int open_beneath_noting_symlinks(int dir_fd, const char* relative, bool& via_symlink) {
  const int flags = flags_for(open_for::read);
  long fd = openat2(dir_fd, relative, flags,
                    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
  via_symlink = false;
  if (fd >= 0) return static_cast<int>(fd);
  if (errno != ELOOP && errno != ENOSYS) return -1;
  via_symlink = true;  // ENOSYS (before 5.6): cannot tell, so look
  return open_beneath(dir_fd, relative, open_for::read);
}

std::optional<std::string> path_below(int root_fd, int fd) {
  auto root = fd_target(root_fd), file = fd_target(fd);
  if (!root || !file) return std::nullopt;
  if (*root == "/") return file;
  if (file->size() <= root->size() || file->compare(0, root->size(), *root) != 0 ||
      (*file)[root->size()] != '/')
    return std::nullopt;
  return file->substr(root->size());
}

std::size_t read_at(int h, std::uint64_t offset, char* buf, std::size_t size, std::error_code& ec) {
  ec.clear();
  ssize_t n;
  do n = ::pread(h, buf, size, static_cast<off_t>(offset));
  while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<std::size_t>(n);
  ec = std::error_code(errno, std::generic_category());
  return 0;
}

std::error_code write_at(int h, std::uint64_t offset, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::pwrite(h, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::error_code(errno, std::generic_category());
    if (n == 0) return std::make_error_code(std::errc::no_space_on_device);
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

spool_file spool_file::create(std::error_code& ec) {
  spool_file out;
  out.fd_.reset(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  ec = out.is_open() ? std::error_code() : std::error_code(errno, std::generic_category());
  return out;
}

}  // namespace cgihost::spawner
