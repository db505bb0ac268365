#pragma once
// The OS identity a child runs as. Resolved once, from an account the config
// names (plain data here: spawner/ does not know the config); the launcher
// applies it in the child before exec: supplementary groups, gid, uid, in
// that order.
//
// The shape is POSIX's (uid, gid, groups). On Windows an account is its SID
// and an identity carries a primary token (S4U or LogonUserW, or IIS's), and
// may_access is an AccessCheck against the file's security descriptor.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace cgihost::spawner {

struct file_info;  // files.hpp

// Strong ids: a raw int in the wrong argument is the bug they prevent.
struct uid {
  std::uint32_t value;
  bool operator==(const uid&) const = default;
};
struct gid {
  std::uint32_t value;
  bool operator==(const gid&) const = default;
};

// An account as the config names it (or as the account database holds it).
struct account {
  std::string name;
  spawner::uid uid{0};
  spawner::gid gid{0};
  std::string home;
  std::string sid{};  // Windows: the account's SID ("S-1-5-21-..."); empty on POSIX
  bool operator==(const account&) const = default;
};

struct identity {
  std::string name;
  spawner::uid uid{0};
  spawner::gid gid{0};
  std::vector<spawner::gid> groups;  // supplementary groups, primary gid included
  std::string home;
  // Windows: the account's SID, and a primary token of it (a HANDLE, closed
  // when the last copy of this identity goes) that CreateProcessAsUserW
  // starts the child with; null: the child runs as this process. Unused on
  // POSIX.
  std::string sid{};
  std::shared_ptr<void> token{};

  // True when this identity would give a child root's powers.
  bool is_root() const noexcept;
  // "alice uid 1001 gid 1001" ("uid N gid N" without a name), for log lines
  // that say who ran what.
  std::string describe() const;
};

// The account named `name` in the account database now; nullopt when there
// is none.
std::optional<account> lookup_account(const std::string& name);

// The identity of an account with its supplementary groups from the group
// database (getgrouplist). nullopt when the groups cannot be read.
std::optional<identity> resolve_identity(const account& account);

// The same, checked against the account database now: nullopt, with `why`,
// when the account is gone or its uid/gid changed since the config was loaded.
std::optional<identity> resolve_identity_now(const account& account, std::string& why);

// Whether `id` may read (and with `need_exec` also execute) a file of this
// owner, group and mode, judged as the kernel does: the owner bits when it
// owns the file, else the group bits when one of its groups is the file's,
// else the other bits. `why` says what failed, for the log.
bool may_access(const identity& id, std::uint32_t owner, std::uint32_t group, std::uint32_t mode,
                bool need_exec, std::string& why);

// may_access for an open file (info_of).
bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why);

// may_access for the file at `path` (symlinks followed). False with `ec`
// (and `why` untouched) when the file cannot be looked at.
bool may_access_path(const identity& id, const char* path, bool need_exec, std::string& why,
                     std::error_code& ec);

}  // namespace cgihost::spawner
