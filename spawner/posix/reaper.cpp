#include "spawner/reaper.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

namespace cgihost::spawner {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kRounds = 16;             // kill-and-reap rounds per sweep
constexpr auto kRoundWait = 1000ms;     // for the killed ones of a round to die
constexpr auto kPendingPeriod = 100ms;  // sweeps while a sweep left some behind

// Launches (shared) against a sweep's listing (exclusive), the sweep first
// once it waits.
class gate {
 public:
  void lock_shared() {
    std::unique_lock l(m_);
    cv_.wait(l, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void unlock_shared() {
    std::lock_guard l(m_);
    if (--readers_ == 0) cv_.notify_all();
  }
  void lock() {
    std::unique_lock l(m_);
    ++writers_waiting_;
    cv_.wait(l, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  void unlock() {
    std::lock_guard l(m_);
    writer_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

struct tracking {
  gate sweeps;
  std::mutex mu;  // the members below
  std::unordered_set<pid_t> started;
  int wake = -1;  // the running subreaper's eventfd, -1 when none
  std::weak_ptr<subreaper> running;
  std::vector<int> incoming;   // pidfds of children started since its last look
  bool owners_report = false;  // exits_reported_by_owners(): no pidfd per child
  std::uint64_t reported = 0;  // reaps reported since the start (owners_report)
};

tracking*& slot() {
  static tracking* t = new tracking;  // never destroyed: used until the process ends
  return t;
}
tracking& state() { return *slot(); }

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void wake_up(int fd) {
  std::uint64_t one = 1;
  ssize_t ignored = ::write(fd, &one, sizeof one);
  (void)ignored;
}

bool read_file(const char* path, std::string& out) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return n == 0;
}

void numbers(const std::string& text, std::vector<pid_t>& out) {
  const char* p = text.c_str();
  while (*p) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end == p) {
      ++p;
      continue;
    }
    if (v > 0) out.push_back(static_cast<pid_t>(v));
    p = end;
  }
}

// Every child of this process: /proc/self/task/*/children (a reparented
// orphan's parent is whichever of our threads the kernel picked), else, on a
// kernel without CONFIG_PROC_CHILDREN, every /proc/PID/stat naming us as parent.
std::vector<pid_t> children_of_self() {
  std::vector<pid_t> out;
  std::string text;
  bool listed = false;
  if (DIR* d = ::opendir("/proc/self/task")) {
    listed = true;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string path = std::string("/proc/self/task/") + e->d_name + "/children";
      if (read_file(path.c_str(), text)) {
        numbers(text, out);
      } else if (errno == ENOENT &&
                 ::access(("/proc/self/task/" + std::string(e->d_name)).c_str(), F_OK) == 0) {
        listed = false;  // the thread exists, its children file does not
        break;
      }
    }
    ::closedir(d);
  }
  if (listed) return out;
  out.clear();
  const pid_t self = ::getpid();
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::string path = std::string("/proc/") + e->d_name + "/stat";
      if (!read_file(path.c_str(), text)) continue;
      auto close = text.rfind(')');
      if (close == std::string::npos || close + 4 >= text.size()) continue;
      long ppid = std::strtol(text.c_str() + close + 4, nullptr, 10);
      if (ppid == self) out.push_back(static_cast<pid_t>(std::atol(e->d_name)));
    }
    ::closedir(d);
  }
  return out;
}

// The same listing of /proc/self/task/*/children with the folder and each
// thread's file kept open between sweeps: a sweep reads the folder and each
// file again from offset 0 (a seq_file is made anew there), a handful of
// system calls instead of an open, a read and a close per thread. A thread
// is known by its folder's inode too, so a thread id used again is opened anew.
class children_listing {
 public:
  children_listing() = default;
  children_listing(const children_listing&) = delete;
  children_listing& operator=(const children_listing&) = delete;
  ~children_listing() { forget(); }

