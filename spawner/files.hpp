#pragma once
// Files beneath a root: the one place that opens what a URL names, so that
// nothing leaves the document root, whatever symlinks and ".." say; and the
// spool a request body waits in.
//
// POSIX: openat2(2) RESOLVE_BENEATH, fstat, O_TMPFILE (posix/files.cpp).
// Windows: a walk component by component from the root's handle (NtCreateFile
// relative to a folder handle, never through a reparse point that leaves the
// root), the name rules of windows_names.hpp, GetFileInformationByHandle and
// the file's security descriptor, a FILE_FLAG_DELETE_ON_CLOSE spool
// (windows/files.cpp). Failures set errno with the POSIX names on both.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

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
  // Gives the handle up to the caller, who closes it.
  native_handle release() noexcept { return std::exchange(fd_, no_handle); }
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
  // POSIX: owner uid, group gid and mode bits (may_access judges them).
  std::uint32_t owner = 0;
  std::uint32_t group = 0;
  std::uint32_t mode = 0;
  // Windows: the file's security descriptor (self-relative: owner, group,
  // DACL) that may_access judges with AccessCheck; empty on POSIX.
  std::vector<unsigned char> security{};
  // Windows: its name ends in .exe or .com, a program CreateProcessW starts
  // itself. (.bat and .cmd are not: cmd.exe would parse the arguments a
  // query string gives, the BatBadBut injection; they need an interpreter.)
  bool program_image = false;
  bool is_regular() const noexcept { return what == kind::regular; }
  bool is_folder() const noexcept { return what == kind::folder; }
  // It can be run without an interpreter. POSIX: anyone has an x bit (the
  // account's own right is may_access's). Windows has no x bit: a program
  // image by its name (program_image); the right to execute it is
  // may_access's (FILE_EXECUTE in its DACL).
  bool executable_by_someone() const noexcept {
#if defined(_WIN32)
    return program_image;
#else
    return (mode & 0111) != 0;
#endif
  }
};

// How a file beneath a root is opened.
enum class open_for {
  // Its bytes: a static file, an error page, a folder to look in. Never
  // blocking (a FIFO is refused, not waited on), never a controlling
  // terminal (POSIX: O_RDONLY | O_NONBLOCK | O_NOCTTY; Windows: read data).
  read,
  // Only to look at it (info_of, may_access) and to run it, not to read it
  // (POSIX: O_PATH; Windows: attributes and security descriptor only).
  look,
};

// file_info of the open file `fd`; nullopt with `ec` when it cannot be had.
std::optional<file_info> info_of(native_handle fd, std::error_code& ec);

// Opens the folder `path` to open files beneath it (open_beneath,
// open_script) and nothing else (O_PATH | O_DIRECTORY). no_handle with errno
// on failure. Every handle these functions open is this process's own (not
// inherited by children: O_CLOEXEC, or not inheritable).
native_handle open_folder(const std::filesystem::path& path);

// Whether this process may list and enter the folder `path` (read and
// search permission): the reason when it may not.
std::error_code can_read_folder(const std::filesystem::path& path);

// Opens `relative` under the folder `dir_fd` without ever leaving it, whatever
// symlinks and ".." say (openat2 RESOLVE_BENEATH: a relative symlink that
// stays beneath is followed, an absolute one is not). no_handle with errno on
// failure; EXDEV when the path would leave the folder. Windows: the same
// rule for reparse points (a relative symbolic link that stays beneath is
// followed; a junction, a mount point or an absolute link is EXDEV), ".."
// EXDEV, and a name windows_name_refusal refuses, or an 8.3 short name of
// another file, ENOENT.
native_handle open_beneath(native_handle dir_fd, const char* relative, open_for mode);

// open_beneath for reading its bytes (open_for::read). It tells whether a
// symlink was followed on the way (`via_symlink`): then the file's own name
// is not the one asked for (on Windows also when only its case differs).
// Costs nothing more when none was. On a kernel that cannot tell (before
// 5.6), `via_symlink` is true whenever the file opened.
native_handle open_beneath_noting_symlinks(native_handle dir_fd, const char* relative,
                                           bool& via_symlink);

// A script under the document root (`root_fd`): open_beneath, or, when
// `may_leave` (allow_symlinks_outside_root), following symlinks wherever they
// go (a path without ".." segments, as the router gives it).
native_handle open_script(native_handle root_fd, const char* relative, open_for mode,
                          bool may_leave);
// The same, opened only to look at it (open_for::look): what the script
// checks need.
native_handle open_script(native_handle root_fd, const char* relative, bool may_leave);

// The path of the open file `fd` below the folder `root_fd` ("/a/b.php"), as
// the kernel names them now (/proc/self/fd; Windows: GetFinalPathNameByHandleW,
// the long names in their real case, '/'-separated, UTF-8); nullopt when it
// cannot be said (either is unnamed, or the file is not below the folder).
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
// (Windows: a file of a random name in the temporary folder, opened with no
// sharing and FILE_FLAG_DELETE_ON_CLOSE: no one else can open it, and the
// system deletes it when its last handle closes, also when cgihost is
// killed.)
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
