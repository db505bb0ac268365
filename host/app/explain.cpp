#include "host/app/explain.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>

#include "host/dispatch/checks.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/locate.hpp"
#include "host/dispatch/rewrites.hpp"
#include "host/dispatch/router.hpp"
#include "host/dispatch/site_roots.hpp"
#include "host/static/static_handler.hpp"
#include "protocol/text.hpp"
#include "protocol/uri_path.hpp"
#include "spawner/files.hpp"
#include "spawner/identity.hpp"
#include "spawner/password_file.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

std::string groups_of(const spawner::identity& id) {
  std::string s;
  for (auto g : id.groups) s += (s.empty() ? "" : ",") + std::to_string(g.value);
  return s;
}

// ---- the platform's words --------------------------------------------------
// Who an account is, how a child becomes it and what limits it: POSIX says
// uid/gid, setgroups/setgid/setuid and rlimits; Windows says DOMAIN\name and
// SID, a token and CreateProcessAsUserW, and Job Object limits.
#if defined(_WIN32)
constexpr bool kWindows = true;
#else
constexpr bool kWindows = false;
#endif

// This process, as the platform names it: "uid 1000", or "DOMAIN\name S-1-5-...".
std::string self_words() {
  const auto self = spawner::current_account();
  if (!kWindows) return "uid " + std::to_string(self.uid.value);
  return (self.name.empty() ? "?" : self.name) + (self.sid.empty() ? "" : " " + self.sid);
}

// Why no child changes account here.
const char* no_switch_reason() {
  return kWindows ? "no privileged spawner service (a LocalSystem service) starts children as "
                    "other accounts"
                  : "cgihost is not root";
}

// "<lead><why no switch><middle><this process>".
std::string without_switch(std::string_view lead, std::string_view middle) {
  std::string out(lead);
  out.append(no_switch_reason()).append(middle).append(self_words());
  return out;
}

// An account the config names: "alice uid 1001 gid 1001", or "alice S-1-5-...".
std::string account_words(const config::account& a) {
  if (kWindows) return a.name + (a.sid.empty() ? "" : " " + a.sid);
  return a.name + " uid " + std::to_string(a.uid) + " gid " + std::to_string(a.gid);
}

// Whether a URL path is beneath a location's prefix: without regard to case
// on Windows, as the router matches them (NTFS names ignore case).
bool under_prefix(const std::string& path, const std::string& prefix) {
  if (path.size() < prefix.size()) return false;
  const std::string_view head(path.data(), prefix.size());
  return kWindows ? protocol::iequals(head, prefix) : head == prefix;
}

