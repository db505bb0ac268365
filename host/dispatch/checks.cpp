#include "host/dispatch/checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "spawner/files.hpp"

namespace cgihost::host {

asio::awaitable<std::optional<std::string>> resolve_script(exchange& ex, int root_fd,
                                                           const config::config& cfg,
                                                           bool need_exec, struct stat* st_out) {
  const route& r = ex.route();
  std::string rel = r.script_name.size() > 1 ? r.script_name.substr(1) : "";
  if (rel.empty() || rel.back() == '/') {
    co_await ex.send_error(http::status::forbidden, "no script named in " + r.script_name);
    co_return std::nullopt;
  }
  spawner::unique_fd script{spawner::open_script(root_fd, rel.c_str(), O_PATH | O_CLOEXEC,
                                                 cfg.allow_symlinks_outside_root)};
  if (script.get() < 0) {
    int err = errno;
    if (err == EXDEV) {
      co_await ex.send_error(http::status::forbidden, "script " + r.script_name +
                                                          ": a symlink leads outside document_root "
                                                          "(allow_symlinks_outside_root is off)");
      co_return std::nullopt;
    }
    co_await ex.send_error(err == EACCES ? http::status::forbidden : http::status::not_found,
                           "script " + r.script_name + ": " + std::strerror(err));
    co_return std::nullopt;
  }
  struct stat st {};
  if (::fstat(script.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    co_await ex.send_error(http::status::forbidden,
                           "script " + r.script_name + " is not a regular file");
    co_return std::nullopt;
  }
  if (need_exec && (st.st_mode & 0111) == 0) {
    co_await ex.send_error(http::status::forbidden,
                           "script " + r.script_name + " is not executable");
    co_return std::nullopt;
  }
  if (st_out) *st_out = st;
  co_return cfg.document_root.string() + r.script_name;
}

asio::awaitable<std::optional<spawner::identity>> checked_identity(
    exchange& ex, const config::config& cfg, const identity_choice& choice, const struct stat& st,
    bool need_exec, const std::string& tag) {
  const std::string rid = ex.id().str();
  if (choice.refused_status) {
    ex.log().error("{} rid={} {} refused: {} ({})", tag, rid, choice.refused_status, choice.refusal,
                   choice.why);
    co_await ex.send_error(static_cast<http::status>(choice.refused_status), choice.refusal);
    co_return std::nullopt;
  }
  std::string why_not;
  auto id = spawner::resolve_identity_now(os_account(*choice.account), why_not);
  if (!id) {
    // IIS's 401.1: the anonymous account cannot be used; never someone else instead.
    ex.log().error("{} rid={} {}: {} ({})", tag, rid, choice.anonymous ? 401 : 500, why_not,
                   choice.why);
    if (choice.anonymous)
      co_await ex.send_unauthorized("the anonymous account cannot be used: " + why_not);
    else
      co_await ex.send_error(http::status::internal_server_error,
                             "the account cannot be used: " + why_not);
    co_return std::nullopt;
  }
  std::string denied;
  if (!spawner::may_access(*id, st.st_uid, st.st_gid, st.st_mode, need_exec, denied)) {
    co_await refuse_access(
        ex, cfg, choice.anonymous,
        "script " + ex.route().script_name + ": " + denied + " (" + choice.why + ")");
    co_return std::nullopt;
  }
  co_return id;
}

asio::awaitable<void> refuse_access(exchange& ex, const config::config& cfg, bool anonymous,
                                    const std::string& what) {
  // An anonymous request may still get in by logging in; an authenticated one may not.
  if (anonymous && cfg.authentication.basic)
    co_await ex.send_unauthorized(what);
  else
    co_await ex.send_error(http::status::forbidden, what);
}

}  // namespace cgihost::host
