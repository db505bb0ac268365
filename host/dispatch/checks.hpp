#pragma once
// The checks a script request passes before anything runs: the script is
// inside the document root and may be run, and the account the decision
// table chose exists and may read (or execute) it. Each returns a value or
// a refusal (refusal.hpp) and does no network I/O, so the server answers the
// refusal (answer()) and `try --explain` prints it, from the same check.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "host/dispatch/exchange.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/refusal.hpp"
#include "spawner/files.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

// The document root, opened to open files beneath it (spawner::open_folder;
// the dispatch's site_roots holds the one every request uses). Throws
// std::system_error naming it when it cannot be opened.
spawner::unique_fd open_document_root(const config::config& cfg);

// A script found under the document root.
struct script_file {
  std::string path;       // document_root + SCRIPT_NAME
  spawner::file_info st;  // owner, group and mode, for the account's access check
};

// The script `script_name` under the document root (`root_fd`),
// whatever symlinks say (unless cfg.allow_symlinks_outside_root). Refusals:
// 403 script.unnamed (a folder URL), script.outside_root (a symlink leaves
// the root), script.forbidden (EACCES), script.not_regular,
// script.not_executable (with `need_exec`: no execute bit at all); 404
// script.missing. `detail` of a refusal is the bare cause, for explain.
checked<script_file> find_script(spawner::native_handle root_fd, const std::string& script_name,
                                 const config::config& cfg, bool need_exec);

// The route's script: a location's `script` program where it is (named by
// the administrator, not beneath any root), else `r.script_name` beneath the
// route's root (route::root_fd, set by the dispatch: a location's `root` or
// document_root), found at that root's path. Refusals as above.
checked<script_file> find_script(const route& r, const config::config& cfg, bool need_exec);

// Where a check's log lines come from: the module's tag ("[cgi]", "[pool
// php]"), the request id, the script's URL path.
struct check_subject {
  std::string tag;
  std::string rid;
  std::string script_name;
};

// The account `choice` names, checked now, before anything starts. Refusals:
// the choice's own (identity.refused: 403 for a name without an account, 500
// for an account never used); 401 identity.unusable_anonymous (the anonymous
// account is gone or changed since the config was loaded: IIS's 401.1,
// challenge), 500 identity.unusable (any other account). Needs
// `choice.account` unless refused. Reads the account database (getpwnam).
checked<spawner::identity> usable_account(const identity_choice& choice,
                                          const check_subject& subject);

// Whether `id`, chosen by `choice`, may read the script `st` (and execute it
// with `need_exec`): nullopt, or access_refusal.
std::optional<refusal> script_access(const config::config& cfg, const identity_choice& choice,
                                     const spawner::identity& id, const spawner::file_info& st,
                                     bool need_exec, const check_subject& subject);

// usable_account, then script_access; the identity carries the token IIS
// forwarded when `choice` has one (judged and run with it).
checked<spawner::identity> check_identity(const config::config& cfg, const identity_choice& choice,
                                          const spawner::file_info& st, bool need_exec,
                                          const check_subject& subject);

// The refusal for a request whose account may not read (or run) a file;
// `what` says which file, who and why, for the log: 401 access.denied with
// the challenge for an anonymous request when Basic is on (logging in may
// help), else 403. Scripts and static files are refused alike.
refusal access_refusal(const config::config& cfg, bool anonymous, std::string what);

// The refusal for a file whose check had no token of the account to judge
// with (Windows with the spawner service, spawner::access_denial): 401
// access.logon_failed when the account's logon failed (IIS's 401.1, as a
// failed spawn's), else 500 access.no_token; never judged as this process.
// `what` (the file, who and why) goes to the log; `tag` and `rid` make the
// module's line (none when `tag` is empty).
refusal no_token_refusal(spawner::access_denial denial, const std::string& tag,
                         const std::string& rid, std::string what);

}  // namespace cgihost::host