// How a CGI child is started, and with which limits ([cgi]).
void explain_start(const config::config& cfg, const std::optional<spawner::identity>& id,
                   std::ostream& out) {
  const auto& c = cfg.cgi;
  std::string limits;
  auto add = [&](const std::optional<std::uint64_t>& v, const char* name, const char* unit) {
    if (v)
      limits += (limits.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(*v) + unit;
  };
  out << "== start\n";
  if (kWindows) {
    out << "start: "
        << (id ? "CreateProcessAsUserW with the account's primary token"
               : "CreateProcessW as this process")
        << ", suspended, in a Job Object of its own (KILL_ON_JOB_CLOSE: a timeout or a client "
           "that leaves ends the whole job), then resumed\n";
    add(c.max_address_space, "JOB_OBJECT_LIMIT_PROCESS_MEMORY", " bytes");
    add(c.max_cpu_seconds, "JOB_OBJECT_LIMIT_PROCESS_TIME", " s");
    add(c.max_processes, "JOB_OBJECT_LIMIT_ACTIVE_PROCESS", "");
    out << "job limits: " << (limits.empty() ? "none set" : limits)
        << (c.max_open_files ? " (max_open_files: Windows has no such job limit, not applied)" : "")
        << "\n";
    return;
  }
  out << "start: "
      << (id ? "in the child setgroups, setgid, setuid to " + id->name + ", then exec"
             : std::string("exec as this process"))
      << "\n";
  add(c.max_address_space, "RLIMIT_AS", " bytes");
  add(c.max_cpu_seconds, "RLIMIT_CPU", " s");
  add(c.max_open_files, "RLIMIT_NOFILE", "");
  add(c.max_processes, "RLIMIT_NPROC", "");
  out << "rlimits: " << (limits.empty() ? "none set: inherited" : limits) << "\n";
}

// Windows: where the account's token comes from (spawner::account_token):
// its words in `words`, false when the logon could not be tried (a password
// file that cannot be read, or that others may read: a 401, IIS's 401.1).
bool token_source(const config::config& cfg, const config::account& a, std::string& words) {
  const auto& file = cfg.identity.logon_password_file;
  const std::string s4u =
      "token: an S4U logon of " + a.name + " (LsaLogonUser, MsV1_0S4ULogon; no password ";
  if (!file) {
    words = s4u + "file: logon_password_file is not set), made primary";
    return true;
  }
#if defined(_WIN32)
  std::string error;
  auto entries = spawner::read_password_file(*file, error);
  if (!entries) {
    words = "token: the logon password file: " + error + " -> 401";
    return false;
  }
  const std::string folded = spawner::fold_account_name(a.name);
  for (const auto& e : *entries)
    if (spawner::fold_account_name(e.account) == folded) {
      words = "token: LogonUserW of " + a.name + " with its password from " + file->string() +
              " (DPAPI; IIS's ClearText logon, LOGON32_LOGON_NETWORK_CLEARTEXT), made primary";
      return true;
    }
#endif
  words = s4u + "stored for it in " + file->string() + "), made primary";
  return true;
}

// Windows without the privileged spawner service: who the service would run
// the request as, and with which token.
void explain_with_service(const config::config& cfg, const route& r, bool impersonate,
                          const try_request& tr, std::ostream& out) {
  if (!kWindows) return;
  auto would = choose_identity(cfg, r.handler->module, r.create_process_as_user, impersonate,
                               tr.user, true, process_identity_of(cfg, r));
  if (!would.account) return;
  out << "== with the privileged spawner service\n";
  if (would.refused_status) {
    out << "it would refuse: " << would.refusal << " -> " << would.refused_status << "\n";
    return;
  }
  std::string words;
  token_source(cfg, *would.account, words);
  out << "it would run as " << account_words(*would.account) << " (" << would.why << "); " << words
      << "; CreateProcessAsUserW\n"
      << "files would be judged with an identification token of " << would.account->name
      << " from the service (its logon failing: 401 access.logon_failed); try itself, with no "
         "service, judges them as this process\n";
}

std::string status_text(http::status s) { return std::to_string(static_cast<unsigned>(s)); }

// The "== checks" list: one line per check, pass or FAIL; ok() once all passed.
class check_list {
 public:
  explicit check_list(std::ostream& out) : out_(out) {}
  void operator()(bool pass, const std::string& what) {
    out_ << (pass ? "pass  " : "FAIL  ") << what << "\n";
    ok_ = ok_ && pass;
  }
  bool ok() const { return ok_; }

 private:
  std::ostream& out_;
  bool ok_ = true;
};

// The "== identity" head both explanations start with: who this process is
// and the authenticated name. True when this process may switch accounts.
bool print_identity_head(std::ostream& out, const config::config& cfg, const try_request& tr) {
  out << "== identity\n";
  const auto self = spawner::current_account();
  out << "process identity: " << (self.name.empty() ? "?" : self.name);
  if (kWindows)
    out << (self.sid.empty() ? "" : " " + self.sid) << "\n";
  else
    out << " uid " << self.uid.value << "\n";
  out << "authenticated name: " << (tr.user ? *tr.user : "(none: anonymous)") << "\n";
  if (kWindows && cfg.authentication.iis_token)
    out << "iis_token = true: a request IIS authenticated runs with the token IIS forwarded "
           "(X-IIS-WindowsAuthToken, made primary by DuplicateTokenEx); --user stands for a "
           "name mapped through [accounts] instead\n";
  const bool can_switch = spawner::can_switch_accounts();
  if (kWindows)
    out << (can_switch ? "the privileged spawner service starts children with each account's "
                         "token (CreateProcessAsUserW)"
                       : "no privileged spawner service: every child runs as this process "
                         "(CreateProcessW)")
        << "\n";
  return can_switch;
}

// The static half of run_explain: the request's account, the file a
// static request finds (an index for a folder) and whether that account may
// read it, as static_handler judges them.
int explain_static(const config::config& cfg, const try_request& tr, const route& r) {
  auto& out = std::cout;
  check_list check(out);
  const bool can_switch = print_identity_head(out, cfg, tr);
  auto choice =
      choose_identity(cfg, config::module_kind::static_files, false, false, tr.user, can_switch);
  out << "decision: " << choice.why << "\n";
  out << "== checks\n";
  if (choice.refused_status) {
    check(false, "the account may be used: " + choice.refusal + " -> " +
                     std::to_string(choice.refused_status));
    return 1;
  }
  std::optional<spawner::identity> id;
  if (choice.account) {
    std::string why;
    id = spawner::resolve_identity_now(os_account(*choice.account), why);
    check(id.has_value(),
          id ? "account exists: " + id->describe() +
                   (kWindows ? std::string() : " groups " + groups_of(*id))
             : "account exists: " + why + (choice.anonymous ? " -> 401" : " -> 500"));
  } else {
    check(true, without_switch("no account to judge: ", ", the file is read as "));
  }
  if (r.root_fd == spawner::no_handle) {
    check(false, "the root folder opens");
    return 1;
  }
  const std::string path = r.script_name + r.path_info;
  static_lookup found =
      look_up_static(r, path, router(cfg), cfg.allow_symlinks_outside_root, r.handler != nullptr);
  if (found.what == static_lookup::outcome::redirect) {
    out << "a folder named without its slash: 301 to " << path << "/\n== verdict\nredirect\n";
    return 0;
  }
  const bool is_file = found.what == static_lookup::outcome::file;
  const std::string root = r.document_root.empty() ? cfg.document_root.string() : r.document_root;
  check(is_file,
        "file inside " + std::string(r.root_location ? "the location's root " : "document_root ") +
            root + ": " +
            (is_file ? found.served_name : found.why + " -> " + status_text(found.status)));
  if (is_file && id) {
    std::string denied;
    bool may = spawner::may_access(*id, found.st, false, denied);
    check(may, "readable by " + id->name +
                   (may ? ""
                        : ": " + denied + " -> " +
                              status_text(access_refusal(cfg, choice.anonymous, denied).status)));
  }
  out << "== verdict\n"
      << (check.ok() ? "would be served: " + found.served_name +
                           (id ? " (read for " + id->name + ")" : std::string())
                     : std::string("refused"))
      << "\n";
  return check.ok() ? 0 : 1;
}

// The handler's lines; for CGI where create_process_as_user comes from, for
// FastCGI the pool's impersonate. nullopt when nothing is checked here (a
// remote pool), else the `impersonate` setting.
std::optional<bool> explain_handler(const config::config& cfg, const route& r,
                                    const std::string& path, std::ostream& out) {
  const config::handler& h = *r.handler;
  out << "handler: \"" << h.match << "\", module " << config::to_string(h.module);
  if (h.module == config::module_kind::cgi)
    out << (h.interpreter.empty() ? " (no interpreter: the script itself is executed)"
                                  : " (interpreter " + h.interpreter[0] + ")");
  else
    out << " (pool \"" << h.pool << "\")";
  out << "\nscript: " << r.script_name << "   PATH_INFO: \"" << r.path_info << "\"\n";
  if (h.module == config::module_kind::cgi) {
    // The deepest location that sets it wins, as the router applies them.
    const config::location* source = nullptr;
    for (const auto& loc : cfg.locations)
      if (under_prefix(path, loc.prefix) && loc.create_process_as_user &&
          (!source || loc.prefix.size() > source->prefix.size()))
        source = &loc;
    std::string from =
        source ? "[[locations]] prefix \"" + source->prefix + "\"" : std::string("[cgi]");
    out << "create_process_as_user = " << (r.create_process_as_user ? "true" : "false") << " (from "
        << from << ")\n";
    return false;
  }
  const auto& pool = cfg.pools.at(h.pool);
  out << "impersonate = " << (pool.impersonate ? "true" : "false") << " ([pools." << h.pool
      << "])\n";
  if (pool.remote) {
    out << "the pool connects to " << pool.remote->text
        << ": the code runs in that server, under its own accounts; no check here\n";
    return std::nullopt;
  }
  if (pool.children)
    out << "children = " << pool.children << " ([pools." << h.pool << "])\n";
  else
    out << "max_instances = " << pool.max_instances
        << (pool.max_instances_per_core ? " (0 in the config: one per core)" : "") << " ([pools."
        << h.pool << "])\n";
  return pool.impersonate;
}

// The account checks of a script request; the account when it resolves.
std::optional<spawner::identity> explain_account(const config::config& cfg,
                                                 const identity_choice& choice, check_list& check) {
  if (!choice.account) {
    check(true, without_switch("no switch: ", ", the code runs as "));
    return std::nullopt;
  }
  const auto& a = *choice.account;
  std::string why;
  auto id = spawner::resolve_identity_now(os_account(a), why);
  check(id.has_value(), id ? "account exists: " + (kWindows ? id->describe() : account_words(a)) +
                                 (kWindows ? std::string() : " groups " + groups_of(*id))
                           : "account exists: " + why + (choice.anonymous ? " -> 401" : " -> 500"));
  check(a.uid != 0 && a.gid != 0,
        kWindows
            ? "not LocalSystem nor the Administrators (" + account_words(a) + ")"
            : "not root (uid " + std::to_string(a.uid) + ", gid " + std::to_string(a.gid) + ")");
  if (cfg.identity.min_uid || cfg.identity.min_gid)
    check(choice.refused_status == 0,
          std::string("at or above identity.min_uid/min_gid") +
              (kWindows ? " (the SID's relative id)" : "") +
              (choice.refusal.empty() ? std::string() : ": " + choice.refusal));
  if (kWindows) {
    std::string words;
    const bool ok = token_source(cfg, a, words);
    check(ok, words);
  }
  return id;
}

// The script's checks, as the modules run them (find_script, script_access).
void explain_script(const config::config& cfg, const route& r, const identity_choice& choice,
                    const std::optional<spawner::identity>& id, bool need_exec, check_list& check) {
  // Executability is judged for the account below; found here without it.
  auto found = find_script(r, cfg, false);
  // A folder URL ("/cgi-bin/"): the server refuses it unnamed (403); say
  // what is there, as for any path that is not a regular file.
  if (!found && found.error().code == "script.unnamed" && r.script_name.size() > 1) {
    route folder = r;
    folder.script_name.pop_back();
    auto there = find_script(folder, cfg, false);
    if (!there) found = std::move(there).error();
  }
  std::string why;
  if (!found && found.error().code == "script.not_regular")
    why = " (not a regular file)";
  else if (!found)
    why = " (" + found.error().detail +
          (cfg.allow_symlinks_outside_root
               ? ")"
               : "; symlinks may not leave the root: allow_symlinks_outside_root is off)");
  const std::string where =
      !r.program.empty() ? "the location's script (named by the administrator): " + r.program
      : r.root_location
          ? "script inside the location's root " + r.document_root + ": " + r.script_name
          : "script inside document_root " + cfg.document_root.string() + ": " + r.script_name;
  check(found.has_value(), where + why);
  if (found && id) {
    auto no = script_access(cfg, choice, *id, found->st, need_exec, {});
    check(!no, std::string(need_exec ? "readable and executable" : "readable") + " by " + id->name +
                   (no ? ": " + no->detail + " -> " + status_text(no->status) : ""));
  } else if (found && need_exec) {
    check(found->st.executable_by_someone(), "executable");
  }
}

// The part of the explanation that starts with "== route"; 0 or 1 when it is
// complete (the status page, a refusal, a remote pool), else -1.
int explain_route(const config::config& cfg, const try_request& tr, const route& r,
                  std::ostream& out) {
  out << "== route\n";
  if (r.status) {
    out << "the [status] page: answered by cgihost itself to peers in [status] allow; no code "
           "runs\n";
    return 0;
  }
  if (!r.refused.empty()) {
    out << (r.refused_code == "location.deny"
                ? "a location refuses the path before any handler or the file system: "
                : "request filtering refuses the path before any handler or the file system: ")
        << r.refused << " -> 404\n";
    return 1;
  }
  if (!r.forbidden.empty()) {
    out << "no handler runs here: " << r.forbidden << " -> 403\n";
    return 1;
  }
  if (r.not_found) {
    out << "no handler matches and [static] enabled = false: 404\n";
    return 1;
  }
  if (!r.handler || r.module == config::module_kind::static_files) {
    out << (r.handler ? "handler \"" + r.handler->match + "\", module static"
                      : std::string("no handler matches"))
        << ": a static file, read by cgihost itself for the request's account; no code runs\n";
    return explain_static(cfg, tr, r);
  }
  return -1;
}

// "== rewrite": the first [[rewrites]] rule that takes `target`, applied to
// it as the dispatch would. 0 or 1 when that answers the request (a
// redirect, a URL that does not normalize), else -1.
int explain_rewrite(const config::config& cfg, const router& rt, const locator& where,
                    const site_roots& roots, protocol::normalized_target& target,
                    std::ostream& out) {
  if (cfg.rewrites.empty()) return -1;
  std::optional<rewriter> rules;
  try {
    rules.emplace(cfg);
  } catch (const std::exception& e) {
    out << "== rewrite\n" << e.what() << "\n== verdict\nrefused\n";
    return 1;
  }
  auto missing = [&] {
    route r = rt.resolve(target.path);
    r.root_fd = roots.fd_for(r);
    return !where.exists(target.path, r);
  };
  auto done = rules->apply(target, missing);
  if (!done.rule) return -1;
  out << "== rewrite\nrule " << done.rule->where << " (match \"" << done.rule->match << "\"): ";
  if (done.rule->redirect) {
    out << done.rule->redirect << " redirect to " << done.target << "\n== verdict\nredirect\n";
    return 0;
  }
  auto normalized = protocol::normalize_target(done.target);
  if (!normalized) {
    out << done.target << " is refused: " << normalized.error().message()
        << " -> 500\n== verdict\nrefused\n";
    return 1;
  }
  out << "rewritten to " << done.target
      << " (REQUEST_URI stays the client's; SCRIPT_NAME, PATH_INFO and QUERY_STRING follow "
         "the new URL)\n";
  target = std::move(*normalized);
  return -1;
}

}  // namespace

