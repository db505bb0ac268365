// The spawn broker on Windows, the front end's side: a client of the
// spawner service's named pipe (windows/service.cpp is the other side).
// One pipe connection per lane, message mode, synchronous: a request and its
// reply hold one lane, as on POSIX. See broker.hpp.
#include "spawner/broker.hpp"

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "spawner/broker_wire.hpp"
#include "spawner/windows/late_reply.hpp"
#include "spawner/windows/pipe_message.hpp"
#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner {
namespace {

using wire::kMaxMessage;

// A client end of `pipe`, in message read mode; null with `error`.
HANDLE connect_lane(const std::wstring& pipe, const std::string& shown, std::string& error) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    // Overlapped: the reply's read waits a bounded time (launch()).
    HANDLE h = ::CreateFileW(pipe.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                             FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                             nullptr);
    if (h != INVALID_HANDLE_VALUE) {
      DWORD mode = PIPE_READMODE_MESSAGE;
      if (::SetNamedPipeHandleState(h, &mode, nullptr, nullptr)) return h;
      error = shown + ": SetNamedPipeHandleState: " + win32::message_of(::GetLastError());
      ::CloseHandle(h);
      return nullptr;
    }
    const DWORD e = ::GetLastError();
    // Every instance busy: the service makes the next one as soon as one is
    // taken; wait for it (bounded) rather than fail.
    if (e != ERROR_PIPE_BUSY || !::WaitNamedPipeW(pipe.c_str(), 2000)) {
      if (e != ERROR_PIPE_BUSY || ::GetLastError() != ERROR_SEM_TIMEOUT) {
        error = shown + ": " + win32::message_of(e);
        return nullptr;
      }
    }
  }
  error = shown + ": every pipe instance stays busy";
  return nullptr;
}

// The token user of process `pid` as a SID (bytes) and its DOMAIN\\name;
// false with `error`.
bool process_user(DWORD pid, std::vector<char>& sid, std::string& name, std::string& error) {
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  HANDLE token = nullptr;
  if (!process || !::OpenProcessToken(process, TOKEN_QUERY, &token)) {
    error = "its token cannot be read: " + win32::message_of(::GetLastError());
    if (process) ::CloseHandle(process);
    return false;
  }
  ::CloseHandle(process);
  DWORD size = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<char> buf(size);
  const bool ok = size != 0 && ::GetTokenInformation(token, TokenUser, buf.data(), size, &size);
  ::CloseHandle(token);
  if (!ok) {
    error = "its token's user cannot be read: " + win32::message_of(::GetLastError());
    return false;
  }
  PSID s = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
  sid.assign(static_cast<char*>(s), static_cast<char*>(s) + ::GetLengthSid(s));
  wchar_t n[256], d[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use;
  name = ::LookupAccountSidW(nullptr, s, n, &nn, d, &dn, &use)
             ? (dn != 0 ? win32::narrow(d) + "\\" : std::string()) + win32::narrow(n)
             : std::string("an account without a name");
  return true;
}

// Whether the process serving `pipe` (pid `pid`) runs as `account`; false
// with `error` naming the pid and its account.
bool served_by(DWORD pid, const std::string& account, std::string& error) {
  BYTE want[SECURITY_MAX_SID_SIZE];
  DWORD want_size = sizeof want;
  wchar_t domain[256];
  DWORD dn = 256;
  SID_NAME_USE use;
  if (!::LookupAccountNameW(nullptr, win32::wide(account).c_str(), want, &want_size, domain, &dn,
                            &use)) {
    error = "[identity] spawner_service_account \"" + account +
            "\" names no account: " + win32::message_of(::GetLastError());
    return false;
  }
  std::vector<char> sid;
  std::string name, why;
  if (!process_user(pid, sid, name, why)) {
    error = "served by pid " + std::to_string(pid) + ", not the spawner service: " + why;
    return false;
  }
  if (::EqualSid(want, sid.data())) return true;
  error = "served by pid " + std::to_string(pid) + " running as " + name + ", not as " + account +
          " ([identity] spawner_service_account): refused, it is not the spawner service";
  return false;
}

std::string shown_duration(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s"
                               : std::to_string(d.count()) + " ms";
}

// read_message with a bound: -3 when `timeout` passed first (the read is
// cancelled; the lane's state is then unknown).
int read_reply(HANDLE pipe, std::string& message, std::chrono::milliseconds timeout) {
  HANDLE timer = ::CreateWaitableTimerW(nullptr, TRUE, nullptr);
  if (!timer) return -1;
  LARGE_INTEGER due;
  due.QuadPart = -static_cast<LONGLONG>(timeout.count()) * 10000;  // relative, 100 ns units
  if (!::SetWaitableTimer(timer, &due, 0, nullptr, nullptr, FALSE)) {
    ::CloseHandle(timer);
    return -1;
  }
  int got = win32::read_message(pipe, message, timer);
  if (got == -1 && ::WaitForSingleObject(timer, 0) == WAIT_OBJECT_0) got = -3;
  ::CloseHandle(timer);
  return got;
}

native_handle ours(std::uint64_t value) {
  return value == 0 ? no_handle : reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value));
}

