#pragma once
// Starting a child process cheaply and safely from a multi-threaded host.
//
// The child is created with clone(CLONE_VM | CLONE_VFORK), as glibc's
// posix_spawn does: the host's address space is never copied, so spawning
// costs the same whether the host maps 10 MiB or 10 GiB. Between clone and
// execve the child runs only async-signal-safe system calls on data prepared
// beforehand, and this file is the one place where a child's credentials are
// set: supplementary groups, gid, uid, in that order, then no_new_privs.
//
// (Boost 1.81's Process v2 vfork_launcher is not used: it calls
// io_context::notify_fork and exit() inside the vfork child, which share the
// parent's memory; its default launcher forks the whole host.)
//
// That is the POSIX implementation (posix/launch.cpp). Issue 15 adds
// CreateProcessAsUserW with the request's token, a Job Object per child and
// PROC_THREAD_ATTRIBUTE_HANDLE_LIST; launch_step then gains its steps, and
// resource_limits maps onto the job's limits.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "spawner/identity.hpp"
#include "spawner/platform.hpp"

namespace cgihost::spawner {

class broker;

struct resource_limits {
  std::optional<std::uint64_t> address_space;  // RLIMIT_AS, bytes
  std::optional<std::uint64_t> cpu_seconds;    // RLIMIT_CPU
  std::optional<std::uint64_t> open_files;     // RLIMIT_NOFILE
  std::optional<std::uint64_t> processes;      // RLIMIT_NPROC
};

// Everything about a child, as plain data.
struct launch_spec {
  std::string program;                  // absolute path given to execve
  std::vector<std::string> argv;        // argv[0] first
  std::vector<std::string> env;         // "NAME=value": the child's whole environment
  std::string working_dir;              // chdir before exec; empty: stay
  std::optional<spawner::identity> as;  // switch to it (needs root); nullopt: run as we do
  resource_limits limits;
  bool new_process_group = true;  // the child leads its own group: timeouts end the group
  // When set, this descriptor (e.g. a listening socket: FCGI_LISTENSOCK_FILENO)
  // becomes the child's fd 0 instead of a pipe; the caller keeps its own copy.
  native_handle stdin_fd = no_handle;
  // No input (a request without a body): the child's fd 0 is /dev/null,
  // where it reads its end at once, and no stdin pipe is made (ignored when
  // stdin_fd is given).
  bool no_input = false;
  // The child gets SIGKILL when the thread that started it ends (cgihost
  // killed included): for long-lived children such as FastCGI instances.
  bool die_with_parent = false;
};

// What the caller owns after a successful launch: the child's pid and our
// ends of its stdin (-1 when launch_spec::stdin_fd or no_input was given), stdout and
// stderr (non-blocking, close-on-exec).
struct launched_child {
  process_id pid = -1;
  native_handle stdin_fd = no_handle;
  native_handle stdout_fd = no_handle;
  native_handle stderr_fd = no_handle;
  // Set when the spawn broker started it (privilege separation): the child is
  // the broker's, which reaps it and writes its wait status (an int) to
  // `status_fd` and closes it; signals go through `via`, naming `serial`.
  broker* via = nullptr;
  native_handle status_fd = no_handle;
  std::uint64_t serial = 0;
};

// Which step failed in the child before exec (for the error log).
enum class launch_step : std::uint8_t {
  none,
  pipes,
  clone,
  signals,
  process_group,
  stdio,
  close_fds,
  chdir,
  rlimit,
  setgroups,
  setgid,
  setuid,
  no_new_privs,
  exec,
  broker
};  // the spawn broker refused, or is gone
const char* to_string(launch_step s) noexcept;

struct launch_error {
  std::error_code code;  // errno of the failed step
  launch_step step = launch_step::none;
  std::string detail;           // the broker's reason, when it refused
  std::string message() const;  // "chdir: No such file or directory"
  // True when the child could not be created or could not exec for lack of
  // processes (EAGAIN): the account's RLIMIT_NPROC (execve fails so after a
  // switch to an account over its limit) or the system's. A transient
  // refusal, unlike every other failure here.
  bool process_limit() const noexcept;
};

// Declares that this process no longer changes any signal's disposition (the
// spawn broker, once it has set its own): launch() then resets in each child
// only the signals found not at SIG_DFL now (a few system calls instead of one
// per signal). Call before the threads that launch exist.
void freeze_signal_dispositions();

// Starts the child. On success the child has already called execve (the
// caller is suspended until then); on failure nothing is left running: a
// child that failed before exec has been reaped.
[[nodiscard]] std::optional<launched_child> launch(const launch_spec& spec, launch_error& error);

}  // namespace cgihost::spawner
