#include "spawner/broker.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace cgihost::spawner {
namespace {

constexpr std::size_t kMaxMessage = 1 << 20;  // a spawn request: argv and env of a CGI request
constexpr std::size_t kMaxItems = 4096;

// ---- messages: a type byte, then fixed-size numbers and length-prefixed strings
struct writer {
  std::string buf;
  explicit writer(char type) { buf += type; }
  void u64(std::uint64_t v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    buf += s;
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
};

struct reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t u64() {
    std::uint64_t v = 0;
    if (in.size() < sizeof v) return ok = false, 0;
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::string str() {
    auto n = u64();
    if (!ok || n > in.size()) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  std::vector<std::string> strs() {
    auto n = u64();
    std::vector<std::string> v;
    if (!ok || n > kMaxItems) return ok = false, v;
    for (std::uint64_t i = 0; i < n && ok; ++i) v.push_back(str());
    return v;
  }
};

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

// 1: a message; 0: the other end closed; -1: error or `timeout_ms` (-1: none) passed.
int recv_msg(int sock, std::string& data, std::vector<int>& fds, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  data.resize(kMaxMessage);
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
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
  if (n <= 0 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    return n == 0 ? 0 : -1;
  }
  data.resize(static_cast<std::size_t>(n));
  return 1;
}

void put_limit(writer& w, const std::optional<std::uint64_t>& v) {
  w.u64(v ? 1 : 0);
  w.u64(v.value_or(0));
}
std::optional<std::uint64_t> get_limit(reader& r) {
  bool set = r.u64() != 0;
  auto v = r.u64();
  return set ? std::optional<std::uint64_t>(v) : std::nullopt;
}

// ---- the broker process
class broker_process {
 public:
  broker_process(int requests, int events, const std::vector<identity>& allowed)
      : requests_(requests), events_(events) {
    for (const auto& id : allowed)
      if (!id.is_root()) allowed_.emplace(id.name, id);
  }

  [[noreturn]] void run() {
    while (true) {
      std::vector<pollfd> fds{{requests_, POLLIN, 0}};
      for (auto& [pid, pidfd] : children_) fds.push_back({pidfd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) finish();
      for (std::size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) reap(fds[i].fd);
      if (fds[0].revents) {
        std::string data;
        std::vector<int> got;
        int r = recv_msg(requests_, data, got, 0);
        if (r == 0) finish();
        if (r > 0) handle(data, got);
      }
    }
  }

 private:
  void handle(const std::string& data, std::vector<int>& fds) {
    reader r{data};
    char type = data.empty() ? '\0' : data[0];
    r.in.remove_prefix(data.empty() ? 0 : 1);
    if (type == 'L') {
      launch_request(r, fds);
    } else if (type == 'S') {
      auto pid = static_cast<pid_t>(r.u64());
      auto sig = static_cast<int>(r.u64());
      writer w('R');
      bool ours = r.ok && children_.contains(pid) && sig > 0 && sig < NSIG;
      w.u64(ours && ::kill(-pid, sig) == 0 ? 1 : 0);
      send_msg(requests_, w.buf, {});
    } else {
      refuse(fds, "malformed request");
    }
  }

  void refuse(std::vector<int>& fds, const std::string& why, int err = EPERM,
              launch_step step = launch_step::setuid) {
    for (int fd : fds) ::close(fd);
    writer w('R');
    w.u64(0);
    w.u64(static_cast<std::uint64_t>(step));
    w.u64(static_cast<std::uint64_t>(err));
    w.str(why);
    send_msg(requests_, w.buf, {});
  }

  void launch_request(reader& r, std::vector<int>& fds) {
    launch_spec spec;
    spec.program = r.str();
    spec.argv = r.strs();
    spec.env = r.strs();
    spec.working_dir = r.str();
    std::string account = r.str();
    spec.limits.address_space = get_limit(r);
    spec.limits.cpu_seconds = get_limit(r);
    spec.limits.open_files = get_limit(r);
    spec.limits.processes = get_limit(r);
    spec.new_process_group = r.u64() != 0;
    spec.die_with_parent = r.u64() != 0;
    bool has_stdin = r.u64() != 0;
    if (!r.ok || !r.in.empty() || spec.argv.empty() || spec.program.empty() ||
        fds.size() != (has_stdin ? 1u : 0u))
      return refuse(fds, "malformed spawn request");
    auto allowed = allowed_.find(account);
    if (allowed == allowed_.end())
      return refuse(fds, "account \"" + account + "\" is not one the config allows");
    spec.as = allowed->second;
    if (has_stdin) spec.stdin_fd = fds[0];
    launch_error err;
    auto child = spawner::launch(spec, err);
    for (int fd : fds) ::close(fd);
    fds.clear();
    if (!child) return refuse(fds, err.message(), err.code.value(), err.step);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child->pid, 0));
    if (pidfd >= 0) children_[child->pid] = pidfd;
    writer w('R');
    w.u64(1);
    w.u64(static_cast<std::uint64_t>(child->pid));
    w.u64(child->stdin_fd >= 0 ? 1 : 0);
    std::vector<int> out;
    if (child->stdin_fd >= 0) out.push_back(child->stdin_fd);
    out.push_back(child->stdout_fd);
    out.push_back(child->stderr_fd);
    send_msg(requests_, w.buf, out);
    for (int fd : out) ::close(fd);
  }

