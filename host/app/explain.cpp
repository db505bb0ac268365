#include "host/app/explain.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/router.hpp"
#include "host/static/static_handler.hpp"
#include "protocol/uri_path.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {
namespace {

std::string groups_of(const spawner::identity& id) {
  std::string s;
  for (auto g : id.groups) s += (s.empty() ? "" : ",") + std::to_string(g.value);
  return s;
}

// The "== identity" head both explanations start with: who this process is
// and the authenticated name. True when this process may switch accounts.
bool print_identity_head(std::ostream& out, const try_request& tr) {
  out << "== identity\n";
  const passwd* self = ::getpwuid(::geteuid());
  out << "process identity: " << (self ? self->pw_name : "?") << " uid " << ::geteuid() << "\n";
  out << "authenticated name: " << (tr.user ? *tr.user : "(none: anonymous)") << "\n";
  return ::geteuid() == 0;
}

// The static half of run_explain: the request's account, the file a
// static request finds (an index for a folder) and whether that account may
// read it, as static_handler judges them.
int explain_static(const config::config& cfg, const try_request& tr, const std::string& path,
                   bool through_static_handler) {
  auto& out = std::cout;
  bool ok = true;
  auto check = [&](bool pass, const std::string& what) {
    out << (pass ? "pass  " : "FAIL  ") << what << "\n";
    ok = ok && pass;
  };
  const bool can_switch = print_identity_head(out, tr);
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
          id ? "account exists: " + id->describe() + " groups " + groups_of(*id)
             : "account exists: " + why + (choice.anonymous ? " -> 401" : " -> 500"));
  } else {
    check(true, "no account to judge: cgihost is not root, the file is read as uid " +
                    std::to_string(::geteuid()));
  }
  unique_fd root(::open(cfg.document_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) {
    check(false, "document_root " + cfg.document_root.string() + " opens: " + std::strerror(errno));
    return 1;
  }
  static_lookup found =
      look_up_static(root.get(), path, cfg.static_files.index, router(cfg), through_static_handler);
  if (found.what == static_lookup::outcome::file)  // else the failure says them
    for (const auto& p : found.passed_over) out << "index name passed over: " << p << "\n";
  if (found.what == static_lookup::outcome::redirect) {
    out << "a folder named without its slash: 301 to " << path << "/\n== verdict\nredirect\n";
    return 0;
  }
  check(found.what == static_lookup::outcome::file,
        found.what == static_lookup::outcome::file
            ? "file inside document_root " + cfg.document_root.string() + ": " + found.served_name
            : "file inside document_root " + cfg.document_root.string() + ": " + found.why +
                  " -> " + std::to_string(static_cast<unsigned>(found.status)));
  if (found.what == static_lookup::outcome::file && id) {
    std::string denied;
    bool may = spawner::may_access(*id, found.st, false, denied);
    check(may,
          "readable by " + id->name +
              (may ? ""
                   : ": " + denied +
                         (choice.anonymous && cfg.authentication.basic ? " -> 401" : " -> 403")));
  }
  out << "== verdict\n"
      << (ok ? "would be served: " + found.served_name +
                   (id ? " (read for " + id->name + ")" : std::string())
             : std::string("refused"))
      << "\n";
  return ok ? 0 : 1;
}

}  // namespace

