#include "host/static_handler.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "host/mime.hpp"
#include "protocol/http_date.hpp"

namespace cgihost::host {
namespace {

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

std::string make_etag(const struct stat& st) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "W/\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  return buf;
}

// If-None-Match (RFC 9110 §13.1.2): weak comparison against a list or "*".
bool etag_matches(std::string_view header, std::string_view etag) {
  auto strip_weak = [](std::string_view t) { return t.substr(0, 2) == "W/" ? t.substr(2) : t; };
  std::string_view mine = strip_weak(etag);
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*" || strip_weak(item) == mine) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

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

static_handler::static_handler(const std::filesystem::path& document_root,
                               std::vector<std::string> index)
    : index_(std::move(index)) {
  root_fd_ = ::open(document_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot open document root " + document_root.string());
}

static_handler::~static_handler() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

asio::awaitable<void> static_handler::handle(exchange& ex) {
  const auto& req = ex.request();
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    co_await ex.send_error(http::status::method_not_allowed,
                           "static files answer only GET and HEAD");
    co_return;
  }
  const std::string& path = ex.target().path;
  std::string relative = path.size() > 1 ? path.substr(1) : ".";
  constexpr int kFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  fd_closer file{open_beneath(root_fd_, relative.c_str(), kFlags)};
  auto open_failed = [&](int err) -> std::pair<http::status, std::string> {
    switch (err) {
      case EACCES:
      case EPERM:
        return {http::status::forbidden, "permission denied: " + path};
      case EXDEV:
      case ELOOP:
        return {http::status::not_found,
                "path leaves the document root through a symlink: " + path};
      default:
        return {http::status::not_found, "no such file: " + path};
    }
  };
  if (file.fd < 0) {
    auto [status, why] = open_failed(errno);
    co_await ex.send_error(status, why);
    co_return;
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    co_await ex.send_error(http::status::internal_server_error, "fstat failed");
    co_return;
  }
  std::string served_name = path;
  if (S_ISDIR(st.st_mode)) {
    if (path.back() != '/') {
      // A folder is addressed with its slash, so that relative links in its index work.
      http::response_header<> head;
      head.result(http::status::moved_permanently);
      std::string location = path + "/";
      if (ex.target().has_query) location += "?" + ex.target().query;
      head.set(http::field::location, location);
      head.set(http::field::content_length, "0");
      error_code ec;
      co_await ex.write_head(head, ec);
      co_return;
    }
    fd_closer index{-1};
    for (const auto& name : index_) {
      index.fd = open_beneath(file.fd, name.c_str(), kFlags);
      struct stat ist {};
      if (index.fd >= 0 && ::fstat(index.fd, &ist) == 0 && S_ISREG(ist.st_mode)) {
        st = ist;
        served_name = name;
        std::swap(file.fd, index.fd);
        break;
      }
      if (index.fd >= 0) ::close(index.fd);
      index.fd = -1;
    }
    if (S_ISDIR(st.st_mode)) {
      co_await ex.send_error(http::status::forbidden, "folder without an index file: " + path);
      co_return;
    }
  }
  if (!S_ISREG(st.st_mode)) {
    co_await ex.send_error(http::status::forbidden, "not a regular file: " + path);
    co_return;
  }

  const std::string etag = make_etag(st);
  const std::string last_modified = protocol::format_http_date(st.st_mtim.tv_sec);
  bool not_modified = false;
  if (auto inm = req.find(http::field::if_none_match); inm != req.end()) {
    not_modified = etag_matches(inm->value(), etag);
  } else if (auto ims = req.find(http::field::if_modified_since); ims != req.end()) {
    auto since = protocol::parse_http_date(ims->value());
    not_modified = since && st.st_mtim.tv_sec <= *since;
  }

  http::response_header<> head;
  head.set(http::field::last_modified, last_modified);
  head.set(http::field::etag, etag);
  error_code ec;
  if (not_modified) {
    head.result(http::status::not_modified);
    co_await ex.write_head(head, ec);
    co_return;
  }
  head.result(http::status::ok);
  head.set(http::field::content_type, mime_type(served_name));
  head.set(http::field::content_length, std::to_string(st.st_size));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (req.method() == http::verb::head || size == 0) {
    co_await ex.write_head(head, ec);
    co_return;
  }

  // Bounded memory whatever the file size; no zero-fill of the buffer.
  constexpr std::uint64_t kChunk = 64 * 1024;
  const auto buf_size = static_cast<std::size_t>(std::min(kChunk, size));
  auto buf = std::make_unique_for_overwrite<char[]>(buf_size);
  std::uint64_t offset = 0;
  bool first = true;
  while (offset < size) {
    ssize_t n = ::pread(file.fd, buf.get(), std::min<std::uint64_t>(buf_size, size - offset),
                        static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ex.log().error("[static] rid={} read of {} failed at offset {}: {}", ex.id().str(), path,
                     offset, n == 0 ? "file shrank" : std::strerror(err));
      // Before the head: an honest 500. After: the session closes the connection.
      if (first) co_await ex.send_error(http::status::internal_server_error, "read failed");
      co_return;
    }
    auto data = asio::buffer(buf.get(), static_cast<std::size_t>(n));
    if (first)
      co_await ex.write_response(head, data, ec);
    else
      co_await ex.write_body(data, ec);
    if (ec) co_return;
    first = false;
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace cgihost::host
