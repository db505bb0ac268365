#include "spawner/identity.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "spawner/files.hpp"

namespace cgihost::spawner {

bool identity::is_root() const noexcept {
  if (uid.value == 0 || gid.value == 0) return true;
  for (auto g : groups)
    if (g.value == 0) return true;
  return false;
}

std::string identity::describe() const {
  // A uid without an account (the network process's default) has no name.
  return (name.empty() ? "" : name + " ") + "uid " + std::to_string(uid.value) + " gid " +
         std::to_string(gid.value);
}

std::optional<account> lookup_account(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return std::nullopt;
  return account{pw.pw_name, spawner::uid{pw.pw_uid}, spawner::gid{pw.pw_gid},
                 pw.pw_dir ? pw.pw_dir : ""};
}

std::optional<identity> resolve_identity(const account& account) {
  identity id{account.name, account.uid, account.gid, {}, account.home};
  int count = 32;
  std::vector<gid_t> list;
  for (int tries = 0; tries < 8; ++tries) {
    list.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(account.name.c_str(), account.gid.value, list.data(), &n) >= 0) {
      list.resize(static_cast<std::size_t>(n));
      for (gid_t g : list) id.groups.push_back(spawner::gid{g});
      return id;
    }
    count = n > count ? n : count * 2;
  }
  return std::nullopt;
}

std::optional<identity> resolve_identity_now(const account& account, std::string& why) {
  auto now = lookup_account(account.name);
  if (!now) {
    why = "account " + account.name + " does not exist (any more)";
    return std::nullopt;
  }
  if (now->uid != account.uid || now->gid != account.gid) {
    why = "account " + account.name + " is now uid " + std::to_string(now->uid.value) + " gid " +
          std::to_string(now->gid.value) + ", not uid " + std::to_string(account.uid.value) +
          " gid " + std::to_string(account.gid.value) + " as when the config was loaded";
    return std::nullopt;
  }
  auto id = resolve_identity(account);
  if (!id) why = "the groups of account " + account.name + " cannot be read";
  return id;
}

bool may_access(const identity& id, std::uint32_t owner, std::uint32_t group, std::uint32_t mode,
                bool need_exec, std::string& why) {
  unsigned shift = 0;  // other
  const char* as = "other";
  if (id.uid.value == owner) {
    shift = 6;
    as = "owner";
  } else {
    for (auto g : id.groups)
      if (g.value == group) {
        shift = 3;
        as = "group";
        break;
      }
  }
  const unsigned bits = (mode >> shift) & 7u;
  const bool ok = (bits & 4u) && (!need_exec || (bits & 1u));
  if (!ok) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode & 07777u);
    why = (id.name.empty() ? "" : id.name + " ") + "uid " + std::to_string(id.uid.value) +
          " may not " + (need_exec ? "read and execute" : "read") + " it (owner uid " +
          std::to_string(owner) + ", group gid " + std::to_string(group) + ", mode " + octal +
          "; it is " + as + ")";
  }
  return ok;
}

bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why) {
  return may_access(id, file.owner, file.group, file.mode, need_exec, why);
}

bool may_access_path(const identity& id, const char* path, bool need_exec, std::string& why,
                     std::error_code& ec) {
  struct stat st {};
  if (::stat(path, &st) != 0) {
    ec = std::error_code(errno, std::generic_category());
    return false;
  }
  ec.clear();
  return may_access(id, st.st_uid, st.st_gid, st.st_mode, need_exec, why);
}

}  // namespace cgihost::spawner
