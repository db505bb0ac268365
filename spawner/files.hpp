#pragma once
// Files beneath a root: the one place that opens what a URL names, so that
// nothing leaves the document root, whatever symlinks and ".." say; and the
// spool a request body waits in.
//
// POSIX-only for now (issue 15): `flags` are open(2) flags (O_PATH,
// O_CLOEXEC, ...) as host/ passes them; Windows maps the few used
// (read, no follow, path only) onto CreateFileW's access and flags.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "spawner/platform.hpp"

namespace cgihost::spawner {

// A handle closed when this goes; movable. (The name says "fd": on Windows
// it holds a HANDLE.)
class unique_fd {
 public:
  explicit unique_fd(native_handle fd = no_handle) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, no_handle)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, no_handle));
    return *this;
  }
  native_handle get() const noexcept { return fd_; }
  void reset(native_handle fd = no_handle) noexcept;

 private:
  native_handle fd_;
};

// What host/ needs to know of an open file: what it is, its size and age,
// and whom it lets in.
struct file_info {
  enum class kind { regular, folder, other };
  kind what = kind::other;
  std::uint64_t size = 0;
  std::int64_t modified = 0;               // last modification: seconds since the epoch
  std::uint32_t modified_nanoseconds = 0;  // ... and the nanoseconds within that second
  // Owner uid, group gid and mode bits (may_access judges them). POSIX-only:
  // issue 15 puts the file's security descriptor here (AccessCheck).
  std::uint32_t owner = 0;
  std::uint32_t group = 0;
  std::uint32_t mode = 0;
  bool is_regular() const noexcept { return what == kind::regular; }
  bool is_folder() const noexcept { return what == kind::folder; }
  // Anyone may execute it (a script run without an interpreter needs that).
  bool executable_by_someone() const noexcept { return (mode & 0111) != 0; }
};

// file_info of the open file `fd`; nullopt with `ec` when it cannot be had.
std::optional<file_info> info_of(native_handle fd, std::error_code& ec);

// Opens the folder `path` to open files beneath it (open_beneath,
// open_script) and nothing else (O_PATH | O_DIRECTORY). -1 with errno on
// failure.
native_handle open_folder(const std::filesystem::path& path);

// Whether this process may list and enter the folder `path` (read and
// search permission): the reason when it may not.
std::error_code can_read_folder(const std::filesystem::path& path);

// Opens `relative` under the folder `dir_fd` without ever leaving it, whatever
// symlinks and ".." say (openat2 RESOLVE_BENEATH). -1 with errno on failure;
// EXDEV when the path would leave the folder.
native_handle open_beneath(native_handle dir_fd, const char* relative, int flags);

// open_beneath for reading its bytes (a static file, or a folder to look in):
// without blocking (a FIFO is refused, not waited on), never as a
// controlling terminal. It tells whether a symlink was followed on the way
// (`via_symlink`): then the file's own name is not the one asked for. Costs
// nothing more when none was. On a kernel that cannot tell (before 5.6),
// `via_symlink` is true whenever the file opened.
native_handle open_beneath_noting_symlinks(native_handle dir_fd, const char* relative,
                                           bool& via_symlink);

// A script under the document root (`root_fd`): open_beneath, or, when
// `may_leave` (allow_symlinks_outside_root), following symlinks wherever they
// go (a path without ".." segments, as the router gives it).
native_handle open_script(native_handle root_fd, const char* relative, int flags, bool may_leave);
// The same, opened only to look at it (info_of) and to run it, not to read
// it (O_PATH): what the script checks need, without naming open(2) flags.
native_handle open_script(native_handle root_fd, const char* relative, bool may_leave);

// The path of the open file `fd` below the folder `root_fd` ("/a/b.php"), as
// the kernel names them now (/proc/self/fd); nullopt when it cannot be said
// (either is unnamed, or the file is not below the folder).
std::optional<std::string> path_below(native_handle root_fd, native_handle fd);

// Up to `size` bytes of `h` at `offset` into `buf` (an interrupted read is
// retried): how many were read, 0 at end of file, or 0 with `ec` on failure.
std::size_t read_at(native_handle h, std::uint64_t offset, char* buf, std::size_t size,
                    std::error_code& ec);
// All `size` bytes of `data` to `h` at `offset`; a failure (ENOSPC for a
// write that could not go on) as the error.
[[nodiscard]] std::error_code write_at(native_handle h, std::uint64_t offset, const char* data,
                                       std::size_t size);

// A request body that must be counted before it is sent on (a chunked body:
// CGI and PHP need CONTENT_LENGTH): an unnamed file of the temporary folder,
// readable only by this process, gone when closed or when the process ends.
class spool_file {
 public:
  spool_file() = default;  // none yet: is_open() is false
  // A new, empty spool; one that is not open, with `ec`, on failure.
  [[nodiscard]] static spool_file create(std::error_code& ec);

  bool is_open() const noexcept { return fd_.get() != no_handle; }
  native_handle native() const noexcept { return fd_.get(); }

  // As write_at and read_at above, on this file.
  [[nodiscard]] std::error_code write_at(std::uint64_t offset, const char* data,
                                         std::size_t size) const {
    return spawner::write_at(fd_.get(), offset, data, size);
  }
  std::size_t read_at(std::uint64_t offset, char* buf, std::size_t size,
                      std::error_code& ec) const {
    return spawner::read_at(fd_.get(), offset, buf, size, ec);
  }

 private:
  unique_fd fd_;
};

}  // namespace cgihost::spawner
