#include "host/fastcgi/socket_dir.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <system_error>
#include <vector>

namespace cgihost::host {
namespace {

// Socket folders are /tmp/cgihost-fcgi-PID-XXXXXX, removed when their pool
// ends. A cgihost killed with SIGKILL cannot remove them: the next start
// removes those of processes that no longer exist (and that are ours).
constexpr const char* kSocketDirPrefix = "/tmp/cgihost-fcgi-";

void remove_stale_socket_dirs() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::error_code ec;
    const std::string_view base = std::string_view(kSocketDirPrefix).substr(5);  // after /tmp/
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(base, 0) != 0) continue;
      const std::string rest = name.substr(base.size());
      const auto dash = rest.find('-');
      if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789") != dash)
        continue;
      const long pid = std::strtol(rest.c_str(), nullptr, 10);
      struct stat st {};
      if (pid <= 0 || pid == ::getpid() || ::lstat(e.path().c_str(), &st) != 0 ||
          !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
        continue;
      if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        std::error_code ignored;
        std::filesystem::remove_all(e.path(), ignored);
      }
    }
  });
}

}  // namespace

std::string make_socket_dir(std::string& error) {
  remove_stale_socket_dirs();
  std::string name = std::string(kSocketDirPrefix) + std::to_string(::getpid()) + "-XXXXXX";
  std::vector<char> tmpl(name.begin(), name.end());
  tmpl.push_back('\0');
  if (::mkdtemp(tmpl.data()) == nullptr) {
    error = std::string("cannot create the socket folder: ") + std::strerror(errno);
    return {};
  }
  return tmpl.data();
}

}  // namespace cgihost::host
