#pragma once
// Which OS account runs a request's code: the IIS decision table on POSIX.
//
//   handler  setting                       authenticated name   anonymous request
//   CGI      create_process_as_user=true   its [accounts] entry identity.anonymous
//   CGI      create_process_as_user=false  process identity     process identity
//   FastCGI  impersonate=false             process identity     process identity
//   FastCGI  impersonate=true              its [accounts] entry identity.anonymous
//   static   (always)                      its [accounts] entry identity.anonymous
//
// A name from the token IIS forwarded (Windows, iis_token) stands for its
// token's own user: "its [accounts] entry" is then that user, unmapped.
//
// The process identity is identity.process, or under a [[locations]] prefix
// that names one, that location's process_identity (IIS: each application
// pool has its own identity).
//
// A static file runs no code: the account is the one whose right to read the
// file is judged (IIS serves a static file with the request's token).
//
// Pure: a function of the config and the request's facts, so the table is
// unit-tested and `cgihost try --explain` prints the same reasoning.

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "host/dispatch/os_account.hpp"
#include "host/dispatch/router.hpp"

namespace cgihost::host {

struct identity_choice {
  // The account, or nullopt when cgihost is not root and so runs everything as itself.
  std::optional<config::account> account;
  // Why: "cgi create_process_as_user=true, authenticated alice -> account alice uid 1001".
  std::string why;
  // Set when the request must not run: 403 (a name without an account), or
  // 500 (an account that is root or below min_uid/min_gid: never used).
  int refused_status = 0;
  std::string refusal;
  bool anonymous = false;  // the anonymous account was chosen
  // Windows, iis_token: the token IIS forwarded was chosen (`account` is its
  // user); a child started for the request runs with its primary token.
  std::shared_ptr<const spawner::identity> token;
};

// The process identity a location gives a request, and where it came from.
struct process_identity_source {
  std::optional<config::account> account;  // nullopt: identity.process
  std::string from;                        // "location /app/"
};

// The process identity of route `r` (its merged process_identity), with the
// deepest location under whose prefix the request is that names it.
process_identity_source process_identity_of(const config::config& cfg, const route& r);

// `user`: the authenticated name, nullopt for an anonymous request.
// `create_process_as_user` counts for CGI, `impersonate` for FastCGI; static
// files use neither.
// `can_switch`: cgihost runs as root and may start children as other accounts.
// `process`: the process identity where it is not identity.process (a location's).
// `token`: the identity of the token IIS forwarded (Windows, iis_token), whose
// name `user` is: where the table says "its [accounts] entry" the token's own
// user is taken instead (IIS starts CGI with the user's token), unmapped.
identity_choice choose_identity(const config::config& cfg, config::module_kind module,
                                bool create_process_as_user, bool impersonate,
                                const std::optional<std::string>& user, bool can_switch,
                                const process_identity_source& process = {},
                                std::shared_ptr<const spawner::identity> token = nullptr);

}  // namespace cgihost::host
