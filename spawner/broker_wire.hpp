#pragma once
// The spawn broker's messages, written once for both ends: cgihost encodes
// requests and decodes replies, the broker decodes requests and encodes
// replies. Pure: bytes in, values out; the channel that carries them (and
// the descriptors that travel beside them) is the platform's (posix/broker.cpp).
//
// A message is a type byte, then fixed-size numbers (8 bytes, host order:
// both ends are the same binary on the same machine) and length-prefixed
// strings. A decoder refuses (nullopt) a message of another type, one cut
// short, one with bytes left over, one over kMaxMessage, and lists over
// kMaxItems.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "spawner/launch.hpp"

namespace cgihost::spawner::wire {

inline constexpr std::size_t kMaxMessage = 1
                                           << 20;  // a spawn request: argv and env of a CGI request
inline constexpr std::size_t kMaxItems = 4096;     // entries of argv, of env

// Start `spec` as `account` (never root: "" is refused by the broker). The
// identity itself is not sent: the broker resolves the name against the
// accounts it was given. `has_stdin`: one descriptor travels with it, the
// child's fd 0 (launch_spec::stdin_fd).
struct launch_request {
  launch_spec spec;  // `as` and `stdin_fd` are not sent
  std::string account;
  bool has_stdin = false;
};
// Signal `sig` to the process group of the child `pid` started as `serial`.
struct signal_request {
  process_id pid = 0;
  std::uint64_t serial = 0;
  int sig = 0;
};
using request = std::variant<launch_request, signal_request>;

// The child runs; its descriptors travel with the reply: stdin (when
// `has_stdin`), stdout, stderr, then the status pipe.
struct launch_started {
  process_id pid = 0;
  std::uint64_t serial = 0;
  bool has_stdin = false;
};
// It does not: refused by the broker (step `broker`), or a failed step.
struct launch_failed {
  launch_step step = launch_step::broker;
  int error = 0;       // errno of the step
  std::string detail;  // the broker's reason, when it refused
};
using launch_reply = std::variant<launch_started, launch_failed>;

// The request for `spec`, as account `account`; `spec.stdin_fd >= 0` says a
// descriptor goes with it.
launch_request make_launch_request(const launch_spec& spec);

std::string encode(const request& r);
std::string encode(const launch_reply& r);
std::string encode_signal_reply(bool sent);

std::optional<request> decode_request(std::string_view message);
std::optional<launch_reply> decode_launch_reply(std::string_view message);
std::optional<bool> decode_signal_reply(std::string_view message);

// What execve and chdir get must be what was asked: an absolute program,
// argv not empty, no NUL cutting a string short, an absolute working folder
// (or none), "NAME=value" environment entries.
bool well_formed(const launch_spec& spec);

}  // namespace cgihost::spawner::wire
