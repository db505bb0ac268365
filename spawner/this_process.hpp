#pragma once
// This process itself: who it runs as, whether it can start children as
// other accounts, giving up root for good, and the process-wide settings a
// server needs. The one place host/ asks; no geteuid() elsewhere.

#include <string>

#include "spawner/identity.hpp"
#include "spawner/platform.hpp"

namespace cgihost::spawner {

// The account this process runs as: its effective uid, and that uid's name
// in the account database ("" when it has none).
// Windows: the process token's user: `name` "DOMAIN\\user", `sid`
// "S-1-5-21-...", and `uid` 0 (Windows has none).
struct process_account {
  std::string name;
  spawner::uid uid{0};
  std::string sid{};  // Windows only; empty on POSIX
};
process_account current_account();

// True when this process may start children as other accounts: it is root.
// Windows: false for now. Switching accounts there needs the privileged
// spawner service (issue 15), which is not written yet; without it every
// child runs as this process, as on POSIX without root.
bool can_switch_accounts();

// This process's id, for log lines.
process_id this_process_id();

// A write to a pipe or socket whose reader is gone fails with an error
// (EPIPE) instead of ending the process (SIGPIPE ignored). Nothing to do on
// Windows.
void ignore_broken_pipes();

// Makes this whole process (every thread) `to` for good: supplementary
// groups, gid, uid (real, effective and saved), then no_new_privs; checks that
// root cannot be taken back. For the network process once the broker runs.
// Windows: not applicable (a process cannot change its own token's user; the
// front end is started unprivileged by IIS, and the privileged part is a
// service of its own): false, with `error` saying so.
bool drop_privileges(const identity& to, std::string& error);

}  // namespace cgihost::spawner
