// The spawner service's pipe server. See service.hpp.
#include "spawner/windows/service.hpp"

#include <windows.h>
// After <windows.h>:
#include <aclapi.h>
#include <sddl.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "spawner/broker_wire.hpp"
#include "spawner/launch.hpp"
#include "spawner/windows/pipe_message.hpp"
#include "spawner/windows/win32_util.hpp"

namespace cgihost::spawner::service {
namespace {

constexpr DWORD kBuffer = 64 * 1024;
// In an account logon's error when the token was refused (not a logon failure).
constexpr std::string_view kRefusedToken = "its token is refused: ";

struct closer {
  void operator()(void* h) const {
    if (h && h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
  }
};
using unique_handle = std::unique_ptr<void, closer>;

std::shared_ptr<void> shared_handle(HANDLE h) { return std::shared_ptr<void>(h, closer{}); }

std::string sid_string(PSID sid) {
  wchar_t* text = nullptr;
  if (!::ConvertSidToStringSidW(sid, &text)) return {};
  std::string out = win32::narrow(text);
  ::LocalFree(text);
  return out;
}

std::string account_name(PSID sid) {
  wchar_t name[256], domain[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use{};
  if (!::LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use)) return sid_string(sid);
  return (dn ? win32::narrow(std::wstring_view(domain, dn)) + "\\" : std::string()) +
         win32::narrow(std::wstring_view(name, nn));
}

// A token's user SID as text ("" when it cannot be read), and its name.
std::string token_user(HANDLE token, std::string* name = nullptr) {
  DWORD size = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<unsigned char> buf(size);
  if (size == 0 || !::GetTokenInformation(token, TokenUser, buf.data(), size, &size)) return {};
  PSID sid = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
  if (name) *name = account_name(sid);
  return sid_string(sid);
}

// A token's information of `cls`, or an empty buffer when it cannot be read.
std::vector<unsigned char> token_info(HANDLE token, TOKEN_INFORMATION_CLASS cls) {
  DWORD size = 0;
  ::GetTokenInformation(token, cls, nullptr, 0, &size);
  std::vector<unsigned char> buf(size);
  if (size == 0 || !::GetTokenInformation(token, cls, buf.data(), size, &size)) buf.clear();
  return buf;
}

// The first enabled group of the token among those that administer the
// machine (deny-only is fine: a UAC-filtered token), "" when none; "?" when
// the groups cannot be read (taken for the worst).
std::string powerful_group(HANDLE token) {
  static const char* const kGroups[] = {"S-1-5-32-544", "S-1-5-32-548", "S-1-5-32-549",
                                        "S-1-5-32-550", "S-1-5-32-551"};
  const auto buf = token_info(token, TokenGroups);
  if (buf.empty()) return "?";
  const auto* groups = reinterpret_cast<const TOKEN_GROUPS*>(buf.data());
  for (DWORD i = 0; i < groups->GroupCount; ++i) {
    if (!(groups->Groups[i].Attributes & SE_GROUP_ENABLED)) continue;
    const std::string sid = sid_string(groups->Groups[i].Sid);
    for (const char* g : kGroups)
      if (sid == g) return sid;
  }
  return {};
}

// The first privilege the token holds (enabled or not) that makes its
// holder the machine's master, "" when none; "?" when they cannot be read.
std::string powerful_privilege(HANDLE token) {
  static const wchar_t* const kPrivileges[] = {
      SE_DEBUG_NAME,          SE_TCB_NAME,         SE_BACKUP_NAME,      SE_RESTORE_NAME,
      SE_TAKE_OWNERSHIP_NAME, SE_LOAD_DRIVER_NAME, SE_IMPERSONATE_NAME, SE_ASSIGNPRIMARYTOKEN_NAME,
      SE_CREATE_TOKEN_NAME};
  const auto buf = token_info(token, TokenPrivileges);
  if (buf.empty()) return "?";
  const auto* privs = reinterpret_cast<const TOKEN_PRIVILEGES*>(buf.data());
  for (const wchar_t* name : kPrivileges) {
    LUID luid{};
    if (!::LookupPrivilegeValueW(nullptr, name, &luid)) continue;
    for (DWORD i = 0; i < privs->PrivilegeCount; ++i)
      if (privs->Privileges[i].Luid.LowPart == luid.LowPart &&
          privs->Privileges[i].Luid.HighPart == luid.HighPart)
        return win32::narrow(name);
  }
  return {};
}

}  // namespace

// Why a child must not run with `token` ("" when it may). See service.hpp.
std::string token_refusal(HANDLE token, const std::string& server_sid, bool forwarded) {
  std::string name;
  const std::string sid = token_user(token, &name);
  if (sid.empty()) return "its user cannot be read (TokenUser)";
  const std::string who = name + " (" + sid + ")";
  // The server account's own token stays accepted whatever its SID (an app
  // pool identity is S-1-5-82-*): the only process that can present one
  // already runs as that account. The Wine tests depend on it, since Wine
  // has one user.
  if (forwarded && !sid.starts_with("S-1-5-21-") && sid != server_sid)
    return who + " is no domain or local user (never a system or service account)";
  // An account the config names is the administrator's choice (IIS's
  // anonymous IUSR is S-1-5-17), but never LocalSystem.
  if (sid == "S-1-5-18") return who + " is LocalSystem";
  if (const auto g = powerful_group(token); !g.empty())
    return who + (g == "?" ? " has groups that cannot be read"
                           : " has the group " + g + " enabled (an administrator's)");
  if (const auto p = powerful_privilege(token); !p.empty())
    return who + (p == "?" ? " has privileges that cannot be read" : " holds " + p);
  // No rule on the integrity level (above Medium: refused) yet: Wine reports
  // High for every token of its one user, a restricted one too, and ignores
  // SetTokenInformation(TokenIntegrityLevel), so no test could show it.
  return {};
}

namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- the pipe's security: the server account reads and writes; this
// service's own account only makes more instances.
struct pipe_security {
  PSECURITY_DESCRIPTOR sd = nullptr;
  SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};
  ~pipe_security() {
    if (sd) ::LocalFree(sd);
  }
  bool make(const std::string& server_sid, std::string& error) {
    HANDLE token = nullptr;
    std::string self;
    if (::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) {
      self = token_user(token);
      ::CloseHandle(token);
    }
    // 0x12019b: FILE_GENERIC_READ | FILE_GENERIC_WRITE without 0x4
    // (FILE_APPEND_DATA, which on a pipe is FILE_CREATE_PIPE_INSTANCE: the
    // server account must not make rogue instances); 0x4 alone for this
    // service's own account.
    const std::string sddl = "D:P(A;;0x12019b;;;" + server_sid + ")" +
                             (self.empty() ? std::string() : "(A;;0x4;;;" + self + ")");
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(win32::wide(sddl).c_str(),
                                                                SDDL_REVISION_1, &sd, nullptr)) {
      error = "the pipe's DACL " + sddl + ": " + win32::message_of(::GetLastError());
      return false;
    }
    sa.lpSecurityDescriptor = sd;
    return true;
  }
};

