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
// That is the POSIX implementation (posix/launch.cpp). On Windows
// (windows/launch.cpp) the child is created suspended by CreateProcessW, or by
// CreateProcessAsUserW with `as->token` when the identity has one; it inherits
// exactly its own three standard handles (PROC_THREAD_ATTRIBUTE_HANDLE_LIST),
// gets no console window, and is put into a Job Object of its own before its
// first instruction runs (then resumed), so that nothing it starts escapes the
// job. The job has JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: when its last handle
// closes (the child object is destroyed, or cgihost ends, killed included)
// every process in it ends.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "spawner/identity.hpp"
#include "spawner/platform.hpp"

namespace cgihost::spawner {

class broker;

// POSIX: setrlimit in the child. Windows: the child's Job Object limits,
// where Windows has one: address_space -> JOB_OBJECT_LIMIT_PROCESS_MEMORY
// (each process's committed memory, bytes), cpu_seconds ->
// JOB_OBJECT_LIMIT_PROCESS_TIME (each process's user time), processes ->
// JOB_OBJECT_LIMIT_ACTIVE_PROCESS (processes in the job at once, the child
// included: the child's tree, not the account's as RLIMIT_NPROC counts).
// open_files has no Windows counterpart and is not applied there.
struct resource_limits {
  std::optional<std::uint64_t> address_space;  // RLIMIT_AS, bytes
  std::optional<std::uint64_t> cpu_seconds;    // RLIMIT_CPU
  std::optional<std::uint64_t> open_files;     // RLIMIT_NOFILE
  std::optional<std::uint64_t> processes;      // RLIMIT_NPROC
};

// Everything about a child, as plain data. Strings are UTF-8 (turned into
// UTF-16 on Windows).
struct launch_spec {
  // The program: an absolute path given to execve (Windows: to
  // CreateProcessW as lpApplicationName, "C:\\...\\php-cgi.exe").
  std::string program;
  // argv[0] first. Windows has one command line, not an argv: it is built
  // with windows_command_line() (below), which the child's C runtime and
  // CommandLineToArgvW split back into this argv.
  std::vector<std::string> argv;
  // "NAME=value": the child's whole environment. Windows: the block is
  // sorted by name without regard to case, as Windows expects; a Windows
  // program often needs SYSTEMROOT (Winsock does not start without it),
  // which is the caller's to give.
  std::vector<std::string> env;
  std::string working_dir;              // chdir before exec; empty: stay
  std::optional<spawner::identity> as;  // switch to it (needs root); nullopt: run as we do
  resource_limits limits;
  // The child leads its own group: timeouts end the group. Windows: each
  // child has a Job Object of its own whatever this says.
  bool new_process_group = true;
  // When set, this descriptor (e.g. a listening socket: FCGI_LISTENSOCK_FILENO)
  // becomes the child's fd 0 instead of a pipe; the caller keeps its own copy.
  // Windows: a HANDLE (a listening socket, or a named pipe server handle in
  // listening state: libfcgi's convention) that becomes the child's standard
  // input; the child inherits a duplicate, the caller keeps this one. Its
  // standard output and error are then INVALID_HANDLE_VALUE (no pipes):
  // php-cgi.exe and libfcgi take their stdin for a listener only so.
  native_handle stdin_fd = no_handle;
  // No input (a request without a body): the child's fd 0 is /dev/null
  // (Windows: the NUL device), where it reads its end at once, and no stdin
  // pipe is made (ignored when stdin_fd is given).
  bool no_input = false;
  // The child gets SIGKILL when the thread that started it ends (cgihost
  // killed included): for long-lived children such as FastCGI instances.
  // Windows: every child has it, from its job (KILL_ON_JOB_CLOSE: when
  // cgihost ends, its handle to the job closes), whatever this says.
  bool die_with_parent = false;
#if defined(_WIN32)
  // Handles the child inherits beside its standard ones, under the same
  // values (FastCGI's shutdown event, named in _FCGI_SHUTDOWN_EVENT_). Each
  // must be inheritable (made so, or duplicated with bInheritHandle TRUE);
  // no other child inherits it. The caller keeps and closes them.
  std::vector<native_handle> inherit;
#endif
};

// What the caller owns after a successful launch: the child's pid and our
// ends of its stdin (no_handle when launch_spec::stdin_fd or no_input was
// given), stdout and stderr.
//   POSIX: descriptors, non-blocking, close-on-exec.
//   Windows: our ends of named pipes opened with FILE_FLAG_OVERLAPPED (for
//   asio::windows::stream_handle; the child's ends are synchronous),
//   not inheritable; plus the process and its Job Object (below).
struct launched_child {
  process_id pid = static_cast<process_id>(-1);
  native_handle stdin_fd = no_handle;
  native_handle stdout_fd = no_handle;
  native_handle stderr_fd = no_handle;
  // Set when the spawn broker started it (privilege separation): the child is
  // the broker's, which reaps it and writes its wait status (an int) to
  // `status_fd` and closes it; signals go through `via`, naming `serial`.
  broker* via = nullptr;
  native_handle status_fd = no_handle;
  std::uint64_t serial = 0;
#if defined(_WIN32)
  // The child's process handle (what waits for its exit and reads its exit
  // code) and its Job Object (what ends it with everything it started).
  native_handle process = no_handle;
  native_handle job = no_handle;
#endif
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
  // Windows: the Job Object (made, limits set), the inherited-handle list,
  // the command line and environment block, CreateProcess[AsUser]W, putting
  // the child into its job, resuming its first thread.
  job,
  handle_list,
  command_line,
  create_process,
  assign_job,
  resume,
  broker,  // the spawn broker refused, or is gone
  // Windows: the privileged spawner service could not obtain a token of the
  // account (an S4U logon, or a password logon, failed): IIS's 401.1.
  logon
};
const char* to_string(launch_step s) noexcept;

struct launch_error {
  std::error_code code;  // errno of the failed step (Windows: GetLastError())
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
// per signal). Call before the threads that launch exist. Windows: nothing to
// do (a new process has no inherited signal handlers).
void freeze_signal_dispositions();

// The Windows command line of `argv`, quoted so that CommandLineToArgvW (and
// the C runtimes' own split, which follow its rules) gives `argv` back: an
// argument with a space, tab, newline or quote, or an empty one, is quoted;
// inside quotes a `"` is written `\"` and backslashes are doubled where they
// precede a quote. argv[0] is split by other rules (up to the next quote or
// space, backslashes literal): it is quoted when needed and may not hold a
// `"`. nullopt for an empty argv, an argv[0] with a `"`, or a NUL anywhere.
// Pure, on every platform (tested on both).
std::optional<std::string> windows_command_line(const std::vector<std::string>& argv);

// Starts the child. On success the child has already called execve (the
// caller is suspended until then); on failure nothing is left running: a
// child that failed before exec has been reaped. Windows: on success the
// child runs in its job; on failure no process is left (one created is ended
// in its job), and a launcher that reports success without a process is
// taken for a failure.
[[nodiscard]] std::optional<launched_child> launch(const launch_spec& spec, launch_error& error);

}  // namespace cgihost::spawner