  void reap(int pidfd) {
    for (auto it = children_.begin(); it != children_.end(); ++it) {
      if (it->second != pidfd) continue;
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0)
        return;
      int status = info.si_code == CLD_EXITED
                       ? (info.si_status & 0xff) << 8
                       : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
      writer w('E');
      w.u64(static_cast<std::uint64_t>(it->first));
      w.u64(static_cast<std::uint64_t>(status));
      send_msg(events_, w.buf, {});
      ::close(pidfd);
      children_.erase(it);
      return;
    }
  }

  // The channel closed: nothing may outlive cgihost.
  [[noreturn]] void finish() {
    for (auto& [pid, pidfd] : children_) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
    for (auto& [pid, pidfd] : children_) {
      siginfo_t info{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
    }
    ::_exit(0);
  }

  int requests_;
  int events_;
  std::map<std::string, identity> allowed_;
  std::map<pid_t, int> children_;  // pid -> pidfd
};

}  // namespace

std::unique_ptr<broker> broker::start(const std::vector<identity>& allowed, std::string& error) {
  int req[2], ev[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, req) != 0) {
    error = std::string("socketpair: ") + std::strerror(errno);
    return nullptr;
  }
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) != 0) {
    error = std::string("socketpair: ") + std::strerror(errno);
    ::close(req[0]), ::close(req[1]);
    return nullptr;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {req[0], req[1], ev[0], ev[1]}) ::close(fd);
    return nullptr;
  }
  if (pid == 0) {
    // The broker: dies with cgihost, keeps only its two ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    ::close(req[0]);
    ::close(ev[0]);
    ::signal(SIGPIPE, SIG_IGN);
    broker_process(req[1], ev[1], allowed).run();
  }
  ::close(req[1]);
  ::close(ev[1]);
  auto b = std::unique_ptr<broker>(new broker());
  b->pid_ = pid;
  b->requests_ = req[0];
  b->events_ = ev[0];
  return b;
}

broker::~broker() {
  if (requests_ >= 0) ::close(requests_);
  if (events_ >= 0) ::close(events_);
  if (pid_ > 0) {
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::optional<launched_child> broker::launch(const launch_spec& spec, launch_error& error) {
  writer w('L');
  w.str(spec.program);
  w.strs(spec.argv);
  w.strs(spec.env);
  w.str(spec.working_dir);
  w.str(spec.as ? spec.as->name : std::string());
  put_limit(w, spec.limits.address_space);
  put_limit(w, spec.limits.cpu_seconds);
  put_limit(w, spec.limits.open_files);
  put_limit(w, spec.limits.processes);
  w.u64(spec.new_process_group ? 1 : 0);
  w.u64(spec.die_with_parent ? 1 : 0);
  w.u64(spec.stdin_fd >= 0 ? 1 : 0);
  std::vector<int> fds;
  if (spec.stdin_fd >= 0) fds.push_back(spec.stdin_fd);
  std::lock_guard lock(mu_);
  std::string reply;
  std::vector<int> got;
  if (w.buf.size() > kMaxMessage || !send_msg(requests_, w.buf, fds) ||
      recv_msg(requests_, reply, got, -1) != 1 || reply.empty() || reply[0] != 'R') {
    for (int fd : got) ::close(fd);
    error.step = launch_step::clone;
    error.code = std::error_code(EPIPE, std::generic_category());
    return std::nullopt;
  }
  reader r{std::string_view(reply).substr(1)};
  if (r.u64() == 0) {
    error.step = static_cast<launch_step>(r.u64());
    error.code = std::error_code(static_cast<int>(r.u64()), std::generic_category());
    for (int fd : got) ::close(fd);
    return std::nullopt;
  }
  launched_child c;
  c.pid = static_cast<pid_t>(r.u64());
  bool has_stdin = r.u64() != 0;
  if (got.size() != (has_stdin ? 3u : 2u)) {
    for (int fd : got) ::close(fd);
    error.step = launch_step::pipes;
    error.code = std::error_code(EPROTO, std::generic_category());
    return std::nullopt;
  }
  std::size_t i = 0;
  if (has_stdin) c.stdin_fd = got[i++];
  c.stdout_fd = got[i++];
  c.stderr_fd = got[i++];
  return c;
}

bool broker::signal_group(pid_t pid, int sig) {
  writer w('S');
  w.u64(static_cast<std::uint64_t>(pid));
  w.u64(static_cast<std::uint64_t>(sig));
  std::lock_guard lock(mu_);
  std::string reply;
  std::vector<int> got;
  if (!send_msg(requests_, w.buf, {}) || recv_msg(requests_, reply, got, -1) != 1 ||
      reply.size() < 9)
    return false;
  for (int fd : got) ::close(fd);
  reader r{std::string_view(reply).substr(1)};
  return r.u64() == 1;
}

std::optional<std::pair<pid_t, int>> broker::next_exit(std::chrono::milliseconds timeout) {
  std::string msg;
  std::vector<int> got;
  if (recv_msg(events_, msg, got, static_cast<int>(timeout.count())) != 1 || msg.empty() ||
      msg[0] != 'E')
    return std::nullopt;
  for (int fd : got) ::close(fd);
  reader r{std::string_view(msg).substr(1)};
  auto pid = static_cast<pid_t>(r.u64());
  auto status = static_cast<int>(r.u64());
  if (!r.ok) return std::nullopt;
  return std::make_pair(pid, status);
}

}  // namespace cgihost::spawner
