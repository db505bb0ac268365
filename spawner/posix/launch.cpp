#include "spawner/launch.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "spawner/reaper.hpp"

namespace cgihost::spawner {
namespace {

// Shared with the child (CLONE_VM): prepared by the parent, read by the
// child, which writes back only `failed_step` and `failed_errno`.
struct child_args {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* working_dir;  // null: stay
  bool switch_identity;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t group_count;
  bool new_process_group;
  bool die_with_parent;
  pid_t parent;
  int stdio[3];      // the child's ends, moved to 0, 1, 2 (stdin -1: /dev/null)
  bool blocking[3];  // and made blocking: our pipe ends are non-blocking, theirs must not be
  // The signals whose disposition is not SIG_DFL, when known (the dispositions
  // are frozen): only these need a reset; else (count < 0) every signal.
  const int* reset_signals;
  int reset_count;
  struct {
    int resource;
    rlim_t value;
  } limits[4];
  int limit_count;
  sigset_t parent_mask;
  volatile launch_step failed_step;
  volatile int failed_errno;
};

// freeze_signal_dispositions(): the signals not at SIG_DFL then; -1: not frozen.
int frozen_signals[NSIG];
std::atomic<int> frozen_count{-1};

[[noreturn]] void child_fail(child_args* a, launch_step step) {
  a->failed_errno = errno;
  a->failed_step = step;
  _exit(127);
}

// Runs in the child, on its own stack, in the parent's memory: only
// async-signal-safe calls, no allocation, no locks, _exit on failure.
int child_main(void* p) {
  auto* a = static_cast<child_args*>(p);
  // Default dispositions: the host's handlers must never run in the child,
  // and a script expects SIGPIPE to end it as usual.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  if (a->reset_count >= 0) {
    for (int i = 0; i < a->reset_count; ++i) ::sigaction(a->reset_signals[i], &dfl, nullptr);
  } else {
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      ::sigaction(sig, &dfl, nullptr);  // EINVAL for the ones glibc reserves: ignore
    }
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (::sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) child_fail(a, launch_step::signals);
  if (a->new_process_group && ::setpgid(0, 0) != 0) child_fail(a, launch_step::process_group);
  for (int fd = 0; fd < 3; ++fd) {
    if (a->stdio[fd] < 0) {
      // Opened in the child (the broker keeps no descriptor for it). Where it
      // lands above 2 close_range closes it; on 1 or 2 their dup2 replaces it.
      int null = ::open("/dev/null", O_RDONLY);
      if (null < 0 || (null != fd && ::dup2(null, fd) < 0)) child_fail(a, launch_step::stdio);
    } else if (a->stdio[fd] == fd) {
      int flags = ::fcntl(fd, F_GETFD);
      if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0)
        child_fail(a, launch_step::stdio);
    } else if (::dup2(a->stdio[fd], fd) < 0) {
      child_fail(a, launch_step::stdio);
    }
    // F_SETFL 0: a pipe end has no other status flag than O_NONBLOCK to keep.
    if (a->blocking[fd] && ::fcntl(fd, F_SETFL, 0) != 0) child_fail(a, launch_step::stdio);
  }
  // Every other descriptor is closed, whatever the host had open.
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);
  }
  if (a->working_dir && ::chdir(a->working_dir) != 0) child_fail(a, launch_step::chdir);
  for (int i = 0; i < a->limit_count; ++i) {
    rlimit rl{a->limits[i].value, a->limits[i].value};
    if (::setrlimit(a->limits[i].resource, &rl) != 0) child_fail(a, launch_step::rlimit);
  }
  if (a->switch_identity) {
    // The fixed order: groups, gid, uid. Raw system calls: glibc's wrappers
    // synchronise all threads of the process, which a vfork child must not.
    if (::syscall(SYS_setgroups, a->group_count, a->groups) != 0)
      child_fail(a, launch_step::setgroups);
    if (::syscall(SYS_setresgid, a->gid, a->gid, a->gid) != 0) child_fail(a, launch_step::setgid);
    if (::syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0) child_fail(a, launch_step::setuid);
  }
  // After the identity switch: a change of credentials clears the setting.
  if (a->die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail(a, launch_step::no_new_privs);
    if (::getppid() != a->parent) _exit(127);  // the parent is already gone
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(a, launch_step::no_new_privs);
  ::execve(a->program, a->argv, a->envp);
  child_fail(a, launch_step::exec);
}

struct fd_pair {
  int fd[2] = {-1, -1};
  ~fd_pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int release(int i) {
    int f = fd[i];
    fd[i] = -1;
    return f;
  }
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

namespace {

// The environment of a child that changes account: that account's HOME, USER
// and LOGNAME (unless the caller set them), as login(1) would: never root's.
std::vector<std::string> child_env(const launch_spec& spec) {
  std::vector<std::string> env = spec.env;
  if (!spec.as) return env;
  auto add = [&](const char* name, const std::string& value) {
    std::string prefix = std::string(name) + "=";
    for (const auto& e : env)
      if (e.rfind(prefix, 0) == 0) return;
    env.push_back(prefix + value);
  };
  add("HOME", spec.as->home.empty() ? std::string("/") : spec.as->home);
  add("USER", spec.as->name);
  add("LOGNAME", spec.as->name);
  return env;
}

// Everything the child reads, prepared before clone (the child may not
// allocate): `a` points into this, which must outlive the clone.
struct prepared {
  std::vector<std::string> env;
  std::vector<char*> argv, envp;
  std::vector<gid_t> groups;
  child_args a{};