// Lets the server account wait for this process (the front end watches the
// service's pid, as POSIX's cgihost watches its broker): SYNCHRONIZE and
// PROCESS_QUERY_LIMITED_INFORMATION on this process, nothing more.
void allow_watch_by(const std::string& server_sid, const settings& s) {
  PSID sid = nullptr;
  if (!::ConvertStringSidToSidW(win32::wide(server_sid).c_str(), &sid)) return;
  PACL old_dacl = nullptr, new_dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  DWORD r = ::GetSecurityInfo(::GetCurrentProcess(), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                              nullptr, nullptr, &old_dacl, nullptr, &sd);
  if (r == ERROR_SUCCESS) {
    EXPLICIT_ACCESSW ea{};
    ea.grfAccessPermissions = SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION;
    ea.grfAccessMode = GRANT_ACCESS;
    ea.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    ea.Trustee.ptstrName = static_cast<LPWSTR>(sid);
    r = ::SetEntriesInAclW(1, &ea, old_dacl, &new_dacl);
  }
  if (r == ERROR_SUCCESS)
    r = ::SetSecurityInfo(::GetCurrentProcess(), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                          nullptr, nullptr, new_dacl, nullptr);
  if (r != ERROR_SUCCESS)
    s.log(level::warn, "the front end may not see this service end (its process DACL: " +
                           win32::message_of(r) + ")");
  if (new_dacl) ::LocalFree(new_dacl);
  if (sd) ::LocalFree(sd);
  ::LocalFree(sid);
}

