#pragma once
// The privileged spawner on Windows: the body of `cgihost service run`, a
// LocalSystem service that starts children for the unprivileged front end
// (cgihost serve under IIS's app pool identity), reached over the named pipe
// \\.\pipe\<name>-spawner (windows/broker.cpp is the client). The front end's
// messages are broker_wire.hpp's.
//
// Who may ask, twice checked: the pipe's DACL admits only the server
// account's SID (read and write, 0x12019b: never FILE_CREATE_PIPE_INSTANCE)
// and the service's own account (to make more instances of it:
// FILE_CREATE_PIPE_INSTANCE alone); remote clients are rejected; the first
// instance is made with FILE_FLAG_FIRST_PIPE_INSTANCE (nobody squats the
// name first), and a failed instance is closed only once its replacement
// exists (the name is never free). Then each connection's client process
// (GetNamedPipeClientProcessId) must run as the server account, else it is
// closed with a log line naming its pid and account.
//
// Tokens for access checks: a token request names an allowed account; it is
// logged on as for a launch (account_token: the same caches, token_refusal)
// and an identification-level copy (SecurityIdentification, TOKEN_QUERY) is
// duplicated into the client, for AccessCheck there; a failed logon is a
// refusal with step `logon`.
//
// What it starts: a request names an account, which must be one of
// `allowed`, logged on here (account_token), or carries a token IIS
// forwarded (only with [authentication] iis_token on), as a handle value in
// the client process: duplicated out of it (never a handle the service is
// merely told of; never a pseudo-handle). Either token passes token_refusal
// (no system or service account, no administrator, no master's privilege)
// or the request is refused with a log line. The child's standard input and inherited handles are
// duplicated in from the client the same way, and closed once it runs; an
// inherited handle named in _FCGI_SHUTDOWN_EVENT_ (its value in decimal, as
// php-cgi reads it) is renamed there to the value the child inherits. The
// child's pipe ends, its process (SYNCHRONIZE |
// PROCESS_QUERY_LIMITED_INFORMATION) and its Job Object (JOB_OBJECT_TERMINATE
// | JOB_OBJECT_QUERY) are duplicated into the client, and the service's own
// copies of the process and the job closed (the job's once the reply is
// written): KILL_ON_JOB_CLOSE then ends every child when its front end
// ends. A reply that cannot be written (the front end gave up waiting and
// closed that connection) has its handles in the client closed there
// (DUPLICATE_CLOSE_SOURCE) and its child's job ended, with a warning.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spawner/identity.hpp"
#include "spawner/platform.hpp"

namespace cgihost::spawner::service {

enum class level { info, warn, error };

struct settings {
  std::string name;               // the pipe is \\.\pipe\<name>-spawner
  std::string server_name;        // [identity] server, for log lines
  std::string server_sid;         // the only account whose processes may connect
  std::vector<identity> allowed;  // accounts children may run as (root ones dropped)
  // [identity] logon_password_file (empty: none): an account with a stored
  // password logs on with it, every other by S4U (spawner::account_token).
  std::filesystem::path password_file;
  bool iis_token = false;  // [authentication] iis_token: off, a forwarded token is refused
  std::function<void(level, const std::string&)> log;  // any thread
  std::function<void()> ready;  // called once the pipe exists (clients may come); may be empty
  // Called before each reply is written, on the connection's thread; may be
  // empty. Tests make the service slow with it (a reply the front end no
  // longer waits for).
  std::function<void()> replying;
  // How an allowed account's token is obtained (null with `error`: its logon
  // failed); token_refusal still applies. Empty: account_token, the one way
  // outside tests (Wine's logons fail: tests give their own token).
  std::function<std::shared_ptr<void>(const identity&, std::string& error)> logon;
};

// Listens on the pipe and serves every client, a thread each, until `stop`
// (an event) is signalled; the threads of connections still open end with
// the process. False, with `error`, when the pipe cannot be made (its name is
// taken: another service, or a squatter).
bool serve(const settings& s, native_handle stop, std::string& error);

// The token a child of `account` runs with: spawner::account_token (a
// password from `password_file` when it has one for the account, else an S4U
// logon), refused as token_refusal says (never cached then). Cached by the
// account's SID and the password file's last write: a success for good, a
// failure for 30 s (a wrong stored password is not retried on every
// request: anonymous clients cannot lock the account out). The one place
// the service obtains an account's token.
std::shared_ptr<void> account_token(const identity& account,
                                    const std::filesystem::path& password_file, std::string& error,
                                    const std::string& server_sid);

// Why a child must never run with `token` (a forwarded token, or an account
// logon's), "" when it may: a forwarded token's user is no domain or local
// user (S-1-5-21-*; the server account itself excepted, see service.cpp) —
// an account the config names may be a built-in one such as IUSR
// (S-1-5-17), never LocalSystem; it has Administrators,
// Account, Server, Print or Backup Operators enabled (deny-only is fine); it
// holds SeDebug, SeTcb, SeBackup, SeRestore, SeTakeOwnership, SeLoadDriver,
// SeImpersonate, SeAssignPrimaryToken or SeCreateToken at all.
std::string token_refusal(void* token, const std::string& server_sid, bool forwarded = true);

}  // namespace cgihost::spawner::service
