// launch() on Windows: CreateProcessW (or CreateProcessAsUserW with the
// identity's primary token), suspended, into a Job Object of its own, then
// resumed. See launch.hpp.
#include "spawner/launch.hpp"

#include <windows.h>

#include <algorithm>
#include <atomic>
#include <boost/system/error_code.hpp>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cgihost::spawner {
namespace {

// The exit code of a child ended because its start failed half-way.
constexpr UINT kFailedStart = 137;

// The last error of this thread, with Windows' own message (Boost.System's
// system category asks FormatMessage).
std::error_code last_error() {
  return {static_cast<int>(::GetLastError()), boost::system::system_category()};
}

bool fail(launch_error& error, launch_step step, std::error_code code = last_error(),
          std::string detail = {}) {
  error.step = step;
  error.code = code;
  error.detail = std::move(detail);
  return false;
}

// A HANDLE this file owns until it is released; empty: null or
// INVALID_HANDLE_VALUE (Win32 uses both).
class owned {
 public:
  owned() = default;
  explicit owned(HANDLE h) : h_(h) {}
  owned(const owned&) = delete;
  owned& operator=(const owned&) = delete;
  ~owned() { reset(); }
  owned& operator=(HANDLE h) {
    reset();
    h_ = h;
    return *this;
  }
  bool valid() const { return h_ != nullptr && h_ != INVALID_HANDLE_VALUE; }
  HANDLE get() const { return h_; }
  HANDLE release() { return valid() ? std::exchange(h_, nullptr) : INVALID_HANDLE_VALUE; }
  void reset() {
    if (valid()) ::CloseHandle(h_);
    h_ = nullptr;
  }

 private:
  HANDLE h_ = nullptr;
};

// UTF-8 -> UTF-16; false for bytes that are not UTF-8.
bool widen(const std::string& in, std::wstring& out) {
  out.clear();
  if (in.empty()) return true;
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(),
                                      static_cast<int>(in.size()), nullptr, 0);
  if (n <= 0) return false;
  out.resize(static_cast<std::size_t>(n));
  return ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(),
                               static_cast<int>(in.size()), out.data(), n) == n;
}

// A new pipe: `ours` overlapped (for asio::windows::stream_handle), not
// inheritable; `theirs` synchronous and inheritable (it goes only to the
// child that names it in its handle list). `we_read`: its stdout or stderr;
// else its stdin. A named pipe, because anonymous pipes cannot be
// overlapped; FILE_FLAG_FIRST_PIPE_INSTANCE: a name someone made first is
// never joined.
bool make_pipe(bool we_read, owned& ours, owned& theirs) {
  static std::atomic<unsigned long> serial{0};
  SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
  for (int attempt = 0; attempt < 8; ++attempt) {
    wchar_t name[96];
    std::swprintf(name, 96, L"\\\\.\\pipe\\cgihost-%lu-%lu-%llu", ::GetCurrentProcessId(),
                  serial.fetch_add(1), static_cast<unsigned long long>(::GetTickCount64()));
    ours = ::CreateNamedPipeW(
        name,
        (we_read ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED |
            FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 65536,
        65536, 0, nullptr);
    if (!ours.valid()) {
      if (::GetLastError() == ERROR_ACCESS_DENIED) continue;  // the name is taken
      return false;
    }
    // The attributes the other end may need to query or set its mode, as
    // libuv gives a child's pipes.
    theirs = ::CreateFileW(
        name, we_read ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES,
        0, &inherit, OPEN_EXISTING, 0, nullptr);
    return theirs.valid();
  }
  return false;
}

// The child's three standard handles (inheritable) and our ends of them.
struct child_stdio {
  owned in, out, err;              // the child's
  owned our_in, our_out, our_err;  // ours (our_in empty: no stdin pipe)
};

bool make_stdio(const launch_spec& spec, child_stdio& io, launch_error& error) {
  // A FastCGI program (php-cgi.exe, libfcgi) takes its standard input for
  // a listener only when its standard output and error are
  // INVALID_HANDLE_VALUE, as IIS and mod_fcgid start it: none are made then.
  if (spec.stdin_fd == no_handle &&
      (!make_pipe(true, io.our_out, io.out) || !make_pipe(true, io.our_err, io.err)))
    return fail(error, launch_step::pipes);
  const HANDLE self = ::GetCurrentProcess();
  if (spec.stdin_fd != no_handle) {
    // The caller keeps its handle (not necessarily inheritable): the child
    // inherits a duplicate, closed here once the child has it.
    HANDLE dup = nullptr;
    if (!::DuplicateHandle(self, spec.stdin_fd, self, &dup, 0, TRUE, DUPLICATE_SAME_ACCESS))
      return fail(error, launch_step::stdio);
    io.in = dup;
  } else if (spec.no_input) {
    SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
    io.in = ::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                          OPEN_EXISTING, 0, nullptr);
    if (!io.in.valid()) return fail(error, launch_step::stdio);
  } else if (!make_pipe(false, io.our_in, io.in)) {
    return fail(error, launch_step::pipes);
  }
  return true;
}

