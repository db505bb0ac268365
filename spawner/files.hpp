#pragma once
// Files beneath a root: the one place that opens what a URL names, so that
// nothing leaves the document root, whatever symlinks and ".." say.

#include <utility>

namespace cgihost::spawner {

// A descriptor closed when this goes; movable.
class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  int get() const noexcept { return fd_; }
  void reset(int fd = -1) noexcept;

 private:
  int fd_;
};

// Opens `relative` under the folder `dir_fd` without ever leaving it, whatever
// symlinks and ".." say (openat2 RESOLVE_BENEATH). -1 with errno on failure;
// EXDEV when the path would leave the folder.
int open_beneath(int dir_fd, const char* relative, int flags);

// A script under the document root (`root_fd`): open_beneath, or, when
// `may_leave` (allow_symlinks_outside_root), following symlinks wherever they
// go (a path without ".." segments, as the router gives it).
int open_script(int root_fd, const char* relative, int flags, bool may_leave);

}  // namespace cgihost::spawner