// FastCGI's shutdown event is named to the child by its handle value, in
// decimal (_FCGI_SHUTDOWN_EVENT_, as php-cgi and libfcgi read it). The child
// inherits this service's duplicate, whose value is not the front end's:
// the variable is given the value the child will see. No other variable is
// touched (a request's CONTENT_LENGTH may hold any number).
void renumber_shutdown_event(launch_spec& spec, const std::vector<std::uint64_t>& theirs) {
  constexpr std::string_view kName = "_FCGI_SHUTDOWN_EVENT_=";
  for (auto& e : spec.env) {
    if (!e.starts_with(kName)) continue;
    const std::string value = e.substr(kName.size());
    for (std::size_t i = 0; i < theirs.size() && i < spec.inherit.size(); ++i)
      if (value == std::to_string(theirs[i]))
        e = std::string(kName) + std::to_string(reinterpret_cast<std::uintptr_t>(spec.inherit[i]));
  }
}

// ---- one connection
class connection {
 public:
  connection(std::shared_ptr<const settings> s, HANDLE pipe) : keep_(std::move(s)), pipe_(pipe) {}

  void run() {
    if (!admit()) return;
    std::string message;
    while (true) {
      const int r = win32::read_message(pipe_.get(), message);
      if (r == 0 || r == -1) return;
      std::string reply = r == -2 ? refusal("malformed request (over 1 MiB)") : answer(message);
      if (s_.replying) s_.replying();
      const bool sent = win32::write_message(pipe_.get(), reply);
      if (handed_) settle(sent);
      if (!sent) return;
    }
  }

 private:
  // The second gate: the process at the other end runs as the server account.
  bool admit() {
    ULONG pid = 0;
    if (!::GetNamedPipeClientProcessId(pipe_.get(), &pid)) {
      s_.log(level::warn, "a pipe client whose process cannot be known was closed: " +
                              win32::message_of(::GetLastError()));
      return false;
    }
    client_.reset(
        ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_DUP_HANDLE, FALSE, pid));
    HANDLE token = nullptr;
    std::string sid, name = "an account that cannot be read";
    if (client_ && ::OpenProcessToken(client_.get(), TOKEN_QUERY, &token)) {
      sid = token_user(token, &name);
      ::CloseHandle(token);
    }
    if (!client_ || sid != s_.server_sid) {
      s_.log(level::warn, "refused a pipe client: pid " + std::to_string(pid) + " runs as " + name +
                              (sid.empty() ? "" : " (" + sid + ")") +
                              ", not as the [identity] server account " + s_.server_name);
      return false;
    }
    pid_ = pid;
    return true;
  }

  static std::string refusal(const std::string& why, DWORD error = ERROR_ACCESS_DENIED,
                             launch_step step = launch_step::broker) {
    return wire::encode(
        wire::launch_reply{wire::launch_failed{step, static_cast<int>(error), why}});
  }

  std::string answer(const std::string& message) {
    if (auto token = wire::decode_token_request(message)) return token_for(token->account);
    auto request = wire::decode_request(message);
    if (!request) return refusal("malformed request", ERROR_INVALID_PARAMETER);
    if (std::holds_alternative<wire::signal_request>(*request))
      return wire::encode_signal_reply(false);  // Windows ends a child through its job
    if (std::holds_alternative<wire::reopen_request>(*request))
      return refusal("log reopening is not supported by the spawner service", ERROR_NOT_SUPPORTED);
    return launch_for(std::get<wire::launch_request>(*request));
  }

  std::string launch_for(wire::launch_request& r);
  std::optional<identity> forwarded(std::uint64_t value, std::string& why);
  std::optional<identity> allowed(const std::string& name, std::string& why, bool& logon_failed);
  unique_handle from_client(std::uint64_t value, std::string& why);
  std::uint64_t to_client(HANDLE h, DWORD access, bool close_source);
  std::string started_reply(const launched_child& c);
  std::string token_for(const std::string& account);
  void take_back(const std::vector<std::uint64_t>& values);
  void settle(bool sent);

  // What the reply being written gives the client: handles already in it
  // (their values there), and a child's job, this service's copy held until
  // the reply is written.
  struct handed {
    std::vector<std::uint64_t> values;
    unique_handle job;
    std::string what;  // "pid N", "a token of ACCOUNT"
  };

  std::shared_ptr<const settings> keep_;  // the settings outlive serve() for this thread
  const settings& s_ = *keep_;
  unique_handle pipe_;
  unique_handle client_;
  ULONG pid_ = 0;
  std::optional<handed> handed_;
};

