#pragma once
// A running child: its pipes as Asio descriptors, its exit through Boost.Process
// v2's process handle (a pidfd: the one owner of reaping, never waitpid(-1)),
// and an end that escalates TERM -> grace -> KILL on its whole process group.
// A child the spawn broker started (launched_child::via) is the broker's: its
// exit comes as the status the broker writes to its status pipe, and signals
// go through the broker.

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
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
using pipe_writer = asio::posix::stream_descriptor;  // its stdin
using pipe_reader = asio::posix::stream_descriptor;  // its stdout, its stderr

// How a child ended.
struct exit_status {
  bool exited = false;  // true: exit code; false: killed by `signal`
  int code = 0;
  int signal = 0;
  std::string describe() const;  // "exit 0", "signal 9 (Killed)"
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

  // Sends `sig` to the child's process group (or the child alone when it
  // does not lead one). Signals after the child was reaped are not sent.
  void signal_group(int sig) noexcept;
  // The two ends a host asks for, without naming signals: asks the whole
  // group to end (SIGTERM; Windows: the job's graceful end), ends it now
  // (SIGKILL; Windows: TerminateJobObject).
  void ask_group_to_end() noexcept;
  void end_group_now() noexcept;

  // SIGTERM to the group, then SIGKILL after `grace` if it has not exited;
  // completes when the child has been reaped.
  asio::awaitable<exit_status> terminate(std::chrono::milliseconds grace);

 private:
  struct handle;
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
// never calls `ended`, when the process cannot be watched (no pidfd).
class exit_watch {
 public:
  exit_watch(process_id pid, std::function<void()> ended);
  ~exit_watch();
  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

 private:
  native_handle process_ = no_handle;  // a pidfd
  native_handle wake_ = no_handle;     // an eventfd: the destructor's "stop"
  std::thread thread_;
};

}  // namespace cgihost::spawner