// A Job Object that ends everything in it when its last handle closes, and
// never shows a crash dialog, with the limits Windows has (launch.hpp).
bool make_job(const resource_limits& limits, owned& job, launch_error& error) {
  job = ::CreateJobObjectW(nullptr, nullptr);
  if (!job.valid()) return fail(error, launch_step::job);
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
  auto& basic = info.BasicLimitInformation;
  basic.LimitFlags =
      JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  if (limits.address_space) {
    basic.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_MEMORY;
    info.ProcessMemoryLimit = static_cast<SIZE_T>(
        std::min<std::uint64_t>(*limits.address_space, std::numeric_limits<SIZE_T>::max()));
  }
  if (limits.cpu_seconds) {
    // In 100 ns units.
    constexpr std::uint64_t kMaxSeconds = std::numeric_limits<LONGLONG>::max() / 10'000'000;
    basic.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_TIME;
    basic.PerProcessUserTimeLimit.QuadPart =
        static_cast<LONGLONG>(std::min(*limits.cpu_seconds, kMaxSeconds) * 10'000'000);
  }
  if (limits.processes) {
    basic.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
    basic.ActiveProcessLimit =
        static_cast<DWORD>(std::min<std::uint64_t>(*limits.processes, MAXDWORD));
  }
  if (!::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &info, sizeof info))
    return fail(error, launch_step::job);
  return true;
}

// PROC_THREAD_ATTRIBUTE_HANDLE_LIST: the child inherits these and nothing
// else, however many inheritable handles this process holds.
class handle_list {
 public:
  handle_list() = default;
  handle_list(const handle_list&) = delete;
  handle_list& operator=(const handle_list&) = delete;
  ~handle_list() {
    if (list_) ::DeleteProcThreadAttributeList(list_);
  }
  bool make(std::initializer_list<HANDLE> standard, const std::vector<native_handle>& more) {
    auto add = [this](HANDLE h) {
      if (h == nullptr || h == INVALID_HANDLE_VALUE) return;  // a standard handle not given
      if (std::find(handles_.begin(), handles_.end(), h) == handles_.end()) handles_.push_back(h);
    };
    for (HANDLE h : standard) add(h);
    for (HANDLE h : more) add(h);
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    buffer_ = std::make_unique<char[]>(size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buffer_.get());
    if (!::InitializeProcThreadAttributeList(list, 1, 0, &size)) return false;
    list_ = list;
    return ::UpdateProcThreadAttribute(list_, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles_.data(),
                                       handles_.size() * sizeof(HANDLE), nullptr, nullptr);
  }
  LPPROC_THREAD_ATTRIBUTE_LIST get() const { return list_; }

 private:
  std::vector<HANDLE> handles_;  // read by CreateProcess: kept until then
  std::unique_ptr<char[]> buffer_;
  LPPROC_THREAD_ATTRIBUTE_LIST list_ = nullptr;
};

// The environment block: "NAME=value\0" each, sorted by name without regard
// to case (as Windows expects, and GetEnvironmentVariable searches), ended by
// one more NUL (two for an empty block).
bool environment_block(const std::vector<std::string>& env, std::wstring& block) {
  std::vector<std::wstring> entries(env.size());
  for (std::size_t i = 0; i < env.size(); ++i)
    if (!widen(env[i], entries[i])) return false;
  auto name_of = [](const std::wstring& e) {
    const auto eq = e.find(L'=', 1);
    return static_cast<int>(eq == std::wstring::npos ? e.size() : eq);
  };
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    return ::CompareStringOrdinal(a.data(), name_of(a), b.data(), name_of(b), TRUE) ==
           CSTR_LESS_THAN;
  });
  block.clear();
  for (const auto& e : entries) {
    block += e;
    block += L'\0';
  }
  if (entries.empty()) block += L'\0';
  block += L'\0';
  return true;
}

// What CreateProcess reads, in UTF-16.
struct wide_spec {
  std::wstring program, working_dir, environment;
  std::vector<wchar_t> command_line;  // writable: CreateProcessW may change it
};