  // Every child of this process into `out`; false when this way cannot tell
  // (then children_of_self()).
  bool list(std::vector<pid_t>& out) {
    if (folder_ < 0) folder_ = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::vector<thread> now;
    if (folder_ < 0 || !threads(now)) return false;
    std::vector<thread> kept;
    for (auto& t : files_) {
      bool alive = std::any_of(now.begin(), now.end(),
                               [&](const thread& n) { return n.tid == t.tid && n.ino == t.ino; });
      if (alive)
        kept.push_back(t);
      else
        ::close(t.fd);
    }
    files_ = std::move(kept);
    for (auto& n : now) {
      auto it = std::find_if(files_.begin(), files_.end(),
                             [&](const thread& t) { return t.tid == n.tid && t.ino == n.ino; });
      if (it == files_.end()) {
        const std::string name = std::to_string(n.tid);
        n.fd = ::openat(folder_, (name + "/children").c_str(), O_RDONLY | O_CLOEXEC);
        if (n.fd < 0) {
          // The thread exists, its children file does not: no CONFIG_PROC_CHILDREN.
          if (errno == ENOENT && ::faccessat(folder_, name.c_str(), F_OK, 0) == 0) return false;
          continue;  // it ended meanwhile
        }
        files_.push_back(n);
        it = files_.end() - 1;
      }
      if (!read_again(it->fd)) return false;
      numbers(text_, out);
    }
    return true;
  }

  void forget() {
    for (auto& t : files_) ::close(t.fd);
    files_.clear();
    if (folder_ >= 0) ::close(folder_);
    folder_ = -1;
  }

 private:
  struct thread {
    pid_t tid = 0;
    std::uint64_t ino = 0;
    int fd = -1;
  };

  bool threads(std::vector<thread>& out) {
    if (::lseek(folder_, 0, SEEK_SET) != 0) return false;
    alignas(8) char buf[4096];
    while (true) {
      const long n = ::syscall(SYS_getdents64, folder_, buf, sizeof buf);
      if (n < 0) return false;
      if (n == 0) return true;
      for (long at = 0; at < n;) {
        // struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name.
        std::uint64_t ino;
        unsigned short reclen;
        std::memcpy(&ino, buf + at, sizeof ino);
        std::memcpy(&reclen, buf + at + 16, sizeof reclen);
        const char* name = buf + at + 19;
        if (name[0] >= '0' && name[0] <= '9')
          out.push_back({static_cast<pid_t>(std::atol(name)), ino, -1});
        at += reclen;
      }
    }
  }

  bool read_again(int fd) {
    text_.clear();
    char buf[4096];
    off_t at = 0;
    ssize_t n;
    while ((n = ::pread(fd, buf, sizeof buf, at)) > 0) {
      text_.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return n == 0;
  }

  int folder_ = -1;
  std::vector<thread> files_;
  std::string text_;
};

std::string comm_of(pid_t pid) {
  std::string s;
  read_file(("/proc/" + std::to_string(pid) + "/comm").c_str(), s);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

sweep_hold::sweep_hold() { state().sweeps.lock_shared(); }
sweep_hold::~sweep_hold() { state().sweeps.unlock_shared(); }

void track_started(pid_t pid) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.started.insert(pid);
  if (s.wake >= 0 && !s.owners_report) {
    int fd = pidfd_open(pid);
    if (fd >= 0) {
      s.incoming.push_back(fd);
      wake_up(s.wake);
    }
  }
}

void track_reaped(pid_t pid) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.started.erase(pid);
  if (s.owners_report && s.wake >= 0) {
    ++s.reported;
    wake_up(s.wake);
  }
}

void exits_reported_by_owners() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.owners_report = true;
}

void reset_tracking_after_fork() {
  slot() = new tracking;  // the parent's may be locked by a thread that does not exist here
}

struct subreaper::impl {
  report on_ended;
  int wake = -1;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ended{0};
  std::mutex sweep_mu;       // one sweep at a time
  children_listing listing;  // used under sweep_mu

  // The children this process did not start: inherited orphans.
  std::vector<pid_t> inherited() {
    auto& s = state();
    std::lock_guard no_launch(s.sweeps);  // no launch between its clone and its declaration
    std::vector<pid_t> all;
    if (!listing.list(all)) {
      listing.forget();
      all = children_of_self();
    }
    std::lock_guard lock(s.mu);
    std::vector<pid_t> out;
    for (pid_t p : all)
      if (!s.started.contains(p)) out.push_back(p);
    return out;
  }

