#pragma once
// Static files (dev mode, module = "static", and the fallback when no
// handler matches): GET and HEAD, conditional requests, index files. A file
// goes out only to a request whose account may read it, and never when a
// script handler would run it.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/dispatch/exchange.hpp"
#include "host/dispatch/identity_choice.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/dispatch/router.hpp"
#include "host/static/open_file_cache.hpp"
#include "spawner/files.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

using spawner::unique_fd;

// What a static request names under its root.
struct static_lookup {
  enum class outcome {
    file,      // `fd` is open on it, `st` says what it is
    redirect,  // a folder named without its slash: 301 to `path` + "/"
    refused,   // `status` (404, 403) with `why` for the log
  };
  outcome what = outcome::refused;
  unique_fd fd;
  spawner::file_info st;
  std::string served_name;   // whose extension gives the type
  bool via_symlink = false;  // a symlink led to it: its own name was judged too
  http::status status = http::status::not_found;
  std::string why;
};

// Finds the file for the URL `path` (routed as `rt`: the route's script name
// and PATH_INFO, or the default document the dispatch chose) beneath the
// route's root (`rt.root_fd`: document_root or a location's `root`), never
// leaving it unless `may_leave` (allow_symlinks_outside_root) lets a symlink
// lead out. A folder named without its slash is a redirect; with it, 403
// (the dispatch chose a default document before: a folder that reaches here
// has none). Whatever a CGI or FastCGI handler matches is never read as a
// file: a path it matches (reached through an earlier "static" handler,
// `through_static_handler`) is refused with 403, and so is a file reached
// through a symlink whose target's own name either takes (or request
// filtering refuses). Opens without blocking (a FIFO is refused, not waited
// on). Used by the handler and by `try --explain`.
static_lookup look_up_static(const route& rt, const std::string& path, const router& r,
                             bool may_leave, bool through_static_handler);

class static_handler final : public handler {
 public:
  // Keeps a reference to `cfg`, which must outlive the handler. Files are
  // looked up beneath the route's root (route::root_fd, the dispatch's).
  // `judge_accounts`: cgihost tells accounts apart (it runs as root, or with
  // the spawn broker). A file is then served only when the request's account
  // (identity.anonymous, or the authenticated name's [accounts] entry) may
  // read it, judged from its owner, group and mode as for scripts; those
  // accounts and their groups are resolved here, once. Without it everything
  // runs as one user, and being able to open the file is the check.
  static_handler(const config::config& cfg, bool judge_accounts);
  ~static_handler() override = default;
  static_handler(const static_handler&) = delete;
  static_handler& operator=(const static_handler&) = delete;

  asio::awaitable<void> handle(exchange& ex) override;

 private:
  // An account requests are judged as, as the decision table chose it.
  struct reader {
    identity_choice choice;
    std::optional<spawner::identity> id;  // with its groups; nullopt: `why_not`
    std::string why_not;
  };
  // nullopt when the account of `user` (nullopt: anonymous) may read a file
  // of `st`, URL path `name`; else the refusal (401, 403, 500). No I/O: a
  // function of `st` and of the accounts resolved at construction.
  std::optional<refusal> check_read(const std::optional<std::string>& user,
                                    const spawner::file_info& st, const std::string& name) const;
  // The regular file the request names, open (from files_, or looked up and
  // kept there); nullptr when `ex` was answered instead (refused, or a
  // folder's redirect).
  asio::awaitable<std::shared_ptr<const open_file_cache::entry>> open_file(exchange& ex,
                                                                           const std::string& path);
  // The open `file`, once it may be read: 304 when the client's copy is
  // current, else 200 with the whole file, or 206 with the one range it
  // asked for (416 when that range is past the end); `path` gives the type.
  asio::awaitable<void> serve_file(exchange& ex, const open_file_cache::entry& file,
                                   const std::string& path) const;

  const config::config& cfg_;
  router router_;
  bool judge_accounts_;
  reader anonymous_;
  std::map<std::string, reader, std::less<>> users_;  // by authenticated name
  open_file_cache files_;
};

}  // namespace cgihost::host
