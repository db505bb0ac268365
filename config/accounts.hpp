#pragma once
// What loading a config asks of the operating system: accounts (looked up
// once, at load; children get the resolved ids), who this process is, and
// where a program is. accounts.cpp for POSIX, accounts_windows.cpp for
// Windows.

#include <cstdint>
#include <filesystem>
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

// The gid of the group of that name, or nullopt (always on Windows: no Unix sockets' groups).
std::optional<std::uint32_t> lookup_system_group(const std::string& name);

// True when an account has `id` as its uid or a group has it as its gid.
bool system_id_in_use(std::uint32_t id);

// The account this process runs as (POSIX: named "uidN" when no account has
// its uid).
account current_system_account();

// Whether this process may start children as other accounts (POSIX: root).
bool running_with_privileges();

// Resolves a program as starting it would: a name with a folder separator
// relative to `base`, otherwise the first match on PATH (Windows: also with
// each PATHEXT extension when the name has none).
std::optional<std::filesystem::path> find_program(const std::string& name,
                                                  const std::filesystem::path& base);

}  // namespace cgihost::config