bool widen_spec(const launch_spec& spec, wide_spec& w, launch_error& error) {
  const auto invalid =
      std::error_code(ERROR_NO_UNICODE_TRANSLATION, boost::system::system_category());
  auto line = windows_command_line(spec.argv);
  if (!line)
    return fail(error, launch_step::command_line,
                std::error_code(ERROR_BAD_ARGUMENTS, boost::system::system_category()),
                "argv is empty, holds a NUL, or argv[0] holds a double quote");
  std::wstring wide_line;
  if (!widen(*line, wide_line) || !widen(spec.program, w.program) ||
      !widen(spec.working_dir, w.working_dir))
    return fail(error, launch_step::command_line, invalid, "not UTF-8");
  if (!environment_block(spec.env, w.environment))
    return fail(error, launch_step::command_line, invalid, "an environment entry is not UTF-8");
  w.command_line.assign(wide_line.begin(), wide_line.end());
  w.command_line.push_back(L'\0');
  return true;
}

// CreateProcess[AsUser]W, suspended; a result without a process handle is a
// failure (a stub may report success without one).
bool create_suspended(const launch_spec& spec, wide_spec& w, child_stdio& io, handle_list& list,
                      PROCESS_INFORMATION& pi, launch_error& error) {
  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = io.in.get();
  si.StartupInfo.hStdOutput = io.out.valid() ? io.out.get() : INVALID_HANDLE_VALUE;
  si.StartupInfo.hStdError = io.err.valid() ? io.err.get() : INVALID_HANDLE_VALUE;
  si.lpAttributeList = list.get();
  const DWORD flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT |
                      CREATE_SUSPENDED;
  const wchar_t* cwd = w.working_dir.empty() ? nullptr : w.working_dir.c_str();
  HANDLE token = spec.as && spec.as->token ? static_cast<HANDLE>(spec.as->token.get()) : nullptr;
  // A child of another account does not inherit our window station (the
  // service's Service-0x0-3e7$, which it may not open: user32 would fail to
  // start in it): an empty name makes Windows connect it to the window
  // station of its own logon session, made on first use.
  wchar_t no_desktop[] = L"";
  if (token) si.StartupInfo.lpDesktop = no_desktop;
  ::SetLastError(ERROR_SUCCESS);
  BOOL ok = token ? ::CreateProcessAsUserW(token, w.program.c_str(), w.command_line.data(), nullptr,
                                           nullptr, TRUE, flags, w.environment.data(), cwd,
                                           &si.StartupInfo, &pi)
                  : ::CreateProcessW(w.program.c_str(), w.command_line.data(), nullptr, nullptr,
                                     TRUE, flags, w.environment.data(), cwd, &si.StartupInfo, &pi);
  if (!ok) return fail(error, launch_step::create_process);
  if (pi.hProcess == nullptr || pi.hProcess == INVALID_HANDLE_VALUE) {
    if (pi.hThread != nullptr && pi.hThread != INVALID_HANDLE_VALUE) ::CloseHandle(pi.hThread);
    return fail(error, launch_step::create_process,
                std::error_code(ERROR_INVALID_HANDLE, boost::system::system_category()),
                "reported success without a process");
  }
  return true;
}

}  // namespace

void freeze_signal_dispositions() {}

std::optional<launched_child> launch(const launch_spec& spec, launch_error& error) {
  error = {};
  wide_spec w;
  child_stdio io;
  owned job;
  handle_list list;
  if (!widen_spec(spec, w, error) || !make_job(spec.limits, job, error) ||
      !make_stdio(spec, io, error))
    return std::nullopt;
  if (!list.make({io.in.get(), io.out.get(), io.err.get()}, spec.inherit)) {
    fail(error, launch_step::handle_list);
    return std::nullopt;
  }
  PROCESS_INFORMATION pi{};
  if (!create_suspended(spec, w, io, list, pi, error)) return std::nullopt;
  owned process(pi.hProcess), thread(pi.hThread);
  // Into its job before its first instruction: whatever it starts is in
  // the job too, and ends with it.
  if (!::AssignProcessToJobObject(job.get(), process.get())) {
    fail(error, launch_step::assign_job);
    ::TerminateProcess(process.get(), kFailedStart);
    return std::nullopt;
  }
  if (::ResumeThread(thread.get()) == static_cast<DWORD>(-1)) {
    fail(error, launch_step::resume);
    ::TerminateJobObject(job.get(), kFailedStart);
    return std::nullopt;
  }
  launched_child out;
  out.pid = pi.dwProcessId;
  out.stdin_fd = io.our_in.release();
  out.stdout_fd = io.our_out.release();
  out.stderr_fd = io.our_err.release();
  out.process = process.release();
  out.job = job.release();
  return out;
}

}  // namespace cgihost::spawner
