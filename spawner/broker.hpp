#pragma once
// The spawn broker of privilege separation: a small process forked from
// cgihost while it is still single-threaded and root. It alone keeps root,
// and starts children for the rest of cgihost, which can then drop to the
// process identity. It accepts only well-formed requests for the accounts it
// was given at its start, never root; it reaps its children and reports their
// exits; it signals only process groups of children it started; and when the
// channel closes (cgihost ended, or was killed) it kills every child it
// started and exits.
//
// Wire: two SOCK_SEQPACKET pairs. Requests and their replies go over one
// (callers serialized by a mutex); exit reports come over the other. A
// message is a type byte then length-prefixed fields; descriptors travel as
// SCM_RIGHTS.
//
// Built and tested on its own; the server does not use it yet.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "spawner/identity.hpp"
#include "spawner/launch.hpp"

namespace cgihost::spawner {

class broker {
 public:
  // Forks the broker with the accounts it may start children as (root ones
  // are dropped). Call before any thread exists. nullptr and `error` on failure.
  static std::unique_ptr<broker> start(const std::vector<identity>& allowed, std::string& error);

  // Closes the channel: the broker kills the children it started and exits;
  // it is reaped here.
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  pid_t pid() const { return pid_; }

  // Starts `spec` in the broker (`spec.as` is sent by account name). The
  // returned descriptors are ours. Refusals come back as a launch_error whose
  // step is `setuid` and code EPERM.
  std::optional<launched_child> launch(const launch_spec& spec, launch_error& error);

  // Sends `sig` to the process group of child `pid`; false when the broker
  // did not start it or has reaped it already.
  bool signal_group(pid_t pid, int sig);

  // The next exit the broker reports: pid and wait status; nullopt after
  // `timeout` or when the broker is gone.
  std::optional<std::pair<pid_t, int>> next_exit(std::chrono::milliseconds timeout);

  // The descriptor exit reports arrive on, for an event loop to watch.
  int exit_fd() const { return events_; }

 private:
  broker() = default;
  pid_t pid_ = -1;
  int requests_ = -1;
  int events_ = -1;
  std::mutex mu_;
};

}  // namespace cgihost::spawner
