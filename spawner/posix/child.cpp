#include "spawner/child.hpp"

#include "spawner/broker.hpp"
#include "spawner/reaper.hpp"

// Process v2 with std::filesystem needs these first (see the team's notes).
#include <boost/optional.hpp>
#include <boost/type_traits.hpp>
// clang-format off
#include <boost/process/v2.hpp>
// clang-format on

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <utility>

namespace cgihost::spawner {
namespace bp = boost::process::v2;

struct child::handle {
  bp::basic_process_handle<asio::any_io_executor> h;
};

std::string exit_status::describe() const {
  if (exited) return "exit " + std::to_string(code);
  return "signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

child::child(const asio::any_io_executor& ex, const launched_child& c)
    : pid_(c.pid),
      stdin_(ex),
      stdout_(ex, c.stdout_fd),
      stderr_(ex, c.stderr_fd),
      via_(c.via),
      serial_(c.serial),
      status_pipe_(ex) {
  if (c.stdin_fd >= 0) stdin_.assign(c.stdin_fd);
  if (via_)
    status_fd_ = c.status_fd;
  else
    handle_ = std::make_unique<handle>(
        handle{bp::basic_process_handle<asio::any_io_executor>(ex, c.pid)});
}

child::~child() {
  if (!exited_ && pid_ > 0) {
    signal_group(SIGKILL);
    // The broker reaps its own; ours is reaped here: never a zombie.
    int st = 0;
    if (!via_) {
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      track_reaped(pid_);
    }
  }
  if (status_fd_ >= 0) ::close(status_fd_);
}

void child::signal_group(int sig) noexcept {
  if (exited_ || pid_ <= 0) return;
  if (via_) {
    via_->signal_group(pid_, serial_, sig);
    return;
  }
  if (::kill(-pid_, sig) != 0) ::kill(pid_, sig);
}

void child::ask_group_to_end() noexcept { signal_group(SIGTERM); }
void child::end_group_now() noexcept { signal_group(SIGKILL); }

void child::set_exited(int raw, bool known) {
  exited_ = true;
  if (!via_) track_reaped(pid_);
  if (!known) {
    // Only when someone else reaped it, which must not happen; say so.
    status_ = exit_status{false, 0, 0};
  } else if (WIFEXITED(raw)) {
    status_ = exit_status{true, WEXITSTATUS(raw), 0};
  } else {
    status_ = exit_status{false, 0, WIFSIGNALED(raw) ? WTERMSIG(raw) : 0};
  }
}

asio::awaitable<exit_status> child::wait() {
  if (exited_) co_return status_;
  boost::system::error_code ec;
  int raw = 0;
  waiting_ = true;
  if (via_) {
    // 4 bytes written at once by the broker. End of file without them: the
    // broker is gone, and cannot report; the child counts as killed (a
    // FastCGI instance dies with the broker; cgihost stops when it sees the
    // broker gone).
    if (!status_pipe_.is_open()) status_pipe_.assign(std::exchange(status_fd_, no_handle));
    auto [rec, n] = co_await asio::async_read(status_pipe_, asio::buffer(&raw, sizeof raw),
                                              asio::as_tuple(asio::use_awaitable));
    ec = rec;
    if (ec && ec != asio::error::operation_aborted) raw = SIGKILL, ec = {};
  } else {
    auto [pec, praw] = co_await handle_->h.async_wait(asio::as_tuple(asio::use_awaitable));
    ec = pec;
    raw = praw;
  }
  waiting_ = false;
  if (ec == asio::error::operation_aborted) co_return exit_status{};  // cancelled: still running
  set_exited(raw, !ec);
  co_return status_;
}

std::optional<exit_status> child::try_wait() {
  if (exited_) return status_;
  if (waiting_ || pid_ <= 0) return std::nullopt;
  int raw = 0;
  if (via_) {
    // The broker's status pipe is non-blocking: EAGAIN while it runs.
    ssize_t n;
    const int fd = status_pipe_.is_open() ? status_pipe_.native_handle() : status_fd_;
    do n = ::read(fd, &raw, sizeof raw);
    while (n < 0 && errno == EINTR);
    if (n < 0) return std::nullopt;
    if (n != static_cast<ssize_t>(sizeof raw)) raw = SIGKILL;  // the broker is gone: as wait()
  } else {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG) != 0 ||
        info.si_pid != pid_)
      return std::nullopt;
    raw = info.si_code == CLD_EXITED
              ? (info.si_status & 0xff) << 8
              : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
  }
  set_exited(raw, true);
  return status_;
}

asio::awaitable<exit_status> child::terminate(std::chrono::milliseconds grace) {
  using namespace asio::experimental::awaitable_operators;
  if (exited_) co_return status_;
  signal_group(SIGTERM);
  asio::steady_timer timer(co_await asio::this_coro::executor, grace);
  auto first = co_await (wait() || timer.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(first);
  signal_group(SIGKILL);
  co_return co_await wait();
}

exit_watch::exit_watch(process_id pid, std::function<void()> ended) {
  process_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  wake_ = ::eventfd(0, EFD_CLOEXEC);
  if (process_ < 0 || wake_ < 0) return;
  thread_ = std::thread([this, ended = std::move(ended)] {
    pollfd fds[2] = {{process_, POLLIN, 0}, {wake_, POLLIN, 0}};
    int r;
    do r = ::poll(fds, 2, -1);
    while (r < 0 && errno == EINTR);
    if (r > 0 && (fds[0].revents & POLLIN) && !(fds[1].revents & POLLIN)) ended();
  });
}

exit_watch::~exit_watch() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    ssize_t ignored = ::write(wake_, &one, sizeof one);
    (void)ignored;
    thread_.join();
  }
  if (process_ >= 0) ::close(process_);
  if (wake_ >= 0) ::close(wake_);
}

}  // namespace cgihost::spawner
