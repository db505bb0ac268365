#pragma once
// Static files (dev mode, module = "static", and the fallback when no
// handler matches): GET and HEAD, conditional requests, index files.

#include <filesystem>

#include "host/handler.hpp"

namespace cgihost::host {

class static_handler final : public handler {
 public:
  // Opens the document root once; throws std::system_error if it cannot.
  static_handler(const std::filesystem::path& document_root, std::vector<std::string> index);
  ~static_handler() override;
  static_handler(const static_handler&) = delete;
  static_handler& operator=(const static_handler&) = delete;

  asio::awaitable<void> handle(exchange& ex) override;

 private:
  int root_fd_ = -1;
  std::vector<std::string> index_;
};

// Opens `relative` under the folder `dir_fd` without ever leaving it, whatever
// symlinks and ".." say (openat2 RESOLVE_BENEATH). -1 with errno on failure;
// EXDEV when the path would leave the folder.
int open_beneath(int dir_fd, const char* relative, int flags);

// A script under the document root (`root_fd`): open_beneath, or, when
// `may_leave` (allow_symlinks_outside_root), following symlinks wherever they
// go (a path without ".." segments, as the router gives it).
int open_script(int root_fd, const char* relative, int flags, bool may_leave);

}  // namespace cgihost::host
