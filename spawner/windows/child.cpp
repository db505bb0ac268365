// child and exit_watch on Windows: the exit through an object_handle on the
// process handle, every end through the child's Job Object. See child.hpp.
#include "spawner/child.hpp"

// Asio (winsock2) before <windows.h>.
#include <windows.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/windows/object_handle.hpp>
#include <cstdio>
#include <utility>

#include "spawner/broker.hpp"

namespace cgihost::spawner {
namespace {

// The exit code TerminateJobObject gives every process of a job we end:
// 128 + 9, what a shell reports for a SIGKILL.
constexpr UINT kEndedByUs = 137;
// exit_status::signal of a child whose job we ended: SIGKILL's number.
constexpr int kEndedSignal = 9;

}  // namespace

struct child::handle {
  asio::windows::object_handle process;  // owns the process HANDLE
  HANDLE job;                            // owned
  bool ended_by_us = false;
};

std::string exit_status::describe() const {
  if (!exited) return signal != 0 ? "ended with its job" : "ended (exit status unknown)";
  const auto raw = static_cast<unsigned>(code);
  if (raw >= 0xC0000000u) {  // an NTSTATUS error: an unhandled exception, mostly
    char hex[32];
    std::snprintf(hex, sizeof hex, "exit 0x%08X", raw);
    return hex;
  }
  return "exit " + std::to_string(code);
}

child::child(const asio::any_io_executor& ex, const launched_child& c)
    : pid_(c.pid),
      stdin_(ex),
      stdout_(ex),
      stderr_(ex),
      handle_(std::make_unique<handle>(handle{asio::windows::object_handle(ex), c.job})),
      via_(nullptr),  // no spawn broker on Windows (broker.hpp)
      serial_(c.serial),
      status_pipe_(ex) {
  if (c.process != no_handle) handle_->process.assign(c.process);
  if (c.stdin_fd != no_handle) stdin_.assign(c.stdin_fd);
  if (c.stdout_fd != no_handle) stdout_.assign(c.stdout_fd);
  if (c.stderr_fd != no_handle) stderr_.assign(c.stderr_fd);
}

child::~child() {
  // Everything still in the job ends with it (KILL_ON_JOB_CLOSE); ended
  // first so that it does not depend on another handle to the job.
  if (handle_->job != nullptr && handle_->job != no_handle) {
    if (!exited_) ::TerminateJobObject(handle_->job, kEndedByUs);
    ::CloseHandle(handle_->job);
  }
}

void child::ask_group_to_end() noexcept { end_group_now(); }

void child::end_group_now() noexcept {
  // Also after the child itself exited: what it started is still in the job.
  if (handle_->job == nullptr || handle_->job == no_handle) return;
  if (!exited_) handle_->ended_by_us = true;
  ::TerminateJobObject(handle_->job, kEndedByUs);
}

void child::set_exited(int raw, bool known) {
  exited_ = true;
  if (!known)
    status_ = exit_status{false, 0, 0};
  else if (handle_->ended_by_us && static_cast<UINT>(raw) == kEndedByUs)
    status_ = exit_status{false, 0, kEndedSignal};
  else
    status_ = exit_status{true, raw, 0};
}

asio::awaitable<exit_status> child::wait() {
  if (exited_) co_return status_;
  waiting_ = true;
  auto [ec] = co_await handle_->process.async_wait(asio::as_tuple(asio::use_awaitable));
  waiting_ = false;
  if (ec == asio::error::operation_aborted) co_return exit_status{};  // cancelled: still running
  if (exited_) co_return status_;  // another wait() got there first
  DWORD code = 0;
  const bool known = !ec && ::GetExitCodeProcess(handle_->process.native_handle(), &code);
  set_exited(static_cast<int>(code), known);
  co_return status_;
}

std::optional<exit_status> child::try_wait() {
  if (exited_) return status_;
  if (waiting_ || !handle_->process.is_open()) return std::nullopt;
  HANDLE process = handle_->process.native_handle();
  DWORD code = 0;
  if (::WaitForSingleObject(process, 0) != WAIT_OBJECT_0 || !::GetExitCodeProcess(process, &code))
    return std::nullopt;
  set_exited(static_cast<int>(code), true);
  return status_;
}

asio::awaitable<exit_status> child::terminate(std::chrono::milliseconds /*grace*/) {
  // Nothing can ask a console-less child to end (child.hpp): no grace to give.
  if (exited_) co_return status_;
  end_group_now();
  co_return co_await wait();
}

exit_watch::exit_watch(process_id pid, std::function<void()> ended) {
  HANDLE process = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
  HANDLE wake = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (process != nullptr) process_ = process;
  if (wake != nullptr) wake_ = wake;
  if (process == nullptr || wake == nullptr) return;
  thread_ = std::thread([this, ended = std::move(ended)] {
    HANDLE both[2] = {process_, wake_};
    if (::WaitForMultipleObjects(2, both, FALSE, INFINITE) == WAIT_OBJECT_0 &&
        ::WaitForSingleObject(wake_, 0) != WAIT_OBJECT_0)
      ended();
  });
}

exit_watch::~exit_watch() {
  if (thread_.joinable()) {
    ::SetEvent(wake_);
    thread_.join();
  }
  if (process_ != no_handle) ::CloseHandle(process_);
  if (wake_ != no_handle) ::CloseHandle(wake_);
}

}  // namespace cgihost::spawner
