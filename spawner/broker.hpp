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
// descriptors travel as SCM_RIGHTS (posix/broker.cpp). Windows: a
// message-mode named pipe connection per lane, the handles passed by
// DuplicateHandle (below); the same messages.
//
// `sig` below is a POSIX signal number (SIGTERM, SIGKILL); issue 15 turns
// it into "end gracefully" / "end now" (a Job Object has no signals).
//
// Windows (windows/broker.cpp, windows/service.cpp): the privileged spawner
// is a Windows service of its own, `cgihost service run`, running as
// LocalSystem; this process (the unprivileged front end, under IIS's app pool
// identity) is its client over the named pipe \\.\pipe\NAME-spawner, one
// pipe connection per lane, message mode. Nothing is forked: connect(name)
// connects (start() with accounts says it is not available there); pid() is
// the service's (GetNamedPipeServerProcessId). The service
// reads the config itself, admits only the [identity] server account's
// processes, duplicates the handles a request names out of the client
// process, and duplicates the child's pipe ends, its process (SYNCHRONIZE |
// PROCESS_QUERY_LIMITED_INFORMATION) and its Job Object (JOB_OBJECT_TERMINATE
// | JOB_OBJECT_QUERY) into it, then closes its own copies: the child's life
// is tied to the front end by KILL_ON_JOB_CLOSE (front end gone -> its job
// handles close -> every child ends), POSIX's "channel closes -> the broker
// kills its children". The child is then an ordinary launched_child (its
// `process` and `job` set, `via` null): signal_group() and read_status() are
// not used there (false, nullopt). Without the service (no
// `[identity] spawner_service`) cgihost runs every child as itself.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
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
  // `reread` (run in the broker, as root, on a reload request): reads the
  // config file again and gives the accounts it names (root ones dropped
  // here too) and the text it read, or nullopt and why (every diagnostic).
  struct reread_result {
    std::optional<std::vector<identity>> accounts;
    std::string text;
    std::string error;
  };
  using reread_fn = std::function<reread_result()>;

  // `log_files`: the paths of cgihost's log files, which the broker (root)
  // opens again on a reopen_logs(); it opens no other path.
  static std::unique_ptr<broker> start(const std::vector<identity>& allowed, std::string& error,
                                       unsigned lanes = 1,
                                       const std::vector<std::string>& log_files = {},
                                       reread_fn reread = {});
#if defined(_WIN32)
  // Windows: connects `lanes` clients to the spawner service `service`
  // (\\.\pipe\<service>-spawner). nullptr and `error` (naming the pipe and
  // the system's reason) when it is not there or refuses us. The allowed
  // accounts are the service's to compute, from the config it reads itself.
  // `server_account` ([identity] spawner_service_account, "NT AUTHORITY\\SYSTEM"
  // by default): the account the pipe's server process must run as
  // (GetNamedPipeServerProcessId, its token's user), else nullptr and an
  // `error` naming its pid and account: with the service stopped any local
  // user could serve that pipe and receive our requests. Empty: not checked
  // (tests of the wire only).
  static std::unique_ptr<broker> connect(const std::string& service, std::string& error,
                                         unsigned lanes = 1,
                                         const std::string& server_account = {});
  // How long launch() waits for the service's reply (60 s by default: a
  // logon may reach a domain controller). Past it the launch fails with step
  // `broker` and that lane is closed; its next use connects it again.
  // A reply already in the lane then is taken and the handles it names
  // closed (win32::drop_late_reply); one written later finds the lane
  // closed, and the service takes its handles back and ends the child's job.
  void set_reply_timeout(std::chrono::milliseconds t) { reply_timeout_ = t; }
  // The pipe of the spawner service `service`: \\.\pipe\<service>-spawner.
  static std::string pipe_name(const std::string& service);
  // An identification-level token of `id` (an account the config names,
  // asked for by name: wire::token_request), for may_access: kept per SID
  // for 30 s. Null with `why` when the service refuses or cannot be reached;
  // `logon_failed` when it refused because the account's logon failed.
  // While a broker is connected, may_access asks it for every identity
  // without a token (set_access_token_source, identity.hpp).
  std::shared_ptr<void> access_token(const identity& id, std::string& why, bool& logon_failed);
#endif

  // Closes the channel: the broker kills the children it started and exits;
  // it is reaped here. Windows: closes the pipe connections (the service goes
  // on serving others).
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  process_id pid() const { return pid_; }

  // Starts `spec` in the broker (`spec.as` is sent by account name). The
  // returned descriptors are ours, `status_fd` included. A refusal comes back
  // as a launch_error with step `broker`, code EPERM and the reason in
  // `detail`; a failed step in the child as launch() would report it.
  // Windows: `spec.as`'s token (one IIS forwarded), `spec.stdin_fd` and
  // `spec.inherit` go as handle values for the service to duplicate; codes
  // are Win32's; a failed logon of the account has step `logon` (a 401).
  std::optional<launched_child> launch(const launch_spec& spec, launch_error& error);

  // Sends `sig` to the process group of the child `pid` started as `serial`;
  // false when the broker did not start it or has reaped it already.
  bool signal_group(process_id pid, std::uint64_t serial, int sig);

  // Asks the broker to read its config file again (wire::reload_request):
  // true and the text it read and now serves accounts for, or false and
  // `error` (the diagnostics, or why it could not be asked). Windows: the
  // spawner service reads its config at its own start: false.
  bool reload(std::string& text, std::string& error);

  // A log file the broker opened again: its path and our descriptor of it
  // (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode 0640 when created),
  // or no_handle and the errno of its open.
  struct reopened_file {
    std::string path;
    native_handle fd = no_handle;
    int error = 0;
  };
  // Asks the broker to open the log files given to start() again (logrotate
  // renamed them), one entry per file, in their order; nullopt with `error`
  // when the broker does not answer, or refuses (Windows: the spawner
  // service does not reopen logs).
  std::optional<std::vector<reopened_file>> reopen_logs(std::string& error);

 private:
  struct lane {
    native_handle fd = no_handle;
    std::mutex mu;  // one request and its reply at a time
  };
  broker() = default;
  std::unique_lock<std::mutex> free_lane(native_handle& fd, lane** which = nullptr);
#if defined(_WIN32)
  // `request` sent on a free lane and its reply read (a lane closed before
  // is connected again; a reply that does not come in time closes the lane):
  // true and `reply`, or false with `error` (step `broker`).
  bool exchange(const std::string& request, std::string& reply, launch_error& error);
  struct kept_token {
    std::shared_ptr<void> token;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex tokens_mu_;
  std::map<std::string, kept_token> tokens_;  // access_token's, by SID
#endif
  process_id pid_ = -1;
  // Windows: the pipe's name (to connect a closed lane again) and the reply wait.
  std::string pipe_;
  std::string server_account_;
  std::chrono::milliseconds reply_timeout_{60000};
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