// A handle of the client duplicated into this process (inheritable: it is
// for a child), or null with `why`.
unique_handle connection::from_client(std::uint64_t value, std::string& why) {
  if (value == 0 || value >= 0xFFFFFFFFFFFFFFF0ull) {  // none, or a pseudo-handle
    why = "handle " + hex(value) + " of the front end is no handle it may pass";
    return nullptr;
  }
  HANDLE out = nullptr;
  if (!::DuplicateHandle(client_.get(),
                         reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value)),
                         ::GetCurrentProcess(), &out, 0, TRUE, DUPLICATE_SAME_ACCESS)) {
    why = "handle " + hex(value) + " of the front end (pid " + std::to_string(pid_) +
          "): DuplicateHandle: " + win32::message_of(::GetLastError());
    return nullptr;
  }
  return unique_handle(out);
}

// `h` duplicated into the client with `access` (0: the same); its value
// there, or 0.
std::uint64_t connection::to_client(HANDLE h, DWORD access, bool close_source) {
  HANDLE out = nullptr;
  const DWORD options =
      (access == 0 ? DUPLICATE_SAME_ACCESS : 0) | (close_source ? DUPLICATE_CLOSE_SOURCE : 0);
  if (!::DuplicateHandle(::GetCurrentProcess(), h, client_.get(), &out, access, FALSE, options))
    return 0;
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(out));
}

// The token IIS forwarded to the front end, duplicated out of it and made a
// primary token: its identity, or nullopt with `why`.
std::optional<identity> connection::forwarded(std::uint64_t value, std::string& why) {
  if (!s_.iis_token) {
    why = "a forwarded token, but [authentication] iis_token is off";
    return std::nullopt;
  }
  HANDLE given = nullptr;
  if (!::DuplicateHandle(client_.get(),
                         reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value)),
                         ::GetCurrentProcess(), &given, TOKEN_QUERY | TOKEN_DUPLICATE, FALSE, 0)) {
    why = "the forwarded token " + hex(value) +
          " is no token of the front end: " + win32::message_of(::GetLastError());
    return std::nullopt;
  }
  unique_handle token(given);
  identity id;
  id.sid = token_user(token.get(), &id.system_name);
  id.name = id.system_name;
  if (id.sid.empty()) {
    why = "the forwarded token " + hex(value) + " is no token (TokenUser cannot be read)";
    return std::nullopt;
  }
  if (const auto bad = token_refusal(token.get(), s_.server_sid); !bad.empty()) {
    why = "the forwarded token is refused: " + bad;
    return std::nullopt;
  }
  HANDLE primary = nullptr;
  if (!::DuplicateTokenEx(token.get(), TOKEN_ALL_ACCESS, nullptr, SecurityImpersonation,
                          TokenPrimary, &primary)) {
    why = "the forwarded token: DuplicateTokenEx: " + win32::message_of(::GetLastError());
    return std::nullopt;
  }
  id.token = shared_handle(primary);
  return id;
}

// The allowed account `name` with its token (logged on now, or cached).
std::optional<identity> connection::allowed(const std::string& name, std::string& why,
                                            bool& logon_failed) {
  for (const auto& a : s_.allowed) {
    if (a.name != name) continue;
    identity id = a;
    id.token = s_.logon ? s_.logon(a, why) : account_token(a, s_.password_file, why, s_.server_sid);
    if (id.token && s_.logon) {
      if (auto bad = token_refusal(id.token.get(), s_.server_sid, false); !bad.empty()) {
        why = "account " + a.name + ": " + std::string(kRefusedToken) + bad;
        id.token.reset();
      }
    }
    logon_failed = !id.token && why.find(kRefusedToken) == std::string::npos;
    if (!id.token) return std::nullopt;
    return id;
  }
  why = name.empty() ? std::string("a spawn request without an account (never as LocalSystem)")
                     : "account \"" + name + "\" is not one the config allows";
  return std::nullopt;
}