  prepared(const launch_spec& spec, const int stdio[3], bool stdin_is_pipe) : env(child_env(spec)) {
    argv = c_strings(spec.argv);
    envp = c_strings(env);
    a.program = spec.program.c_str();
    a.argv = argv.data();
    a.envp = envp.data();
    a.working_dir = spec.working_dir.empty() ? nullptr : spec.working_dir.c_str();
    if (spec.as) {
      a.switch_identity = true;
      a.uid = spec.as->uid.value;
      a.gid = spec.as->gid.value;
      for (auto g : spec.as->groups) groups.push_back(g.value);
      a.groups = groups.data();
      a.group_count = groups.size();
    }
    a.new_process_group = spec.new_process_group;
    a.die_with_parent = spec.die_with_parent;
    if (spec.die_with_parent) a.parent = ::getpid();
    for (int i = 0; i < 3; ++i) a.stdio[i] = stdio[i];
    a.blocking[0] = stdin_is_pipe;  // a caller's descriptor keeps its flags
    a.blocking[1] = a.blocking[2] = true;
    a.reset_count = frozen_count.load(std::memory_order_acquire);
    a.reset_signals = frozen_signals;
    add_limit(RLIMIT_AS, spec.limits.address_space);
    add_limit(RLIMIT_CPU, spec.limits.cpu_seconds);
    add_limit(RLIMIT_NOFILE, spec.limits.open_files);
    add_limit(RLIMIT_NPROC, spec.limits.processes);
    a.failed_step = launch_step::none;
  }
  void add_limit(int resource, const std::optional<std::uint64_t>& v) {
    if (v) a.limits[a.limit_count++] = {resource, static_cast<rlim_t>(*v)};
  }
};

// The stack child_main runs on: one per thread, mapped at its first launch and
// used again by each, which is safe because the thread is suspended until its
// child has exec'd or exited (CLONE_VFORK), after which the child no longer
// uses it. No mmap, munmap (a TLB shootdown on every core) or fresh page
// faults per child.
class child_stack {
 public:
  static constexpr std::size_t kSize = 64 * 1024;
  char* get() {
    if (!base_) {
      void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      base_ = static_cast<char*>(p);
    }
    return base_;
  }
  ~child_stack() {
    if (base_) ::munmap(base_, kSize);
  }

 private:
  char* base_ = nullptr;
};
thread_local child_stack thread_stack;

// Runs child_main in a vfork-style child on this thread's child stack: the pid
// (the caller is suspended until the child's exec or _exit), or -1 with
// errno when clone failed.
pid_t clone_child(child_args& a) {
  char* stack = thread_stack.get();
  if (!stack) return -1;
  // Block every signal so that no handler of ours runs on the child's stack
  // before it has reset them; restored right after.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::clone(child_main, stack + child_stack::kSize, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = clone_errno;
  return pid;
}

}  // namespace

void freeze_signal_dispositions() {
  int n = 0;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction now {};
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    // EINVAL for the ones glibc reserves: the child cannot reset them either.
    if (::sigaction(sig, nullptr, &now) == 0 && now.sa_handler != SIG_DFL)
      frozen_signals[n++] = sig;
  }
  frozen_count.store(n, std::memory_order_release);
}

std::optional<launched_child> launch(const launch_spec& spec, launch_error& error) {
  error = {};
  auto fail = [&](launch_step step, int err) -> std::optional<launched_child> {
    error.step = step;
    error.code = std::error_code(err, std::generic_category());
    return std::nullopt;
  };
  if (spec.as && spec.as->is_root())
    return fail(launch_step::setuid, EPERM);  // never, whatever the caller says

  // Our ends non-blocking from the start; the child makes its own blocking.
  constexpr int kFlags = O_CLOEXEC | O_NONBLOCK;
  const bool stdin_pipe = spec.stdin_fd < 0 && !spec.no_input;
  fd_pair in, out, err;
  if ((stdin_pipe && ::pipe2(in.fd, kFlags) != 0) || ::pipe2(out.fd, kFlags) != 0 ||
      ::pipe2(err.fd, kFlags) != 0)
    return fail(launch_step::pipes, errno);
  const int stdio[3] = {stdin_pipe ? in.fd[0] : spec.stdin_fd, out.fd[1], err.fd[1]};  // -1: null
  prepared p(spec, stdio, stdin_pipe);

  // No sweep of inherited processes may list this child before it is declared ours.
  auto hold = hold_sweeps();
  pid_t pid = clone_child(p.a);
  if (pid < 0) return fail(launch_step::clone, errno);
  if (p.a.failed_step != launch_step::none) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return fail(p.a.failed_step, p.a.failed_errno);
  }
  track_started(pid);

  launched_child c;
  c.pid = pid;
  c.stdin_fd = stdin_pipe ? in.release(1) : -1;
  c.stdout_fd = out.release(0);
  c.stderr_fd = err.release(0);
  return c;
}

}  // namespace cgihost::spawner
