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
// Issue 15: on Windows the token's user (name, and a SID where uid is).
struct process_account {
  std::string name;
  spawner::uid uid{0};
};
process_account current_account();

// True when this process may start children as other accounts: it is root.
// Issue 15: on Windows, when it holds the privileges CreateProcessAsUserW
// needs (SeAssignPrimaryTokenPrivilege).
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
bool drop_privileges(const identity& to, std::string& error);

}  // namespace cgihost::spawner
