#include "spawner/identity.hpp"

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

}  // namespace cgihost::spawner
