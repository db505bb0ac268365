#pragma once
// A running child: its pipes as Asio descriptors, its exit through Boost.Process
// v2's process handle (a pidfd: the one owner of reaping, never waitpid(-1)),
// and an end that escalates TERM -> grace -> KILL on its whole process group.
// A child the spawn broker started (launched_child::via) is the broker's: its
// exit comes as the status the broker writes to its status pipe, and signals
// go through the broker.
//
// Windows (windows/child.cpp): the pipes are asio::windows::stream_handle
// over overlapped named pipes; the exit is waited for with an
// asio::windows::object_handle on the process handle and read with
// GetExitCodeProcess; the child's Job Object is its "group": every way of
// ending it is TerminateJobObject, which ends the child and everything it
// started. Windows has no polite request to end that reaches a program
// without a console (no SIGTERM; GenerateConsoleCtrlEvent reaches only
// processes sharing the caller's console, and cgihost, under IIS or as a
// service, has none to share with them), so "asking" ends the job at once:
// a program's own protocol for a graceful end (FastCGI's shutdown event) is
// the caller's to use before asking.
//
// Reading a pipe whose writers are all gone completes with
// asio::error::eof on POSIX and asio::error::broken_pipe on Windows: readers
// take any error but operation_aborted as the end of the output.

#if defined(_WIN32)
#include <boost/asio/windows/stream_handle.hpp>
#else
#include <sys/types.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#endif

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "spawner/launch.hpp"
#include "spawner/platform.hpp"

namespace cgihost::spawner {

namespace asio = boost::asio;

// Our ends of a child's pipes, as Asio I/O objects. POSIX: descriptors.
// Windows: overlapped named pipe handles.
#if defined(_WIN32)
using pipe_writer = asio::windows::stream_handle;  // its stdin
using pipe_reader = asio::windows::stream_handle;  // its stdout, its stderr
#else
using pipe_writer = asio::posix::stream_descriptor;  // its stdin
using pipe_reader = asio::posix::stream_descriptor;  // its stdout, its stderr
#endif

// How a child ended.
// Windows: `exited` with `code` the process's exit code (an unhandled
// exception's NTSTATUS, 0xC0000005 and the like, shows as such a code); or,
// when cgihost ended its job, `exited` false and `signal` 9, as a SIGKILL
// would be on POSIX.
struct exit_status {
  bool exited = false;  // true: exit code; false: killed by `signal`
  int code = 0;
  int signal = 0;
  // "exit 0", "signal 9 (Killed)"; Windows: "exit 0", "exit 0xC0000005",
  // "ended with its job".
  std::string describe() const;
  // Ended by a signal (a crash, or our kill); false for an exit, and for an
  // end nobody could report (reaped elsewhere, or the broker gone first).
  bool killed_by_signal() const noexcept { return !exited && signal != 0; }
};

class child {
 public:
  // Takes ownership of the launched child and its pipe ends.
  child(const asio::any_io_executor& ex, const launched_child& c);
  // A child still running is killed with its group and reaped: never a zombie.
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  process_id pid() const noexcept { return pid_; }
  pipe_writer& stdin_pipe() { return stdin_; }
  pipe_reader& stdout_pipe() { return stdout_; }
  pipe_reader& stderr_pipe() { return stderr_; }

  // Completes when the child has exited; reaps it.
  asio::awaitable<exit_status> wait();
  // Its exit status when it has exited and was reaped by now (its broker
  // reported it already), without waiting; nullopt while it runs, or while
  // a wait() is under way.
  std::optional<exit_status> try_wait();
  bool exited() const noexcept { return exited_; }

#if !defined(_WIN32)
  // Sends `sig` to the child's process group (or the child alone when it
  // does not lead one). Signals after the child was reaped are not sent.
  // POSIX only: Windows has no signals to send.
  void signal_group(int sig) noexcept;
#endif
  // The two ends a host asks for, without naming signals: asks the whole
  // group to end (SIGTERM), ends it now (SIGKILL). Windows: both end the
  // job now (TerminateJobObject; see the top of this file).
  void ask_group_to_end() noexcept;
  void end_group_now() noexcept;

  // SIGTERM to the group, then SIGKILL after `grace` if it has not exited;
  // completes when the child has been reaped. Windows: ends the job at once
  // (nothing could ask it to end during a grace) and completes at its exit.
  asio::awaitable<exit_status> terminate(std::chrono::milliseconds grace);

 private:
  struct handle;  // the platform's: a pidfd's wait; Windows: process and job
  process_id pid_;
  pipe_writer stdin_;
  pipe_reader stdout_, stderr_;
  std::unique_ptr<handle> handle_;  // started here
  broker* via_ = nullptr;           // started by the broker
  std::uint64_t serial_ = 0;
  // ... and its status comes here: read at once when it is there already
  // (try_wait), registered with the reactor only for a wait() that must wait.
  native_handle status_fd_ = no_handle;
  pipe_reader status_pipe_;
  bool exited_ = false;
  bool waiting_ = false;  // a wait() is under way
  exit_status status_;
  void set_exited(int raw, bool known);
};

// Calls `ended` (on a thread of its own) if the process `pid`, a child of
// this process that someone else reaps, ends before this is destroyed. For a
// process no io_context waits on (the spawn broker). Watches nothing, and
// never calls `ended`, when the process cannot be watched (no pidfd;
// Windows: OpenProcess refused).
class exit_watch {
 public:
  exit_watch(process_id pid, std::function<void()> ended);
  ~exit_watch();
  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

 private:
  native_handle process_ = no_handle;  // a pidfd (Windows: a process handle)
  native_handle wake_ = no_handle;     // an eventfd (Windows: an event): the destructor's "stop"
  std::thread thread_;
};

}  // namespace cgihost::spawner