int close_values(const wire::launch_started& s) {
  int closed = 0;
  for (auto v : {s.stdin_handle, s.stdout_handle, s.stderr_handle, s.process_handle, s.job_handle})
    if (v != 0 && ::CloseHandle(ours(v))) ++closed;
  return closed;
}

}  // namespace

int win32::drop_late_reply(HANDLE pipe) {
  std::string message;
  if (win32::take_message(pipe, message) != 1) return 0;
  if (const auto token = wire::decode_token_reply(message)) {
    const auto* granted = std::get_if<wire::token_granted>(&*token);
    return granted && ::CloseHandle(ours(granted->token_handle)) ? 1 : 0;
  }
  const auto reply = wire::decode_launch_reply(message);
  if (!reply) return 0;
  const auto* started = std::get_if<wire::launch_started>(&*reply);
  return started ? close_values(*started) : 0;
}

std::string broker::pipe_name(const std::string& service) {
  return "\\\\.\\pipe\\" + service + "-spawner";
}

std::unique_ptr<broker> broker::start(const std::vector<identity>& /*allowed*/, std::string& error,
                                      unsigned /*lanes*/,
                                      const std::vector<std::string>& /*log_files*/,
                                      reread_fn /*reread*/) {
  error =
      "not available on Windows: the privileged spawner is a service of its own "
      "([identity] spawner_service, broker::connect)";
  return nullptr;
}

// A lane to `pipe` whose server runs as `account` (unchecked when empty):
// the server's pid in `pid`; null with `error`.
HANDLE broker_lane(const std::string& shown, const std::string& account, ULONG& pid,
                   std::string& error) {
  HANDLE h = connect_lane(win32::wide(shown), shown, error);
  if (!h) return nullptr;
  if (!::GetNamedPipeServerProcessId(h, &pid)) {
    error = shown + ": GetNamedPipeServerProcessId: " + win32::message_of(::GetLastError());
  } else if (!account.empty() && !served_by(pid, account, error)) {
    error = shown + ": " + error;
  } else {
    return h;
  }
  ::CloseHandle(h);
  return nullptr;
}

std::unique_ptr<broker> broker::connect(const std::string& service, std::string& error,
                                        unsigned lanes, const std::string& server_account) {
  lanes = std::clamp(lanes, 1u, 64u);
  auto b = std::unique_ptr<broker>(new broker());
  b->pipe_ = pipe_name(service);
  b->server_account_ = server_account;
  // Each lane's server is checked before anything is sent on it.
  for (unsigned i = 0; i < lanes; ++i) {
    ULONG pid = 0;
    HANDLE h = broker_lane(b->pipe_, server_account, pid, error);
    if (!h) return nullptr;  // ~broker closes the lanes made so far
    b->lanes_.push_back(std::make_unique<lane>());
    b->lanes_.back()->fd = h;
    if (i == 0) b->pid_ = pid;
  }
  set_access_token_source(
      b.get(), [raw = b.get()](const identity& id, std::string& why, bool& logon_failed) {
        return raw->access_token(id, why, logon_failed);
      });
  return b;
}

broker::~broker() {
  clear_access_token_source(this);
  for (auto& l : lanes_)
    if (l->fd != no_handle) ::CloseHandle(l->fd);
}

std::unique_lock<std::mutex> broker::free_lane(native_handle& fd, lane** which) {
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    auto& l = *lanes_[(first + i) % lanes_.size()];
    std::unique_lock lock(l.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      fd = l.fd;
      if (which) *which = &l;
      return lock;
    }
  }
  auto& l = *lanes_[first % lanes_.size()];
  std::unique_lock lock(l.mu);
  fd = l.fd;  // read under the lock: a timed-out lane is replaced under it
  if (which) *which = &l;
  return lock;
}

