#pragma once
// The checks a script request passes before anything runs: the script is
// inside the document root and may be run, and the account the decision
// table chose exists and may read (or execute) it.

#include <sys/stat.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

// The route's script under the document root (`root_fd`), whatever symlinks
// say (unless cfg.allow_symlinks_outside_root): its path, or nullopt after
// answering 404 (missing), 403 (a folder, not a regular file, not executable
// when `need_exec`, or a symlink leaving the root).
// `st`, when given, receives the script's stat (owner, group, mode) for the
// identity's access check.
asio::awaitable<std::optional<std::string>> resolve_script(exchange& ex, int root_fd,
                                                           const config::config& cfg,
                                                           bool need_exec,
                                                           struct stat* st = nullptr);

// The account `choice` names, checked now, before anything starts: a refused
// choice is answered with its status (403/500); the account must exist as
// when the config was loaded (else 401 for the anonymous account, IIS's
// 401.1, or 500) and may read the script `st` (and execute it with
// `need_exec`): else 401 with the challenge for an anonymous request when
// Basic is on, 403 otherwise. nullopt after answering; `tag` ("[cgi]",
// "[pool php]") starts the log lines. Needs `choice.account` unless refused.
asio::awaitable<std::optional<spawner::identity>> checked_identity(
    exchange& ex, const config::config& cfg, const identity_choice& choice, const struct stat& st,
    bool need_exec, const std::string& tag);

// Answers a request whose account may not read (or run) a file; `what` says
// which file, who and why, for the log. 401 with the challenge for an
// anonymous request when Basic is on (logging in may help), else 403.
// Scripts (checked_identity) and static files answer alike.
asio::awaitable<void> refuse_access(exchange& ex, const config::config& cfg, bool anonymous,
                                    const std::string& what);

}  // namespace cgihost::host
