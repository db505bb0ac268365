#pragma once
// Loading a config: TOML text -> a validated `config`, or every problem found.
// Loading has no side effects: it reads the config and users file and looks
// up accounts and programs, but binds, spawns and writes nothing.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/accounts.hpp"
#include "config/config.hpp"
#include "config/diagnostic.hpp"

namespace cgihost::config {

struct load_options {
  bool running_as_root = false;  // children never run as root: see identity rules
  account_lookup lookup = lookup_system_account;
  std::function<std::optional<std::uint32_t>(const std::string&)> group_lookup =
      lookup_system_group;
  std::optional<account> current_user;  // the account cgihost itself runs as
  // Whether a uid or gid is taken on this machine (an account or a group has
  // it): the default network-process uid is one that is not.
  std::function<bool(std::uint32_t)> id_in_use = system_id_in_use;
  // Dev mode: a handler whose program is not found is kept but marked
  // unavailable (it answers 503 with the reason) instead of failing the load.
  bool dev_mode = false;
};

// The options for this process: euid, its account, the system's user database.
load_options system_load_options();

struct load_result {
  std::optional<config> value;     // set when errors is empty
  std::vector<diagnostic> errors;  // sorted by line, then column
  bool ok() const { return value.has_value(); }
};

// Loads and validates a config file. Relative paths in it are relative to
// the file's folder.
load_result load_file(const std::filesystem::path& file, const load_options& options);

// Loads and validates config text; `source_name` names it in diagnostics and
// relative paths resolve against `base_dir`.
load_result load_string(std::string_view text, const std::string& source_name,
                        const std::filesystem::path& base_dir, const load_options& options);

// The embedded default config of dev mode, as TOML text.
std::string_view dev_config_text();

// Dev mode: the embedded default config with `root` as document root and,
// when given, `listen` ("HOST:PORT") as the only listen address.
load_result load_dev(const std::filesystem::path& root, const std::optional<std::string>& listen,
                     load_options options);

}  // namespace cgihost::config
