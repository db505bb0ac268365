#pragma once
// The spawn broker's messages, written once for both ends: cgihost encodes
// requests and decodes replies, the broker decodes requests and encodes
// replies. Pure: bytes in, values out; the channel that carries them (and
// the descriptors that travel beside them) is the platform's (posix/broker.cpp).
//
// A message is a type byte, then fixed-size numbers (8 bytes, host order:
// both ends are the same binary on the same machine), length-prefixed
// strings and length-prefixed lists of numbers. A decoder refuses (nullopt) a message of another
// type, one cut short, one with bytes left over, one over kMaxMessage, and lists over kMaxItems.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "spawner/launch.hpp"

namespace cgihost::spawner::wire {

inline constexpr std::size_t kMaxMessage = 1
                                           << 20;  // a spawn request: argv and env of a CGI request
inline constexpr std::size_t kMaxItems = 4096;     // entries of argv, of env

// Start `spec` as `account` (never root: "" is refused by the broker). The
// identity itself is not sent: the broker resolves the name against the
// accounts it was given. `has_stdin`: one descriptor travels with it, the
// child's fd 0 (launch_spec::stdin_fd).
//
// Windows (the spawner service, reached over a named pipe): no descriptor
// travels beside a message. The handles are values in the sender's process,
// which the service duplicates out of it (the process it finds at the pipe's
// other end, never one it is told of): the child's standard input
// (`stdin_handle`, with `has_stdin`), the handles it inherits
// (launch_spec::inherit), and a token IIS forwarded (`token`, 0: none; the
// service then logs on as `account` itself). All 0 and empty on POSIX.
struct launch_request {
  launch_spec spec;  // `as`, `stdin_fd` and `inherit` are not sent as such
  std::string account;
  bool has_stdin = false;
  std::uint64_t stdin_handle = 0;
  std::vector<std::uint64_t> inherit;
  std::uint64_t token = 0;
};
// Signal `sig` to the process group of the child `pid` started as `serial`.
struct signal_request {
  process_id pid = 0;
  std::uint64_t serial = 0;
  int sig = 0;
};
// Open the log files the broker was given at its start again (logrotate
// renamed them): nothing is named here, the broker opens only those paths.
// Answered with encode_reopen_reply; the POSIX broker only (the Windows
// spawner service refuses it with a launch_failed).
struct reopen_request {};
using request = std::variant<launch_request, signal_request, reopen_request>;

// The child runs; its descriptors travel with the reply: stdin (when
// `has_stdin`), stdout, stderr, then the status pipe.
//
// Windows: the service has duplicated the child's handles INTO the
// requester's process; these are their values there (0: none): our ends of
// its pipes, its process (SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION
// only) and its Job Object (JOB_OBJECT_TERMINATE | JOB_OBJECT_QUERY only).
// There is no status pipe: the exit is the process handle's.
struct launch_started {
  process_id pid = 0;
  std::uint64_t serial = 0;
  bool has_stdin = false;
  std::uint64_t stdin_handle = 0;
  std::uint64_t stdout_handle = 0;
  std::uint64_t stderr_handle = 0;
  std::uint64_t process_handle = 0;
  std::uint64_t job_handle = 0;
};
// It does not: refused by the broker (step `broker`), a failed logon (step
// `logon`, Windows: the account and the system's reason in `detail`), or a
// failed step.
struct launch_failed {
  launch_step step = launch_step::broker;
  int error = 0;       // errno of the step
  std::string detail;  // the broker's reason, when it refused
};
using launch_reply = std::variant<launch_started, launch_failed>;

// The request for `spec`, as account `account`; `spec.stdin_fd >= 0` says a
// descriptor goes with it. Windows: the values of `spec.stdin_fd`,
// `spec.inherit` and the token of `spec.as` (one IIS forwarded: the front end
// holds no other) in this process.
launch_request make_launch_request(const launch_spec& spec);

std::string encode(const request& r);
std::string encode(const launch_reply& r);
std::string encode_signal_reply(bool sent);

// One log file of a reopen: its path and 0, its descriptor travelling with
// the reply (the descriptors in the order of the files that have error 0),
// or the errno of its open.
struct reopened_log {
  std::string path;
  int error = 0;
  bool operator==(const reopened_log&) const = default;
};
std::string encode_reopen_reply(const std::vector<reopened_log>& files);
std::optional<std::vector<reopened_log>> decode_reopen_reply(std::string_view message);

std::optional<request> decode_request(std::string_view message);
std::optional<launch_reply> decode_launch_reply(std::string_view message);
std::optional<bool> decode_signal_reply(std::string_view message);

// Windows only (the spawner service; the POSIX broker has no such message,
// and decode_request refuses it): a token of `account`, one the config
// allows, at identification level (SecurityIdentification: for AccessCheck,
// never for impersonation or a process), so that the front end judges a
// file as that account (may_access) without holding a token that could run
// anything. Obtained as a launch's (the same logon, caches and
// token_refusal).
struct token_request {
  std::string account;
};
// The token, duplicated INTO the requester's process with TOKEN_QUERY only:
// its value there.
struct token_granted {
  std::uint64_t token_handle = 0;
};
// Or why not: a launch_failed (step `logon` when the account's logon failed,
// else `broker`).
using token_reply = std::variant<token_granted, launch_failed>;

std::string encode(const token_request& r);
std::string encode(const token_reply& r);
std::optional<token_request> decode_token_request(std::string_view message);
std::optional<token_reply> decode_token_reply(std::string_view message);

// A reload (SIGHUP): the broker reads the config file it was started for
// again, itself, and from then on allows the accounts that file names (and,
// until the next reload, those of the config before it, whose requests may
// still be under way). Nothing travels with it: the network side cannot
// name accounts or files.
struct reload_request {};
// The outcome: the text the broker read and accepted (the network side
// serves with the same bytes), or why not (every diagnostic, one per line).
struct reload_reply {
  bool ok = false;
  std::string text;   // when ok
  std::string error;  // when not
};
std::string encode(const reload_request& r);
std::string encode(const reload_reply& r);
std::optional<reload_request> decode_reload_request(std::string_view message);
std::optional<reload_reply> decode_reload_reply(std::string_view message);

// What execve and chdir get must be what was asked: an absolute program,
// argv not empty, no NUL cutting a string short, an absolute working folder
// (or none), "NAME=value" environment entries.
bool well_formed(const launch_spec& spec);

}  // namespace cgihost::spawner::wire