bool broker::exchange(const std::string& request, std::string& reply, launch_error& error) {
  auto fail = [&](std::error_code code, std::string detail) {
    error.step = launch_step::broker;
    error.code = code;
    error.detail = std::move(detail);
    return false;
  };
  native_handle pipe = no_handle;
  lane* l = nullptr;
  auto lock = free_lane(pipe, &l);
  std::string why;
  if (pipe == no_handle) {  // closed after a reply that did not come: connect again
    ULONG pid = 0;
    HANDLE h = broker_lane(pipe_, server_account_, pid, why);
    if (!h)
      return fail(std::make_error_code(std::errc::broken_pipe),
                  "the spawner service cannot be reached again: " + why);
    pipe = l->fd = h;
  }
  const int got = win32::write_message(pipe, request) ? read_reply(pipe, reply, reply_timeout_) : 0;
  if (got == -3) {
    // The service is wedged: this lane's reply may still come, or never;
    // either way the lane cannot be used again. A reply already there is
    // taken and its handles closed; one written later finds the lane
    // closed, and the service takes its handles back.
    win32::drop_late_reply(pipe);
    ::CloseHandle(pipe);
    l->fd = no_handle;
    return fail(std::make_error_code(std::errc::timed_out),
                "the spawner service did not answer within " + shown_duration(reply_timeout_) +
                    ": its pipe connection is closed");
  }
  if (got != 1)
    return fail(std::make_error_code(std::errc::broken_pipe),
                "the spawner service is gone (no answer on its pipe)");
  return true;
}

std::optional<launched_child> broker::launch(const launch_spec& spec, launch_error& error) {
  error = {};
  auto fail = [&](launch_step step, std::error_code code, std::string detail) {
    error.step = step;
    error.code = code;
    error.detail = std::move(detail);
    return std::nullopt;
  };
  const std::string request = wire::encode(wire::make_launch_request(spec));
  if (request.size() > kMaxMessage)
    return fail(launch_step::broker, std::make_error_code(std::errc::argument_list_too_long),
                "spawn request larger than 1 MiB (argv and environment)");
  std::string message;
  if (!exchange(request, message, error)) return std::nullopt;
  auto reply = wire::decode_launch_reply(message);
  if (!reply)
    return fail(launch_step::broker, std::make_error_code(std::errc::protocol_error),
                "malformed answer from the spawner service");
  if (auto* failed = std::get_if<wire::launch_failed>(&*reply))
    return fail(failed->step, win32::error_of(static_cast<DWORD>(failed->error)), failed->detail);
  const auto& started = std::get<wire::launch_started>(*reply);
  if (started.process_handle == 0 || started.job_handle == 0) {
    close_values(started);
    return fail(launch_step::broker, std::make_error_code(std::errc::protocol_error),
                "the spawner service answered without the child's process or job");
  }
  launched_child c;
  c.pid = started.pid;
  c.serial = started.serial;
  c.stdin_fd = ours(started.stdin_handle);
  c.stdout_fd = ours(started.stdout_handle);
  c.stderr_fd = ours(started.stderr_handle);
  c.process = ours(started.process_handle);
  c.job = ours(started.job_handle);
  return c;  // via stays null: the child is ours to wait for and end (its job)
}

std::shared_ptr<void> broker::access_token(const identity& id, std::string& why,
                                           bool& logon_failed) {
  logon_failed = false;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(tokens_mu_);
    if (auto it = tokens_.find(id.sid); it != tokens_.end()) {
      if (now < it->second.until) return it->second.token;
      tokens_.erase(it);
    }
  }
  std::string message;
  launch_error error;
  if (!exchange(wire::encode(wire::token_request{id.name}), message, error)) {
    why = error.detail;
    return nullptr;
  }
  auto reply = wire::decode_token_reply(message);
  if (!reply) {
    why = "malformed answer from the spawner service";
    return nullptr;
  }
  if (auto* failed = std::get_if<wire::launch_failed>(&*reply)) {
    logon_failed = failed->step == launch_step::logon;
    why = "the spawner service: " + failed->detail;
    return nullptr;
  }
  std::shared_ptr<void> token(ours(std::get<wire::token_granted>(*reply).token_handle),
                              [](void* h) { ::CloseHandle(h); });
  std::lock_guard lock(tokens_mu_);
  tokens_[id.sid] = {token, now + std::chrono::seconds(30)};
  return token;
}

bool broker::signal_group(process_id, std::uint64_t, int) { return false; }

bool broker::reload(std::string&, std::string& error) {
  error =
      "the spawner service reads its config at its own start: restart it (net stop / net start) "
      "to change the accounts it serves";
  return false;
}

std::optional<std::vector<broker::reopened_file>> broker::reopen_logs(std::string& error) {
  error = "the spawner service does not reopen log files";
  return std::nullopt;
}

std::optional<launched_child> start_child(broker* via, const launch_spec& spec,
                                          launch_error& error) {
  return via ? via->launch(spec, error) : launch(spec, error);
}

std::optional<int> read_status(native_handle, std::chrono::milliseconds) { return std::nullopt; }

}  // namespace cgihost::spawner
