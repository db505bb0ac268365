#include "config/accounts.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace cgihost::config
