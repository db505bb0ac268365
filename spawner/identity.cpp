#include "spawner/identity.hpp"

#include <grp.h>
#include <sys/types.h>

namespace cgihost::spawner {

bool identity::is_root() const noexcept {
  if (uid.value == 0 || gid.value == 0) return true;
  for (auto g : groups)
    if (g.value == 0) return true;
  return false;
}

std::string identity::describe() const {
  return name + " uid " + std::to_string(uid.value) + " gid " + std::to_string(gid.value);
}

std::optional<identity> resolve_identity(const config::account& account) {
  identity id{account.name, spawner::uid{account.uid}, spawner::gid{account.gid}, {}, account.home};
  int count = 32;
  std::vector<gid_t> list;
  for (int tries = 0; tries < 8; ++tries) {
    list.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(account.name.c_str(), account.gid, list.data(), &n) >= 0) {
      list.resize(static_cast<std::size_t>(n));
      for (gid_t g : list) id.groups.push_back(spawner::gid{g});
      return id;
    }
    count = n > count ? n : count * 2;
  }
  return std::nullopt;
}

}  // namespace cgihost::spawner