int run_explain(const config::config& cfg, const try_request& tr) {
  std::string url = target_of_url(tr.url);
  auto target = protocol::normalize_target(url);
  if (!target) {
    std::cerr << "cgihost: try: URL \"" << tr.url << "\" refused: " << target.error().message()
              << "\n";
    return 2;
  }
  auto& out = std::cout;
  bool ok = true;
  auto check = [&](bool pass, const std::string& what) {
    out << (pass ? "pass  " : "FAIL  ") << what << "\n";
    ok = ok && pass;
  };

  out << "== request\n"
      << tr.method << " " << target->path << (target->has_query ? "?" + target->query : "")
      << (tr.user ? " as \"" + *tr.user +
                        "\" (--user: authenticated, as by Basic or the trusted header)"
                  : " anonymous")
      << "\n";

  route r = router(cfg).resolve(target->path);
  out << "== route\n";
  if (r.status) {
    out << "the [status] page: answered by cgihost itself to peers in [status] allow; no code "
           "runs\n";
    return 0;
  }
  if (!r.refused.empty()) {
    out << "request filtering refuses the path before any handler or the file system: " << r.refused
        << " -> 404\n";
    return 1;
  }
  if (r.not_found) {
    out << "no handler matches and [static] enabled = false: 404\n";
    return 1;
  }
  const bool code = r.handler && r.module != config::module_kind::static_files;
  if (!code) {
    out << (r.handler ? "handler \"" + r.handler->match + "\", module static"
                      : std::string("no handler matches"))
        << ": a static file, read by cgihost itself for the request's account; no code runs\n";
    return explain_static(cfg, tr, target->path, r.handler != nullptr);
  }
  const config::handler& h = *r.handler;
  out << "handler: \"" << h.match << "\", module " << config::to_string(h.module);
  if (h.module == config::module_kind::cgi)
    out << (h.interpreter.empty() ? " (no interpreter: the script itself is executed)"
                                  : " (interpreter " + h.interpreter[0] + ")");
  else
    out << " (pool \"" << h.pool << "\")";
  out << "\nscript: " << r.script_name << "   PATH_INFO: \"" << r.path_info << "\"\n";
  bool impersonate = false;
  if (h.module == config::module_kind::cgi) {
    // The deepest location that sets it wins, as the router applies them.
    const config::location* source = nullptr;
    for (const auto& loc : cfg.locations)
      if (target->path.rfind(loc.prefix, 0) == 0 && loc.create_process_as_user &&
          (!source || loc.prefix.size() > source->prefix.size()))
        source = &loc;
    std::string from =
        source ? "[[locations]] prefix \"" + source->prefix + "\"" : std::string("[cgi]");
    out << "create_process_as_user = " << (r.create_process_as_user ? "true" : "false") << " (from "
        << from << ")\n";
  } else {
    const auto& pool = cfg.pools.at(h.pool);
    impersonate = pool.impersonate;
    out << "impersonate = " << (impersonate ? "true" : "false") << " ([pools." << h.pool << "])\n";
    if (pool.remote) {
      out << "the pool connects to " << pool.remote->text
          << ": the code runs in that server, under its own accounts; no check here\n";
      return 0;
    }
  }

  const bool can_switch = print_identity_head(out, tr);
  auto choice =
      choose_identity(cfg, h.module, r.create_process_as_user, impersonate, tr.user, can_switch);
  out << "decision: " << choice.why << "\n";

  out << "== checks\n";
  if (choice.refused_status == 403) {
    check(false, "the name maps to an OS account: " + choice.refusal + " -> 403");
    return 1;
  }
  if (!choice.account) {
    check(true,
          "no switch: cgihost is not root, the code runs as uid " + std::to_string(::geteuid()));
  }
  std::optional<spawner::identity> id;
  if (choice.account) {
    const auto& a = *choice.account;
    std::string why;
    id = spawner::resolve_identity_now(os_account(a), why);
    check(id.has_value(),
          id ? "account exists: " + a.name + " uid " + std::to_string(a.uid) + " gid " +
                   std::to_string(a.gid) + " groups " + groups_of(*id)
             : "account exists: " + why + (choice.anonymous ? " -> 401" : " -> 500"));
    check(a.uid != 0 && a.gid != 0,
          "not root (uid " + std::to_string(a.uid) + ", gid " + std::to_string(a.gid) + ")");
    if (cfg.identity.min_uid || cfg.identity.min_gid)
      check(choice.refused_status == 0,
            "at or above identity.min_uid/min_gid" +
                (choice.refusal.empty() ? std::string() : ": " + choice.refusal));
  }
  const bool need_exec = h.module == config::module_kind::cgi && h.interpreter.empty();
  int root_fd = ::open(cfg.document_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::string rel = r.script_name.size() > 1 ? r.script_name.substr(1) : "";
  int fd = root_fd >= 0 && !rel.empty()
               ? spawner::open_script(root_fd, rel.c_str(), O_PATH | O_CLOEXEC,
                                      cfg.allow_symlinks_outside_root)
               : -1;
  int err = errno;
  struct stat st {};
  bool inside = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  check(inside,
        "script inside document_root " + cfg.document_root.string() + ": " + r.script_name +
            (fd < 0 ? std::string(" (") + std::strerror(err) +
                          (cfg.allow_symlinks_outside_root
                               ? ")"
                               : "; symlinks may not leave the root: allow_symlinks_outside_root "
                                 "is off)")
             : inside ? ""
                      : " (not a regular file)"));
  if (fd >= 0) ::close(fd);
  if (root_fd >= 0) ::close(root_fd);
  if (inside && id) {
    std::string denied;
    bool may = spawner::may_access(*id, st.st_uid, st.st_gid, st.st_mode, need_exec, denied);
    check(may,
          std::string(need_exec ? "readable and executable" : "readable") + " by " + id->name +
              (may ? ""
                   : ": " + denied +
                         (choice.anonymous && cfg.authentication.basic ? " -> 401" : " -> 403")));
  } else if (inside && need_exec) {
    check((st.st_mode & 0111) != 0, "executable");
  }
  out << "== verdict\n"
      << (ok ? "would run as " + (id ? id->describe() : "uid " + std::to_string(::geteuid()))
             : std::string("refused"))
      << "\n";
  return ok ? 0 : 1;
}

}  // namespace cgihost::host
