#pragma once
// A config account as spawner/ takes it: spawner/ does not know the config.

#include "config/config.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

inline spawner::account os_account(const config::account& a) {
  return spawner::account{a.name, spawner::uid{a.uid}, spawner::gid{a.gid}, a.home};
}

}  // namespace cgihost::host