  // Kills and reaps what was inherited, round after round as the killed
  // ones' children are inherited in turn. True when none is left.
  bool sweep() {
    std::lock_guard one(sweep_mu);
    std::set<pid_t> seen;
    for (int round = 0; round < kRounds; ++round) {
      const std::vector<pid_t> found = inherited();
      if (found.empty()) return true;
      bool progress = false;
      std::vector<std::pair<pid_t, std::string>> killed;
      for (pid_t pid : found) {
        progress = seen.insert(pid).second || progress;
        // An unreaped child of ours: its pid (and a group it leads) cannot be
        // anyone else's. A session leader's group holds only its descendants.
        std::string name = comm_of(pid);
        if (::getsid(pid) == pid) ::kill(-pid, SIGKILL);
        // EPERM: a set-user-ID program we may not signal (cgihost without
        // root); it is reaped when it ends, not waited for here.
        if (::kill(pid, SIGKILL) == 0) killed.emplace_back(pid, std::move(name));
      }
      const auto deadline = clock::now() + kRoundWait;
      for (auto& [pid, name] : killed) {
        int fd = pidfd_open(pid);
        if (fd < 0) continue;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        pollfd p{fd, POLLIN, 0};
        int r;
        do r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
        while (r < 0 && errno == EINTR);
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info,
                     WEXITED | WNOHANG) == 0 &&
            info.si_pid == pid) {
          progress = true;
          ended.fetch_add(1, std::memory_order_relaxed);
          if (on_ended) on_ended(pid, name);
        }
        ::close(fd);
      }
      if (!progress) return false;  // only the same unkillable ones (D state): later
    }
    return inherited().empty();
  }

  void run() {
    std::vector<int> watched;
    bool pending = false;
    std::uint64_t reported = 0;  // state().reported at the last look
    std::vector<pollfd> fds;
    while (!stop.load()) {
      fds.assign(1, pollfd{wake, POLLIN, 0});
      for (int fd : watched) fds.push_back({fd, POLLIN, 0});
      int r;
      do
        r = ::poll(fds.data(), fds.size(), pending ? static_cast<int>(kPendingPeriod.count()) : -1);
      while (r < 0 && errno == EINTR);
      if (stop.load()) break;
      bool exited = r == 0 && pending;
      if (fds[0].revents) {
        std::uint64_t n;
        ssize_t ignored = ::read(wake, &n, sizeof n);
        (void)ignored;
      }
      for (std::size_t i = fds.size(); i-- > 1;) {
        if (!fds[i].revents) continue;
        // It exited (its owner reaps it): whatever it leaves is ours now.
        ::close(fds[i].fd);
        watched.erase(watched.begin() + static_cast<std::ptrdiff_t>(i - 1));
        exited = true;
      }
      {
        auto& s = state();
        std::lock_guard lock(s.mu);
        watched.insert(watched.end(), s.incoming.begin(), s.incoming.end());
        s.incoming.clear();
        if (s.reported != reported) exited = true;  // an owner reaped one
        reported = s.reported;
      }
      if (exited) pending = !sweep();
    }
    for (int fd : watched) ::close(fd);
  }
};

subreaper::subreaper(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

std::shared_ptr<subreaper> subreaper::start(std::string& error, report on_ended) {
  auto p = std::make_unique<impl>();
  p->on_ended = std::move(on_ended);
  p->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake < 0) {
    error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  {
    auto& s = state();
    std::lock_guard lock(s.mu);
    if (auto already = s.running.lock()) {
      ::close(p->wake);
      return already;
    }
    if (s.wake >= 0) {
      ::close(p->wake);
      error = "the previous subreaper of this process is still ending";
      return nullptr;
    }
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      error = std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + std::strerror(errno);
      ::close(p->wake);
      return nullptr;
    }
    s.wake = p->wake;
  }
  impl* raw = p.get();
  p->thread = std::thread([raw] { raw->run(); });
  auto sp = std::shared_ptr<subreaper>(new subreaper(std::move(p)));
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.running = sp;
  return sp;
}

subreaper::~subreaper() {
  auto& s = state();
  {
    std::lock_guard lock(s.mu);
    s.wake = -1;
    for (int fd : s.incoming) ::close(fd);
    s.incoming.clear();
  }
  impl_->stop.store(true);
  wake_up(impl_->wake);
  impl_->thread.join();
  impl_->sweep();
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  ::close(impl_->wake);
}

void subreaper::sweep_now() { impl_->sweep(); }

std::uint64_t subreaper::ended() const { return impl_->ended.load(std::memory_order_relaxed); }

}  // namespace cgihost::spawner