std::string connection::launch_for(wire::launch_request& r) {
  if (!wire::well_formed(r.spec) || (r.has_stdin != (r.stdin_handle != 0)))
    return refusal("malformed spawn request", ERROR_INVALID_PARAMETER);
  std::string why;
  bool logon_failed = false;
  auto as = r.token ? forwarded(r.token, why) : allowed(r.account, why, logon_failed);
  if (!as) {
    s_.log(level::warn,
           "refused a spawn request of the front end (pid " + std::to_string(pid_) + "): " + why);
    return logon_failed ? refusal("logon of " + r.account + ": " + why, ERROR_LOGON_FAILURE,
                                  launch_step::logon)
                        : refusal(why);
  }
  std::vector<unique_handle> in;  // closed once the child has its own
  launch_spec spec = std::move(r.spec);
  spec.as = std::move(as);
  if (r.has_stdin) {
    in.push_back(from_client(r.stdin_handle, why));
    spec.stdin_fd = in.back().get();
  }
  for (auto v : r.inherit) {
    in.push_back(from_client(v, why));
    spec.inherit.push_back(in.back().get());
  }
  for (const auto& h : in)
    if (!h) return refusal(why, ERROR_INVALID_HANDLE);
  renumber_shutdown_event(spec, r.inherit);
  launch_error lerr;
  auto child = spawner::launch(spec, lerr);
  if (!child) {
    const bool win32_code = lerr.code.category() == std::system_category();
    return refusal(lerr.detail.empty() ? lerr.code.message() : lerr.detail,
                   win32_code ? static_cast<DWORD>(lerr.code.value()) : ERROR_GEN_FAILURE,
                   lerr.step);
  }
  s_.log(level::info, "started pid " + std::to_string(child->pid) + " for the front end (pid " +
                          std::to_string(pid_) + ") as " + spec.as->describe() + ": " +
                          spec.program);
  return started_reply(*child);
}

// The child's handles moved into the client (ours closed on every path but
// the job's, kept until the reply is written: settle): the reply saying so,
// or a refusal (the child then ends with its job).
std::string connection::started_reply(const launched_child& c) {
  wire::launch_started out;
  out.pid = c.pid;
  out.has_stdin = c.stdin_fd != no_handle;
  if (out.has_stdin) out.stdin_handle = to_client(c.stdin_fd, 0, true);
  out.stdout_handle = c.stdout_fd != no_handle ? to_client(c.stdout_fd, 0, true) : 0;
  out.stderr_handle = c.stderr_fd != no_handle ? to_client(c.stderr_fd, 0, true) : 0;
  out.process_handle = to_client(c.process, SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, false);
  out.job_handle = to_client(c.job, JOB_OBJECT_TERMINATE | JOB_OBJECT_QUERY, false);
  ::CloseHandle(c.process);
  unique_handle job(c.job);
  const bool moved = out.process_handle != 0 && out.job_handle != 0 &&
                     (!out.has_stdin || out.stdin_handle != 0) &&
                     (c.stdout_fd == no_handle || out.stdout_handle != 0) &&
                     (c.stderr_fd == no_handle || out.stderr_handle != 0);
  const std::vector<std::uint64_t> values{out.stdin_handle, out.stdout_handle, out.stderr_handle,
                                          out.process_handle, out.job_handle};
  if (!moved) {
    ::TerminateJobObject(job.get(), 137);
    take_back(values);
    return refusal("the child's handles could not be given to the front end (pid " +
                       std::to_string(pid_) + ")",
                   ERROR_INVALID_HANDLE);
  }
  handed_ = handed{values, std::move(job), "pid " + std::to_string(out.pid)};
  return wire::encode(wire::launch_reply{out});
}

