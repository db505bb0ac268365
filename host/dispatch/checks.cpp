#include "host/dispatch/checks.hpp"

#include <cerrno>
#include <cstring>

#include "spawner/files.hpp"

namespace cgihost::host {
namespace {

refusal script_refusal(http::status status, std::string code, std::string reason,
                       std::string detail) {
  refusal no;
  no.status = status;
  no.code = std::move(code);
  no.reason = std::move(reason);
  no.detail = std::move(detail);
  return no;
}

}  // namespace

spawner::unique_fd open_document_root(const config::config& cfg) {
  spawner::unique_fd root(spawner::open_folder(cfg.document_root));
  if (root.get() == spawner::no_handle)
    throw std::system_error(errno, std::generic_category(),
                            "cannot open document root " + cfg.document_root.string());
  return root;
}

namespace {

// The script `name` (its URL path, for the log) opened as `rel` under
// `root_fd` (an absolute `rel` is opened where it is: a location's `script`),
// to be found at `path`.
checked<script_file> open_checked(spawner::native_handle root_fd, const std::string& rel,
                                  const std::string& name, std::string path, bool may_leave,
                                  bool need_exec) {
  if (rel.empty() || rel.back() == '/' || rel == ".")
    return script_refusal(http::status::forbidden, "script.unnamed", "no script named in " + name,
                          "no script named");
  spawner::unique_fd script{spawner::open_script(root_fd, rel.c_str(), may_leave)};
  if (script.get() == spawner::no_handle) {
    const int err = errno;
    if (err == EXDEV)
      return script_refusal(http::status::forbidden, "script.outside_root",
                            "script " + name +
                                ": a symlink leads outside document_root "
                                "(allow_symlinks_outside_root is off)",
                            std::strerror(err));
    return script_refusal(err == EACCES ? http::status::forbidden : http::status::not_found,
                          err == EACCES ? "script.forbidden" : "script.missing",
                          "script " + name + ": " + std::strerror(err), std::strerror(err));
  }
  script_file found;
  std::error_code ec;
  auto info = spawner::info_of(script.get(), ec);
  if (info) found.st = *info;
  if (!info || !found.st.is_regular())
    return script_refusal(http::status::forbidden, "script.not_regular",
                          "script " + name + " is not a regular file", "not a regular file");
  if (need_exec && !found.st.executable_by_someone())
    return script_refusal(http::status::forbidden, "script.not_executable",
                          "script " + name + " is not executable", "not executable");
  found.path = std::move(path);
  return found;
}

}  // namespace

checked<script_file> find_script(spawner::native_handle root_fd, const std::string& script_name,
                                 const config::config& cfg, bool need_exec) {
  const std::string rel = script_name.size() > 1 ? script_name.substr(1) : "";
  return open_checked(root_fd, rel, script_name, cfg.document_root.string() + script_name,
                      cfg.allow_symlinks_outside_root, need_exec);
}

checked<script_file> find_script(const route& r, const config::config& cfg, bool need_exec) {
  // Named by the administrator: it need not be beneath any root.
  if (!r.program.empty())
    return open_checked(spawner::no_handle, r.program, r.script_name, r.program, true, need_exec);
  if (!r.script_name.empty() && r.script_name.back() == '/')
    return script_refusal(http::status::forbidden, "script.unnamed",
                          "no script named in " + r.script_name, "no script named");
  const std::string rel = relative_to_root(r, r.script_name);
  std::string root = r.document_root.empty() ? cfg.document_root.string() : r.document_root;
  if (!root.empty() && root.back() == '/') root.pop_back();
  return open_checked(r.root_fd, rel, r.script_name, root + "/" + (rel == "." ? "" : rel),
                      cfg.allow_symlinks_outside_root, need_exec);
}

checked<spawner::identity> usable_account(const identity_choice& choice,
                                          const check_subject& subject) {
  if (choice.refused_status) {
    refusal no;
    no.status = static_cast<http::status>(choice.refused_status);
    no.code = "identity.refused";
    no.reason = choice.refusal;
    no.detail = choice.refusal;
    no.module_line = subject.tag + " rid=" + subject.rid + " " +
                     std::to_string(choice.refused_status) + " refused: " + choice.refusal + " (" +
                     choice.why + ")";
    return no;
  }
  std::string why_not;
  auto id = spawner::resolve_identity_now(os_account(*choice.account), why_not);
  if (id) return std::move(*id);
  // IIS's 401.1: the anonymous account cannot be used; never someone else instead.
  refusal no;
  no.status = choice.anonymous ? http::status::unauthorized : http::status::internal_server_error;
  no.code = choice.anonymous ? "identity.unusable_anonymous" : "identity.unusable";
  no.challenge = choice.anonymous;
  no.reason = (choice.anonymous ? "the anonymous account cannot be used: "
                                : "the account cannot be used: ") +
              why_not;
  no.detail = why_not;
  no.module_line = subject.tag + " rid=" + subject.rid + " " + (choice.anonymous ? "401" : "500") +
                   ": " + why_not + " (" + choice.why + ")";
  return no;
}

std::optional<refusal> script_access(const config::config& cfg, const identity_choice& choice,
                                     const spawner::identity& id, const spawner::file_info& st,
                                     bool need_exec, const check_subject& subject) {
  std::string denied;
  spawner::access_denial denial{};
  if (spawner::may_access(id, st, need_exec, denied, denial)) return std::nullopt;
  if (denial != spawner::access_denial::denied)
    return no_token_refusal(
        denial, subject.tag, subject.rid,
        "script " + subject.script_name + ": " + denied + " (" + choice.why + ")");
  refusal no =
      access_refusal(cfg, choice.anonymous,
                     "script " + subject.script_name + ": " + denied + " (" + choice.why + ")");
  no.detail = std::move(denied);
  return no;
}

checked<spawner::identity> check_identity(const config::config& cfg, const identity_choice& choice,
                                          const spawner::file_info& st, bool need_exec,
                                          const check_subject& subject) {
  auto id = usable_account(choice, subject);
  if (!id) return std::move(id).error();
  // The token IIS forwarded is the one to judge with (and to run with).
  if (choice.token) id->token = choice.token->token;
  if (auto no = script_access(cfg, choice, *id, st, need_exec, subject)) return std::move(*no);
  return id;
}

refusal no_token_refusal(spawner::access_denial denial, const std::string& tag,
                         const std::string& rid, std::string what) {
  refusal no;
  const bool logon = denial == spawner::access_denial::logon_failed;
  no.status = logon ? http::status::unauthorized : http::status::internal_server_error;
  no.code = logon ? "access.logon_failed" : "access.no_token";
  if (!tag.empty())
    no.module_line = tag + " rid=" + rid + (logon ? " 401 " : " 500 ") + no.code + ": " + what;
  no.dev_detail = what;
  no.reason = std::move(what);
  return no;
}

refusal access_refusal(const config::config& cfg, bool anonymous, std::string what) {
  refusal no;
  // An anonymous request may still get in by logging in; an authenticated one may not.
  no.challenge = anonymous && cfg.authentication.basic;
  no.status = no.challenge ? http::status::unauthorized : http::status::forbidden;
  no.code = "access.denied";
  no.reason = std::move(what);
  return no;
}

}  // namespace cgihost::host
