#include "config/accounts.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace cgihost::config {
namespace {

template <class Lookup>
std::optional<account> lookup(Lookup&& call) {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  passwd pw{};
  passwd* found = nullptr;
  for (int tries = 0; tries < 8; ++tries) {
    int rc = call(&pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 || found == nullptr) return std::nullopt;
    return account{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
  }
  return std::nullopt;
}

}  // namespace

std::optional<account> lookup_system_account(const std::string& name) {
  return lookup([&](passwd* pw, char* buf, std::size_t len, passwd** out) {
    return getpwnam_r(name.c_str(), pw, buf, len, out);
  });
}

std::optional<account> lookup_system_account_by_uid(std::uint32_t uid) {
  return lookup([&](passwd* pw, char* buf, std::size_t len, passwd** out) {
    return getpwuid_r(uid, pw, buf, len, out);
  });
}

std::optional<std::uint32_t> lookup_system_group(const std::string& name) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  int rc;
  while ((rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 22))
    buf.resize(buf.size() * 2);
  if (rc != 0 || found == nullptr) return std::nullopt;
  return static_cast<std::uint32_t>(gr.gr_gid);
}

bool system_id_in_use(std::uint32_t id) {
  if (lookup_system_account_by_uid(id)) return true;
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  int rc;
  while ((rc = getgrgid_r(id, &gr, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 22))
    buf.resize(buf.size() * 2);
  // An unreadable group database: count the id as taken rather than share it.
  return rc != 0 || found != nullptr;
}

account current_system_account() {
  if (auto a = lookup_system_account_by_uid(::geteuid())) return *a;
  return account{"uid" + std::to_string(::geteuid()), ::geteuid(), ::getegid(), ""};
}

bool running_with_privileges() { return ::geteuid() == 0; }

namespace {

bool executable_file(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<std::filesystem::path> find_program(const std::string& name,
                                                  const std::filesystem::path& base) {
  namespace fs = std::filesystem;
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    fs::path p = fs::path(name).is_absolute() ? fs::path(name) : base / name;
    if (executable_file(p)) return p.lexically_normal();
    return std::nullopt;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      fs::path p = fs::path(dir) / name;
      if (executable_file(p)) return p;
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace cgihost::config