// An identification-level token of the allowed account `account`
// (SecurityIdentification: AccessCheck only), given to the client with
// TOKEN_QUERY: the reply naming it, or a refusal (step `logon` when the
// account's logon failed).
std::string connection::token_for(const std::string& account) {
  std::string why;
  bool logon_failed = false;
  auto as = allowed(account, why, logon_failed);
  if (!as) {
    s_.log(level::warn,
           "refused a token request of the front end (pid " + std::to_string(pid_) + "): " + why);
    return logon_failed ? refusal("logon of " + account + ": " + why, ERROR_LOGON_FAILURE,
                                  launch_step::logon)
                        : refusal(why);
  }
  HANDLE ident = nullptr;
  if (!::DuplicateTokenEx(as->token.get(), TOKEN_QUERY, nullptr, SecurityIdentification,
                          TokenImpersonation, &ident)) {
    const DWORD e = ::GetLastError();
    return refusal("the token of " + account + ": DuplicateTokenEx: " + win32::message_of(e), e);
  }
  const std::uint64_t value = to_client(ident, TOKEN_QUERY, true);  // ours closed
  if (value == 0)
    return refusal("the token of " + account + " could not be given to the front end (pid " +
                       std::to_string(pid_) + ")",
                   ERROR_INVALID_HANDLE);
  handed_ = handed{{value}, nullptr, "a token of " + account};
  return wire::encode(wire::token_reply{wire::token_granted{value}});
}

// Closes the client's copies of the child's handles (DUPLICATE_CLOSE_SOURCE
// from the client): a reply it never read named them, so nothing there
// would ever close them.
void connection::take_back(const std::vector<std::uint64_t>& values) {
  for (auto v : values)
    if (v != 0)
      ::DuplicateHandle(client_.get(), reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v)),
                        nullptr, nullptr, 0, FALSE, DUPLICATE_CLOSE_SOURCE);
}

// After a reply that hands handles over: written (`sent`), the front end's
// job handle alone holds a child's job; not written (the front end gave up
// waiting and closed its lane, or is gone), the child ends with its job and
// the handles given to the front end are closed there.
void connection::settle(bool sent) {
  handed h = std::move(*handed_);
  handed_.reset();
  if (sent) return;  // h.job closes: from now on the front end's handle holds the job
  if (h.job) ::TerminateJobObject(h.job.get(), 137);
  take_back(h.values);
  s_.log(level::warn,
         "the front end (pid " + std::to_string(pid_) + ") did not take the reply for " + h.what +
             " (it gave up waiting): " +
             (h.job ? "its job is ended and its handles there closed" : "its handle there closed"));
}

HANDLE new_instance(const std::wstring& pipe, bool first, pipe_security& sec) {
  return ::CreateNamedPipeW(
      pipe.c_str(),
      PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
      PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
      PIPE_UNLIMITED_INSTANCES, kBuffer, kBuffer, 0, &sec.sa);
}

// Waits for a client on `pipe`: 1 connected, 0 stopped, -1 this instance
// failed, -2 the wait itself failed (`error` says why).
int await_client(HANDLE pipe, HANDLE stop, std::string& error) {
  OVERLAPPED ov{};
  unique_handle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!event) {
    error = "CreateEventW: " + win32::message_of(::GetLastError());
    return -2;
  }
  ov.hEvent = event.get();
  if (::ConnectNamedPipe(pipe, &ov)) return 1;
  const DWORD e = ::GetLastError();
  if (e == ERROR_PIPE_CONNECTED) return 1;
  if (e != ERROR_IO_PENDING) return -1;
  HANDLE both[2] = {ov.hEvent, stop};
  const DWORD w = ::WaitForMultipleObjects(2, both, FALSE, INFINITE);
  if (w != WAIT_OBJECT_0) {
    const DWORD wait_error = ::GetLastError();
    ::CancelIoEx(pipe, &ov);
    DWORD ignored;
    ::GetOverlappedResult(pipe, &ov, &ignored, TRUE);
    if (w == WAIT_OBJECT_0 + 1) return 0;
    error = "WaitForMultipleObjects: " +
            (w == WAIT_FAILED ? win32::message_of(wait_error) : "result " + std::to_string(w));
    return -2;
  }
  DWORD ignored;
  return ::GetOverlappedResult(pipe, &ov, &ignored, FALSE) ? 1 : -1;
}

