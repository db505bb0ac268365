#pragma once
// The OS identity a child runs as. Resolved once, from an account the config
// names (plain data here: spawner/ does not know the config); the launcher
// applies it in the child before exec: supplementary groups, gid, uid, in
// that order.
//
// The shape is POSIX's (uid, gid, groups). On Windows an account is its SID
// (uid and gid: its last sub-authority, 0 for LocalSystem and the
// Administrators, as config/ gives them) and an identity carries a primary
// token (S4U or LogonUserW, or IIS's) or none (the child runs as this
// process), and may_access is an AccessCheck against the file's security
// descriptor (posix/identity.cpp, windows/identity.cpp).

#include <cstdint>
#include <filesystem>
#include <functional>
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
  // Windows: the account's name as the system spells it ("DOMAIN\user"),
  // for describe(); `name` stays as the config gave it. Empty on POSIX.
  std::string system_name{};

  // True when this identity would give a child root's powers. Windows:
  // LocalSystem (S-1-5-18) or the Administrators (S-1-5-32-544) as its SID,
  // or a token of LocalSystem or with the Administrators group enabled.
  bool is_root() const noexcept;
  // "alice uid 1001 gid 1001" ("uid N gid N" without a name), for log lines
  // that say who ran what. Windows: "DOMAIN\user S-1-5-21-...".
  std::string describe() const;
};

// The account named `name` in the account database now; nullopt when there
// is none. Windows: LookupAccountNameW (a user, or a built-in service
// account such as LocalService; never a group), `name` as given.
std::optional<account> lookup_account(const std::string& name);

// The identity of an account with its supplementary groups from the group
// database (getgrouplist). nullopt when the groups cannot be read. Windows:
// the account's SID, its system_name (DOMAIN\user), no groups and no token
// (the privileged spawner obtains one: logon_s4u); nullopt when the account
// has no SID.
std::optional<identity> resolve_identity(const account& account);

// The same, checked against the account database now: nullopt, with `why`,
// when the account is gone or its uid/gid (Windows: its SID) changed since
// the config was loaded.
std::optional<identity> resolve_identity_now(const account& account, std::string& why);

#if !defined(_WIN32)
// Whether `id` may read (and with `need_exec` also execute) a file of this
// owner, group and mode, judged as the kernel does: the owner bits when it
// owns the file, else the group bits when one of its groups is the file's,
// else the other bits. `why` says what failed, for the log. (POSIX only.)
bool may_access(const identity& id, std::uint32_t owner, std::uint32_t group, std::uint32_t mode,
                bool need_exec, std::string& why);
#endif

// may_access for an open file (info_of). Windows: AccessCheck of the
// identity's token (this process's when it has none) against the file's
// security descriptor (file_info::security) for FILE_GENERIC_READ, and with
// `need_exec` FILE_GENERIC_EXECUTE; `why` names the account, the rights and
// the reason.
bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why);

// Why may_access said no.
enum class access_denial {
  denied,        // the file's rights say no (or cannot be read)
  no_token,      // Windows, with the spawner service: no token of the account to
                 // judge with (the service refused it, or cannot be reached)
  logon_failed,  // the same because the account's logon failed (a 401, as a
                 // failed spawn's)
};

// may_access, saying why not in `denial` too. Windows: an identity with a
// SID and no token, while the spawner service is connected
// (set_access_token_source), is judged with the identification token the
// service gives of it, never as this process; none obtainable is a refusal
// (no_token, logon_failed) with the reason in `why`.
#if defined(_WIN32)
bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why,
                access_denial& denial);
#else
inline bool may_access(const identity& id, const file_info& file, bool need_exec, std::string& why,
                       access_denial& denial) {
  denial = access_denial::denied;
  return may_access(id, file, need_exec, why);
}
#endif

// may_access for the file at `path` (symlinks followed). False with `ec`
// (and `why` untouched) when the file cannot be looked at.
bool may_access_path(const identity& id, const char* path, bool need_exec, std::string& why,
                     std::error_code& ec);

#if defined(_WIN32)
// A primary token of `account` without its password, as IIS obtains its
// anonymous user's: an S4U logon (LsaLogonUser with MsV1_0S4ULogon, logon
// type Batch), closed when the last copy goes. A process may start a child
// with it only when the logon was made by a caller holding SeTcbPrivilege
// (the privileged spawner, a LocalSystem service); without it Windows gives
// an identification token, which is refused here. Null, with `error` (the
// step and the system's text), on failure. Wine fakes logons: its result
// means nothing there.
std::shared_ptr<void> logon_s4u(const account& account, std::string& error);

// A primary token of `account` from its password (LogonUserW, IIS's
// ClearText logon: LOGON32_LOGON_NETWORK_CLEARTEXT), for an account whose
// password the config keeps DPAPI-protected; the token is checked to be the
// account's. Null, with `error`, on failure (a wrong password:
// ERROR_LOGON_FAILURE, 1326).
std::shared_ptr<void> logon_with_password(const account& account, const std::string& password,
                                          std::string& error);

// The primary token a child of `account` runs with, obtained as IIS obtains
// its anonymous user's: when `password_file` (`[identity]
// logon_password_file`; empty: none) holds a password for the account
// (spawner/password_file.hpp: its DACL checked, the DPAPI blob decrypted
// with the account's name as entropy), logon_with_password with it — IIS's
// default anonymous logonMethod, ClearText (LOGON32_LOGON_NETWORK_CLEARTEXT),
// made a primary token — and the password wiped (SecureZeroMemory) right
// after; else logon_s4u. Null, with `error` naming the account, the way
// tried and Windows' reason, on failure (a file that cannot be read or is
// readable by others, a blob that does not decrypt, a refused logon): the
// caller answers 401 and logs it (IIS's 401.1). The privileged spawner calls
// this; Wine fakes logons (LogonUserW "succeeds" with a handle that is no
// token, which this refuses).
std::shared_ptr<void> account_token(const account& account,
                                    const std::filesystem::path& password_file, std::string& error);

// The identity of the token IIS forwarded for one request (HttpPlatformHandler
// with forwardWindowsAuthToken="true": X-IIS-WindowsAuthToken names `handle`,
// a token handle IIS duplicated into this process). Checks that the handle is
// a token (GetTokenInformation), makes a primary token of it
// (DuplicateTokenEx) and names its user (TokenUser, LookupAccountSidW:
// system_name and name "DOMAIN\user", sid, uid and gid its relative id). The
// handle IIS gave is closed here, on every path, success or not: the caller
// owns only the identity's own primary token (closed when its last copy
// goes). nullopt, with `error` naming the step and the system's text, when
// the value is no token handle of this process.
std::optional<identity> adopt_forwarded_token(std::uint64_t handle, std::string& error);

// Where may_access finds a token of an identity that has none (an account
// the config names, whose token only the spawner service can obtain): an
// identification token, or null with `why` and `logon_failed`.
// broker::connect sets its broker as the source for as long as it lives
// (`owner`: the broker; clearing names it, so a later broker's stays).
// Without a source such an identity is judged as this process, which is
// what its children then run as. A call runs under a shared lock: clearing
// waits for calls under way.
using access_token_source =
    std::function<std::shared_ptr<void>(const identity& id, std::string& why, bool& logon_failed)>;
void set_access_token_source(const void* owner, access_token_source source);
void clear_access_token_source(const void* owner);
#endif

}  // namespace cgihost::spawner
