#include "spawner/broker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include "spawner/broker_wire.hpp"
#include "spawner/reaper.hpp"

namespace cgihost::spawner {
namespace {

using wire::kMaxMessage;

// ---- the channel: one SOCK_SEQPACKET message per request or reply, its
// descriptors beside it as SCM_RIGHTS
bool send_msg(int sock, const std::string& data, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
  if (!fds.empty()) {
    m.msg_control = control.data();
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = ::sendmsg(sock, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(data.size());
}

// 1: a message; 0: the other end closed; -1: error or `timeout_ms` passed
// (-1: none; 0: the caller's poll said it is readable); -2: a message was read
// but dropped (too large, or too many descriptors).
int recv_msg(int sock, std::string& data, std::vector<int>& fds, int timeout_ms) {
  if (timeout_ms > 0) {
    pollfd p{sock, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
  }
  // Received into this thread's buffer, one byte larger than any message may
  // be (SOCK_SEQPACKET keeps boundaries: a longer one is cut and MSG_TRUNC
  // says so); pages are touched only as far as messages reach.
  thread_local const std::unique_ptr<char[]> buffer =
      std::make_unique_for_overwrite<char[]>(kMaxMessage + 1);
  iovec iov{buffer.get(), kMaxMessage + 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC | (timeout_ms == 0 ? MSG_DONTWAIT : 0));
  while (n < 0 && errno == EINTR);
  fds.clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  if (n <= 0 || static_cast<std::size_t>(n) > kMaxMessage ||
      (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    return n == 0 ? 0 : n < 0 ? -1 : -2;
  }
  data.assign(buffer.get(), static_cast<std::size_t>(n));
  return 1;
}

// ---- the broker process
// One thread per channel ("lane"), so that cgihost's io threads can each
// have a spawn under way; each lane watches and reaps the children it started.
// Signals may come on any lane: the children are in one map.
class broker_process {
 public:
  broker_process(const std::vector<identity>& allowed, std::vector<std::string> log_files,
                 broker::reread_fn reread)
      : reread_(std::move(reread)), log_files_(std::move(log_files)) {
    allowed_ = accounts_of(allowed);
  }

  [[noreturn]] void run(const std::vector<int>& channels) {
    // The reaper of whatever its children leave behind (a grandchild that
    // left their process group with setsid, then lost its parent): ended
    // whenever a child exits. Without it (a kernel that refuses), such a
    // process is init's, as before.
    std::string error;
    exits_reported_by_owners();  // each lane reaps its children at their exit
    reaper_ = subreaper::start(error);
    lanes_left_ = static_cast<int>(channels.size());
    for (std::size_t i = 1; i < channels.size(); ++i)
      std::thread([this, fd = channels[i], i] { lane(fd, i); }).detach();
    lane(channels[0], 0);
    while (true) ::pause();  // the last lane to end exits the process
  }

 private:
  struct started {
    int pidfd = -1;
    int status = -1;  // write end of the status pipe
    std::uint64_t serial = 0;
    std::size_t lane = 0;
  };

  void lane(int channel, std::size_t index) {
    std::vector<pollfd> fds;
    while (true) {
      fds.assign(1, pollfd{channel, POLLIN, 0});
      {
        std::lock_guard lock(mu_);
        for (auto& [pid, c] : children_)
          if (c.lane == index) fds.push_back({c.pidfd, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return finish(index);
      for (std::size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) reap(fds[i].fd);
      if (fds[0].revents) {
        std::string data;
        std::vector<int> got;
        int r = recv_msg(channel, data, got, 0);
        if (r == 0 || (r < 0 && (fds[0].revents & (POLLHUP | POLLERR)))) return finish(index);
        if (r > 0) handle(channel, index, data, got);
        if (r == -2)
          refuse(channel, got, "malformed request (over 1 MiB, or too many descriptors)", E2BIG);
      }
    }
  }

  static std::map<std::string, identity> accounts_of(const std::vector<identity>& ids) {
    std::map<std::string, identity> out;
    for (const auto& id : ids)
      if (!id.is_root()) out.emplace(id.name, id);
    return out;
  }

  // A reload: the config file read again here; its accounts become the
  // allowed ones, and those of the config before stay allowed until the next
  // reload (requests that began under it may still start children).
  void reload(int channel) {
    wire::reload_reply reply;
    if (!reread_) {
      reply.error = "the spawner was started without a config file to read again";
    } else {
      auto got = reread_();
      if (got.accounts) {
        std::lock_guard lock(allowed_mu_);
        previous_ = std::exchange(allowed_, accounts_of(*got.accounts));
        reply.ok = true;
        reply.text = std::move(got.text);
      } else {
        reply.error = std::move(got.error);
      }
    }
    if (reply.text.size() + reply.error.size() > kMaxMessage - 64) {
      reply = {};
      reply.error = "the config file is over 1 MiB";
    }
    send_msg(channel, wire::encode(reply), {});
  }

  void handle(int channel, std::size_t index, const std::string& data, std::vector<int>& fds) {
    if (wire::decode_reload_request(data)) {
      for (int fd : fds) ::close(fd);
      fds.clear();
      return reload(channel);
    }
    auto request = wire::decode_request(data);
    if (!request)
      return refuse(
          channel, fds,
          !data.empty() && data[0] == 'L' ? "malformed spawn request" : "malformed request");
    if (auto* launch = std::get_if<wire::launch_request>(&*request))
      return launch_for(channel, index, *launch, fds);
    if (std::holds_alternative<wire::reopen_request>(*request)) {
      for (int fd : fds) ::close(fd);
      fds.clear();
      return reopen_logs(channel);
    }
    const auto& s = std::get<wire::signal_request>(*request);
    for (int fd : fds) ::close(fd);
    fds.clear();
    bool sent = false;
    {
      // Under the lock: the child cannot be reaped (its pid reused) meanwhile.
      std::lock_guard lock(mu_);
      auto it = children_.find(s.pid);
      bool ours =
          it != children_.end() && it->second.serial == s.serial && s.sig > 0 && s.sig < NSIG;
      sent = ours && (::kill(-s.pid, s.sig) == 0 || ::kill(s.pid, s.sig) == 0);
    }
    send_msg(channel, wire::encode_signal_reply(sent), {});
  }

  // Opens the log files given at the start again (only those: the request
  // names none), as cgihost first opened them, and sends the descriptors.
  void reopen_logs(int channel) const {
    std::vector<wire::reopened_log> files;
    std::vector<int> out;
    for (const auto& path : log_files_) {
      int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
      files.push_back({path, fd < 0 ? errno : 0});
      if (fd >= 0) out.push_back(fd);
    }
    send_msg(channel, wire::encode_reopen_reply(files), out);
    for (int fd : out) ::close(fd);
  }

  static void refuse(int channel, std::vector<int>& fds, const std::string& why, int err = EPERM,
                     launch_step step = launch_step::broker) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    send_msg(channel, wire::encode(wire::launch_reply{wire::launch_failed{step, err, why}}), {});
  }

  // The identity `request` may run as, resolved now; nullopt with the
  // refusal's reason in `why` (and its errno in `err`).
  std::optional<identity> admit(const wire::launch_request& request, std::size_t descriptors,
                                std::string& why, int& err) const {
    err = EPERM;
    if (descriptors != (request.has_stdin ? 1u : 0u)) {
      why = "malformed spawn request";
      return std::nullopt;
    }
    if (!wire::well_formed(request.spec)) {
      why = "malformed spawn request";
      err = EINVAL;
      return std::nullopt;
    }
    std::optional<identity> found;
    {
      std::lock_guard lock(allowed_mu_);
      for (const auto* set : {&allowed_, &previous_})
        if (auto it = set->find(request.account); !found && it != set->end()) found = it->second;
    }
    if (!found) {
      why = request.account.empty()
                ? std::string("a spawn request without an account (never as root)")
                : "account \"" + request.account + "\" is not one the config allows";
      return std::nullopt;
    }
    // As the account is now: gone or renumbered is refused; its groups are
    // read again, as a logon reads them (membership may have changed).
    const identity& was = *found;
    auto now = resolve_identity_now(account{was.name, was.uid, was.gid, was.home}, why);
    if (!now || now->is_root()) {
      if (why.empty()) why = "root";
      return std::nullopt;
    }
    return now;
  }

  void launch_for(int channel, std::size_t index, wire::launch_request& request,
                  std::vector<int>& fds) {
    std::string why;
    int err = EPERM;
    auto as = admit(request, fds.size(), why, err);
    if (!as) return refuse(channel, fds, why, err);
    launch_spec spec = std::move(request.spec);
    spec.as = std::move(as);
    if (request.has_stdin) spec.stdin_fd = fds[0];
    int status_pipe[2];
    // Non-blocking: cgihost looks for a status already there (child::try_wait);
    // the one write of 4 bytes to an empty pipe never blocks here.
    if (::pipe2(status_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
      return refuse(channel, fds, std::strerror(errno), errno, launch_step::pipes);
    launch_error lerr;
    auto child = spawner::launch(spec, lerr);
    for (int fd : fds) ::close(fd);
    fds.clear();
    if (!child) {
      ::close(status_pipe[0]);
      ::close(status_pipe[1]);
      return refuse(channel, fds, "", lerr.code.value(), lerr.step);
    }
    auto serial = watch(*child, status_pipe[1], index);
    if (!serial) {  // cannot watch it: it must not run unwatched
      err = errno;
      for (int fd : {child->stdin_fd, child->stdout_fd, child->stderr_fd, status_pipe[0]})
        if (fd >= 0) ::close(fd);
      return refuse(channel, fds, std::string("pidfd_open: ") + std::strerror(err), err,
                    launch_step::clone);
    }
    std::vector<int> out;
    if (child->stdin_fd >= 0) out.push_back(child->stdin_fd);
    out.push_back(child->stdout_fd);
    out.push_back(child->stderr_fd);
    out.push_back(status_pipe[0]);
    send_msg(channel,
             wire::encode(wire::launch_reply{
                 wire::launch_started{child->pid, *serial, child->stdin_fd >= 0}}),
             out);
    for (int fd : out) ::close(fd);
  }

  // Watches `child` on lane `index` (its status goes to `status`, which is
  // then ours): its serial. nullopt, with errno, when it cannot be watched:
  // it was killed and reaped, and `status` closed.
  std::optional<std::uint64_t> watch(const launched_child& child, int status, std::size_t index) {
    started c;
    c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0));
    c.status = status;
    c.lane = index;
    if (c.pidfd < 0) {
      int err = errno;
      ::kill(-child.pid, SIGKILL), ::kill(child.pid, SIGKILL);
      int st;
      ::waitpid(child.pid, &st, 0);
      track_reaped(child.pid);
      ::close(status);
      errno = err;
      return std::nullopt;
    }
    c.serial = ++serial_;
    std::lock_guard lock(mu_);
    children_[child.pid] = c;
    return c.serial;
  }

  void reap(int pidfd) {
    std::lock_guard lock(mu_);
    for (auto it = children_.begin(); it != children_.end(); ++it) {
      if (it->second.pidfd != pidfd) continue;
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0)
        return;
      track_reaped(it->first);
      int status = info.si_code == CLD_EXITED
                       ? (info.si_status & 0xff) << 8
                       : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
      // One write of 4 bytes to a pipe is atomic; nobody reading is fine (EPIPE).
      ssize_t ignored = ::write(it->second.status, &status, sizeof status);
      (void)ignored;
      ::close(it->second.status);
      ::close(pidfd);
      children_.erase(it);
      return;
    }
  }

  // A channel closed (cgihost ends, or was killed): nothing this lane
  // started may outlive it. The last lane to end exits the process.
  void finish(std::size_t index) {
    std::vector<std::pair<pid_t, int>> pidfds;
    {
      std::lock_guard lock(mu_);
      for (auto it = children_.begin(); it != children_.end();) {
        if (it->second.lane != index) {
          ++it;
          continue;
        }
        ::kill(-it->first, SIGKILL), ::kill(it->first, SIGKILL);
        pidfds.emplace_back(it->first, it->second.pidfd);
        ::close(it->second.status);
        it = children_.erase(it);
      }
    }
    for (auto [pid, pidfd] : pidfds) {
      siginfo_t info{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
      ::close(pidfd);
      track_reaped(pid);
    }
    if (lanes_left_.fetch_sub(1) == 1) {
      if (reaper_) reaper_->sweep_now();  // what they left behind goes with them
      ::_exit(0);
    }
  }

  broker::reread_fn reread_;
  mutable std::mutex allowed_mu_;
  std::map<std::string, identity> allowed_;   // under allowed_mu_
  std::map<std::string, identity> previous_;  // under allowed_mu_: before the last reload
  const std::vector<std::string> log_files_;
  std::mutex mu_;
  std::map<pid_t, started> children_;
  std::atomic<std::uint64_t> serial_{0};
  std::atomic<int> lanes_left_{0};
  std::shared_ptr<subreaper> reaper_;
};

}  // namespace

std::unique_ptr<broker> broker::start(const std::vector<identity>& allowed, std::string& error,
                                      unsigned lanes, const std::vector<std::string>& log_files,
                                      reread_fn reread) {
  lanes = std::clamp(lanes, 1u, 64u);
  std::vector<int> ours, theirs;
  auto close_all = [&] {
    for (int fd : ours) ::close(fd);
    for (int fd : theirs) ::close(fd);
  };
  for (unsigned i = 0; i < lanes; ++i) {
    int ch[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) != 0) {
      error = std::string("socketpair: ") + std::strerror(errno);
      close_all();
      return nullptr;
    }
    ours.push_back(ch[0]);
    theirs.push_back(ch[1]);
  }
  const pid_t parent = ::getpid();
  auto hold = hold_sweeps();  // a subreaper of ours must not take the broker for an orphan
  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    close_all();
    return nullptr;
  }
  if (pid == 0) {
    reset_tracking_after_fork();
    // The broker: dies with cgihost, keeps only its ends of the channels: no
    // log file, no socket, no pipe of another child stays open here
    // (stdin/stdout/stderr aside).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    ::prctl(PR_SET_NAME, "cgihost spawner");
    std::vector<int> keep = theirs;
    std::sort(keep.begin(), keep.end());
    unsigned from = 3;
    for (int fd : keep) {
      if (static_cast<unsigned>(fd) < from) continue;  // 0-2 (a closed stdin reused)
      if (static_cast<unsigned>(fd) > from)
        ::syscall(SYS_close_range, from, static_cast<unsigned>(fd) - 1, 0u);
      from = static_cast<unsigned>(fd) + 1;
    }
    ::syscall(SYS_close_range, from, ~0u, 0u);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
      ::signal(sig, SIG_IGN);
    freeze_signal_dispositions();  // the broker sets no handler after this
    broker_process(allowed, log_files, std::move(reread)).run(theirs);
  }
  track_started(pid);
  for (int fd : theirs) ::close(fd);
  auto b = std::unique_ptr<broker>(new broker());
  b->pid_ = pid;
  for (int fd : ours) {
    b->lanes_.push_back(std::make_unique<lane>());
    b->lanes_.back()->fd = fd;
  }
  return b;
}

broker::~broker() {
  for (auto& l : lanes_) ::close(l->fd);
  if (pid_ > 0) {
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    track_reaped(pid_);
  }
}

std::unique_lock<std::mutex> broker::free_lane(native_handle& fd, lane** /*which*/) {
  // A lane nobody uses, else wait for one in turn.
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    auto& l = *lanes_[(first + i) % lanes_.size()];
    std::unique_lock lock(l.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      fd = l.fd;
      return lock;
    }
  }
  auto& l = *lanes_[first % lanes_.size()];
  fd = l.fd;
  return std::unique_lock(l.mu);
}

std::optional<launched_child> broker::launch(const launch_spec& spec, launch_error& error) {
  error = {};
  auto fail = [&](launch_step step, int err, std::string detail) {
    error.step = step;
    error.code = std::error_code(err, std::generic_category());
    error.detail = std::move(detail);
    return std::nullopt;
  };
  const std::string request = wire::encode(wire::make_launch_request(spec));
  if (request.size() > kMaxMessage)
    return fail(launch_step::broker, E2BIG,
                "spawn request larger than 1 MiB (argv and environment)");
  std::vector<int> fds;
  if (spec.stdin_fd >= 0) fds.push_back(spec.stdin_fd);
  int channel = -1;
  auto lock = free_lane(channel);
  std::string message;
  std::vector<int> got;
  if (!send_msg(channel, request, fds) || recv_msg(channel, message, got, -1) != 1)
    return fail(launch_step::broker, EPIPE, "gone (no answer on its channel)");
  auto reply = wire::decode_launch_reply(message);
  auto* started = reply ? std::get_if<wire::launch_started>(&*reply) : nullptr;
  if (!started || got.size() != (started->has_stdin ? 4u : 3u)) {
    for (int fd : got) ::close(fd);
    if (!reply) return fail(launch_step::broker, EPIPE, "gone (no answer on its channel)");
    if (auto* failed = std::get_if<wire::launch_failed>(&*reply))
      return fail(failed->step, failed->error, failed->detail);
    return fail(launch_step::broker, EPROTO, "malformed answer");
  }
  launched_child c;
  c.pid = started->pid;
  c.serial = started->serial;
  std::size_t i = 0;
  if (started->has_stdin) c.stdin_fd = got[i++];
  c.stdout_fd = got[i++];
  c.stderr_fd = got[i++];
  c.status_fd = got[i++];
  c.via = this;
  return c;
}

bool broker::signal_group(process_id pid, std::uint64_t serial, int sig) {
  int channel = -1;
  auto lock = free_lane(channel);
  std::string message;
  std::vector<int> got;
  if (!send_msg(channel, wire::encode(wire::signal_request{pid, serial, sig}), {}) ||
      recv_msg(channel, message, got, -1) != 1)
    return false;
  for (int fd : got) ::close(fd);
  return wire::decode_signal_reply(message).value_or(false);
}

bool broker::reload(std::string& text, std::string& error) {
  int channel = -1;
  auto lock = free_lane(channel);
  std::string message;
  std::vector<int> got;
  if (!send_msg(channel, wire::encode(wire::reload_request{}), {}) ||
      recv_msg(channel, message, got, -1) != 1) {
    error = "the spawner process did not answer";
    return false;
  }
  for (int fd : got) ::close(fd);
  auto reply =
      wire::decode_reload_request(message) ? std::nullopt : wire::decode_reload_reply(message);
  if (!reply) {
    error = "the spawner process answered with a malformed reply";
    return false;
  }
  if (!reply->ok) {
    error = reply->error;
    return false;
  }
  text = std::move(reply->text);
  return true;
}

std::optional<std::vector<broker::reopened_file>> broker::reopen_logs(std::string& error) {
  int channel = -1;
  auto lock = free_lane(channel);
  std::string message;
  std::vector<int> got;
  if (!send_msg(channel, wire::encode(wire::reopen_request{}), {}) ||
      recv_msg(channel, message, got, -1) != 1) {
    error = "the spawner process is gone (no answer on its channel)";
    return std::nullopt;
  }
  auto files = wire::decode_reopen_reply(message);
  const auto opened = files ? static_cast<std::size_t>(std::count_if(
                                  files->begin(), files->end(), [](auto& f) { return !f.error; }))
                            : 0;
  if (!files || opened != got.size()) {
    for (int fd : got) ::close(fd);
    error = "the spawner process answered a reopen with a malformed message";
    return std::nullopt;
  }
  std::vector<reopened_file> out;
  std::size_t next = 0;
  for (auto& f : *files)
    out.push_back({std::move(f.path), f.error ? no_handle : got[next++], f.error});
  return out;
}

std::optional<launched_child> start_child(broker* via, const launch_spec& spec,
                                          launch_error& error) {
  return via ? via->launch(spec, error) : launch(spec, error);
}

std::optional<int> read_status(native_handle status_fd, std::chrono::milliseconds timeout) {
  pollfd p{status_fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (r < 0 && errno == EINTR);
  if (r <= 0) return std::nullopt;
  int status = 0;
  ssize_t n;
  do n = ::read(status_fd, &status, sizeof status);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof status)) return std::nullopt;
  return status;
}

}  // namespace cgihost::spawner