// The logon caches' key: the account's SID and the password file's last
// write (a changed file takes effect without a restart).
std::string cache_key(const identity& account, const std::filesystem::path& password_file) {
  std::error_code ec;
  const auto written = password_file.empty() ? std::filesystem::file_time_type{}
                                             : std::filesystem::last_write_time(password_file, ec);
  return account.sid + "|" + std::to_string(written.time_since_epoch().count());
}

struct failed_logon {
  std::string error;
  std::chrono::steady_clock::time_point until;
};

std::mutex tokens_mu;
std::map<std::string, std::shared_ptr<void>> tokens;  // each account's first success, for good
std::map<std::string, failed_logon> failures;         // each account's failure, for 30 s

}  // namespace

std::shared_ptr<void> account_token(const identity& account,
                                    const std::filesystem::path& password_file, std::string& error,
                                    const std::string& server_sid) {
  const std::string key = cache_key(account, password_file);
  {
    std::lock_guard lock(tokens_mu);
    if (auto it = tokens.find(key); it != tokens.end()) return it->second;
    if (auto it = failures.find(key); it != failures.end()) {
      if (std::chrono::steady_clock::now() < it->second.until) {
        error = it->second.error + " (a failure of the last 30 s, not retried yet)";
        return nullptr;
      }
      failures.erase(it);
    }
  }
  auto token = spawner::account_token(
      spawner::account{account.name, account.uid, account.gid, account.home, account.sid},
      password_file, error);
  std::lock_guard lock(tokens_mu);
  if (!token) {
    failures[key] = {error, std::chrono::steady_clock::now() + std::chrono::seconds(30)};
    return nullptr;
  }
  if (const auto bad = token_refusal(token.get(), server_sid, false); !bad.empty()) {
    error = "account " + account.name + ": " + std::string(kRefusedToken) + bad;
    return nullptr;  // not cached: the account may change
  }
  return tokens.emplace(key, token).first->second;
}

bool serve(const settings& s, native_handle stop, std::string& error) {
  const std::string shown = "\\\\.\\pipe\\" + s.name + "-spawner";
  const std::wstring pipe = win32::wide(shown);
  pipe_security sec;
  if (!sec.make(s.server_sid, error)) return false;
  HANDLE next = new_instance(pipe, true, sec);
  if (next == INVALID_HANDLE_VALUE) {
    error = shown + ": " + win32::message_of(::GetLastError()) +
            " (is another service, or another program, using this name?)";
    return false;
  }
  allow_watch_by(s.server_sid, s);
  if (s.ready) s.ready();
  auto shared = std::make_shared<const settings>(s);
  std::string names;
  for (const auto& a : s.allowed) names += (names.empty() ? "" : ", ") + a.describe();
  s.log(level::info,
        "spawner service " + s.name + " (pid " + std::to_string(::GetCurrentProcessId()) +
            ") listens on " + shown + " for " + s.server_name +
            "; children may run as: " + (names.empty() ? std::string("(no account)") : names) +
            ", or as a token IIS forwarded");
  while (true) {
    std::string why;
    const int r = await_client(next, stop, why);
    if (r == 0 || r == -2) {
      ::CloseHandle(next);
      if (r == 0) return true;
      error = shown + ": waiting for a client: " + why;
      s.log(level::error, error + "; the service stops serving");
      return false;
    }
    if (r == 1) std::thread([shared, next] { connection(shared, next).run(); }).detach();
    // A failed instance is closed only once its replacement exists: the
    // name is never free for another server to take.
    const HANDLE failed = r == 1 ? nullptr : next;
    while ((next = new_instance(pipe, false, sec)) == INVALID_HANDLE_VALUE) {
      s.log(level::error, shown + ": another instance: " + win32::message_of(::GetLastError()));
      if (::WaitForSingleObject(stop, 1000) == WAIT_OBJECT_0) {
        if (failed) ::CloseHandle(failed);
        return true;
      }
    }
    if (failed) ::CloseHandle(failed);
  }
}

}  // namespace cgihost::spawner::service
