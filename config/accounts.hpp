#pragma once
// Looking up OS accounts. Done once, at load; children get the resolved ids.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace cgihost::config {

using account_lookup = std::function<std::optional<account>(const std::string& name)>;

// The account of that name in the system's user database, or nullopt.
std::optional<account> lookup_system_account(const std::string& name);

// The account with that uid, or nullopt.
std::optional<account> lookup_system_account_by_uid(std::uint32_t uid);

// True when an account has `id` as its uid or a group has it as its gid.
bool system_id_in_use(std::uint32_t id);

}  // namespace cgihost::config
