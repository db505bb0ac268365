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
#include "spawner/files.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

using spawner::unique_fd;

// What a static request names under the document root.
struct static_lookup {
  enum class outcome {
    file,      // `fd` is open on it, `st` says what it is
    redirect,  // a folder named without its slash: 301 to `path` + "/"
    refused,   // `status` (404, 403) with `why` for the log
  };
  outcome what = outcome::refused;
  unique_fd fd;
  spawner::file_info st;
  std::string served_name;  // whose extension gives the type: the index file's for a folder
  http::status status = http::status::not_found;
  std::string why;
  // Index names passed over, each with the reason: a script handler (or
  // request filtering) takes that name, so it is never read as a file.
  std::vector<std::string> passed_over;
};

// Finds the file for normalized `path` under `root_fd`, never leaving it: the
// file itself, or for a folder the first of `index` that is a regular file.
// Whatever a CGI or FastCGI handler of `r` matches is never read as a file:
// an index name it matches is passed over as if it were missing (so is one
// request filtering refuses); a path it matches (reached through an earlier
// "static" handler, `through_static_handler`) is refused with 403, and so is
// a file reached through a symlink whose target's own name either takes.
// Opens without blocking (a FIFO is refused, not waited on). Used by the
// handler and by `try --explain`.
static_lookup look_up_static(int root_fd, const std::string& path,
                             const std::vector<std::string>& index, const router& r,
                             bool through_static_handler);

class static_handler final : public handler {
 public:
  // Keeps a reference to `cfg`, which must outlive the handler. Opens the
  // document root once; throws std::system_error if it cannot.
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
  // The file `found` names, once it may be read: 304 when the client's copy
  // is current, else 200 with the whole file, or 206 with the one range it
  // asked for (416 when that range is past the end).
  asio::awaitable<void> serve_file(exchange& ex, const static_lookup& found) const;

  const config::config& cfg_;
  router router_;
  unique_fd root_;
  bool judge_accounts_;
  reader anonymous_;
  std::map<std::string, reader, std::less<>> users_;  // by authenticated name
};

}  // namespace cgihost::host
