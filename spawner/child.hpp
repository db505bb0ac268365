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
#include <memory>
#include <string>

#include "spawner/launch.hpp"

namespace cgihost::spawner {

namespace asio = boost::asio;

// How a child ended.
struct exit_status {
  bool exited = false;  // true: exit code; false: killed by `signal`
  int code = 0;
  int signal = 0;
  std::string describe() const;  // "exit 0", "signal 9 (Killed)"
};

class child {
 public:
  // Takes ownership of the launched child and its pipe ends.
  child(const asio::any_io_executor& ex, const launched_child& c);
  // A child still running is killed with its group and reaped: never a zombie.
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  asio::posix::stream_descriptor& stdin_pipe() { return stdin_; }
  asio::posix::stream_descriptor& stdout_pipe() { return stdout_; }
  asio::posix::stream_descriptor& stderr_pipe() { return stderr_; }

  // Completes when the child has exited; reaps it.
  asio::awaitable<exit_status> wait();
  bool exited() const noexcept { return exited_; }

  // Sends `sig` to the child's process group (or the child alone when it
  // does not lead one). Signals after the child was reaped are not sent.
  void signal_group(int sig) noexcept;

  // SIGTERM to the group, then SIGKILL after `grace` if it has not exited;
  // completes when the child has been reaped.
  asio::awaitable<exit_status> terminate(std::chrono::milliseconds grace);

 private:
  struct handle;
  pid_t pid_;
  asio::posix::stream_descriptor stdin_, stdout_, stderr_;
  std::unique_ptr<handle> handle_;  // started here
  broker* via_ = nullptr;           // started by the broker
  std::uint64_t serial_ = 0;
  asio::posix::stream_descriptor status_pipe_;  // ... and its status comes here
  bool exited_ = false;
  exit_status status_;
};

}  // namespace cgihost::spawner