int run_explain(const config::config& cfg, const try_request& tr) {
  auto target = protocol::normalize_target(target_of_url(tr.url));
  if (!target) {
    std::cerr << "cgihost: try: URL \"" << tr.url << "\" refused: " << target.error().message()
              << "\n";
    return 2;
  }
  auto& out = std::cout;
  out << "== request\n"
      << tr.method << " " << target->path << (target->has_query ? "?" + target->query : "")
      << (tr.user ? " as \"" + *tr.user +
                        "\" (--user: authenticated, as by Basic or the trusted header)"
                  : " anonymous")
      << "\n";
  std::optional<site_roots> roots;
  try {
    roots.emplace(cfg);
  } catch (const std::exception& e) {
    out << "== checks\nFAIL  the root folders open: " << e.what() << "\n";
    return 1;
  }
  const router rt(cfg);
  const locator where(cfg, rt, *roots);
  if (int done = explain_rewrite(cfg, rt, where, *roots, *target, out); done >= 0) return done;
  route r = rt.resolve(target->path);
  auto no_file = where.locate(target->path, r);
  if (!r.chosen_by.empty()) out << "== located\n" << r.chosen_by << "\n";
  if (no_file) {
    out << "== located\n"
        << no_file->reason << " -> " << status_text(no_file->status) << "\n== verdict\nrefused\n";
    return 1;
  }
  if (int done = explain_route(cfg, tr, r, out); done >= 0) return done;
  const auto impersonate = explain_handler(cfg, r, r.script_name, out);
  if (!impersonate) return 0;
  const config::handler& h = *r.handler;
  const bool can_switch = print_identity_head(out, cfg, tr);
  auto choice = choose_identity(cfg, h.module, r.create_process_as_user, *impersonate, tr.user,
                                can_switch, process_identity_of(cfg, r));
  out << "decision: " << choice.why << "\n";
  out << "== checks\n";
  check_list check(out);
  if (choice.refused_status == 403) {
    check(false, "the name maps to an OS account: " + choice.refusal + " -> 403");
    return 1;
  }
  const auto id = explain_account(cfg, choice, check);
  const bool need_exec = h.module == config::module_kind::cgi && h.interpreter.empty();
  explain_script(cfg, r, choice, id, need_exec, check);
  if (!can_switch) explain_with_service(cfg, r, *impersonate, tr, out);
  if (h.module == config::module_kind::cgi) explain_start(cfg, id, out);
  out << "== verdict\n"
      << (check.ok() ? "would run as " + (id ? id->describe() : self_words())
                     : std::string("refused"))
      << "\n";
  return check.ok() ? 0 : 1;
}

}  // namespace cgihost::host
