#pragma once
// The spawn broker of privilege separation: a small process forked from
// cgihost while it is still single-threaded and root. It alone keeps root,
// and starts children for the rest of cgihost, which then drops to the
// process identity. It accepts only well-formed requests for the accounts it
// was given at its start, never root; it reaps its children and writes each
// one's wait status to a pipe whose other end went to cgihost with the
// child's pipes; it signals only process groups of children it started; and
// when the channel closes (cgihost ended, or was killed) it kills every child
// it started and exits. It ignores SIGINT/SIGTERM/SIGHUP (a Ctrl-C or a
// service stop reaches cgihost, whose graceful stop still needs it).
//
// Wire: SOCK_SEQPACKET pairs ("lanes"), each served by a broker thread;
// a request and its reply hold one lane. The messages are broker_wire.hpp's;
// descriptors travel as SCM_RIGHTS (posix/broker.cpp). Issue 15 gives the
// Windows channel (named pipes, with the handles passed by DuplicateHandle,
// is the likely shape); the messages stay as they are.
//
// `sig` below is a POSIX signal number (SIGTERM, SIGKILL); issue 15 turns
// it into "end gracefully" / "end now" (a Job Object has no signals).
//
// Windows: the privileged spawner is to be a Windows service reached over a
// named pipe (issue 15), and is not written yet. There broker::start()
// returns nullptr with an error saying so, and cgihost runs without it:
// every child as cgihost itself (can_switch_accounts() is false), as on POSIX
// without root. start_child() with no broker is launch(); read_status() has
// no status pipe to read and returns nullopt.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "spawner/identity.hpp"
#include "spawner/launch.hpp"
#include "spawner/platform.hpp"
#include "spawner/this_process.hpp"  // drop_privileges, declared there

namespace cgihost::spawner {

class broker {
 public:
  // Forks the broker with the accounts it may start children as (root ones
  // are dropped). Call before any thread exists. nullptr and `error` on failure.
  // `lanes`: how many spawns may be under way at once (a channel and a
  // broker thread each; cgihost gives one per io thread).
  static std::unique_ptr<broker> start(const std::vector<identity>& allowed, std::string& error,
                                       unsigned lanes = 1);

  // Closes the channel: the broker kills the children it started and exits;
  // it is reaped here.
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  process_id pid() const { return pid_; }

  // Starts `spec` in the broker (`spec.as` is sent by account name). The
  // returned descriptors are ours, `status_fd` included. A refusal comes back
  // as a launch_error with step `broker`, code EPERM and the reason in
  // `detail`; a failed step in the child as launch() would report it.
  std::optional<launched_child> launch(const launch_spec& spec, launch_error& error);

  // Sends `sig` to the process group of the child `pid` started as `serial`;
  // false when the broker did not start it or has reaped it already.
  bool signal_group(process_id pid, std::uint64_t serial, int sig);

 private:
  struct lane {
    native_handle fd = no_handle;
    std::mutex mu;  // one request and its reply at a time
  };
  broker() = default;
  std::unique_lock<std::mutex> free_lane(native_handle& fd);
  process_id pid_ = -1;
  std::vector<std::unique_ptr<lane>> lanes_;
  std::atomic<std::size_t> next_{0};
};

// Starts `spec` through `via` when given, else in this process (launch()).
std::optional<launched_child> start_child(broker* via, const launch_spec& spec,
                                          launch_error& error);

// Reads a wait status from a status_fd (blocking up to `timeout`); nullopt on
// timeout, or when the broker closed it without one (it is gone).
std::optional<int> read_status(native_handle status_fd, std::chrono::milliseconds timeout);

}  // namespace cgihost::spawner
