#include "host/static/static_handler.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "host/dispatch/checks.hpp"
#include "host/dispatch/refusal.hpp"
#include "host/dispatch/request_filter.hpp"
#include "host/static/mime.hpp"
#include "protocol/http_date.hpp"
#include "protocol/http_range.hpp"
#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

// How long an opened file is reused for its path (open_file_cache.hpp), and
// how many are kept open at once.
constexpr auto kOpenFileValid = std::chrono::seconds(1);
constexpr std::size_t kOpenFileCapacity = 256;

std::string make_etag(const spawner::file_info& st) {
  char size[16], stamp[16];
  char* size_end = std::to_chars(size, size + sizeof size, st.size, 16).ptr;
  char* stamp_end =
      std::to_chars(
          stamp, stamp + sizeof stamp,
          static_cast<std::uint64_t>(st.modified) * 1000000000ull + st.modified_nanoseconds, 16)
          .ptr;
  std::string etag;
  etag.reserve(40);
  etag += "W/\"";
  etag.append(size, size_end);
  etag += '-';
  etag.append(stamp, stamp_end);
  etag += '"';
  return etag;
}

// If-None-Match (RFC 9110 §13.1.2): weak comparison against a list or "*".
bool etag_matches(std::string_view header, std::string_view etag) {
  auto strip_weak = [](std::string_view t) { return t.substr(0, 2) == "W/" ? t.substr(2) : t; };
  std::string_view mine = strip_weak(etag);
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*" || strip_weak(item) == mine) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// Why a file reached through a symlink may not be served under the name it
// really has (request filtering, or a script handler's), or nullopt. A file
// outside the root (allow_symlinks_outside_root) is judged by its own name.
std::optional<std::string> real_name_refusal(spawner::native_handle root_fd,
                                             spawner::native_handle fd, const router& r) {
  auto real = spawner::path_below(root_fd, fd);
  std::string judged;
  if (!real) {
    spawner::unique_fd top(spawner::open_folder("/"));
    real = spawner::path_below(top.get(), fd);
    if (!real) return "reached through a symlink, and its own name cannot be told";
    judged = real->substr(real->rfind('/'));
  } else {
    judged = *real;
  }
  if (auto refusal = r.filter(judged))
    return "reached through a symlink to " + *real + ": " + refusal->describe();
  if (const config::handler* h = r.script_handler_for(*real))
    return "reached through a symlink to " + *real + ": handler \"" + h->match +
           "\" runs it, so it is never served as a file";
  return std::nullopt;
}

// Whether the client's copy is current (RFC 9110 §13.1.2, §13.1.3):
// If-None-Match when sent, wins over If-Modified-Since.
bool not_modified(const request_head& req, std::string_view etag, std::int64_t mtime) {
  if (auto inm = req.fields.find("If-None-Match")) return etag_matches(*inm, etag);
  if (auto ims = req.fields.find("If-Modified-Since")) {
    auto since = protocol::parse_http_date(*ims);
    return since && mtime <= *since;
  }
  return false;
}

// Whether a Range applies (RFC 9110 §13.1.5 If-Range): without If-Range, or
// with one that validates. An entity-tag needs the strong comparison, which
// our weak ETags never pass: the whole file goes out. A date must equal
// Last-Modified.
bool if_range_holds(const request_head& req, std::int64_t mtime) {
  auto if_range = req.fields.find("If-Range");
  if (!if_range) return true;
  const std::string_view v = protocol::trim(*if_range);
  if (v.starts_with('"') || v.starts_with("W/")) return false;
  auto date = protocol::parse_http_date(v);
  return date && *date == mtime;
}

// A folder is addressed with its slash, so that relative links in its index work.
http::response_header<> folder_redirect(const protocol::normalized_target& target) {
  http::response_header<> head;
  head.result(http::status::moved_permanently);
  std::string location = target.path + "/";
  if (target.has_query) location += "?" + target.query;
  head.set(http::field::location, location);
  head.set(http::field::content_length, "0");
  return head;
}

}  // namespace

namespace {

// `out`, refused with `status` and `why`.
static_lookup refused(static_lookup&& out, http::status status, std::string why) {
  out.what = static_lookup::outcome::refused;
  out.status = status;
  out.why = std::move(why);
  return std::move(out);
}

// Opens `rel` beneath `root_fd` for reading, noting symlinks; with
// `may_leave` (allow_symlinks_outside_root) following one that leaves it.
spawner::native_handle open_static(spawner::native_handle root_fd, const std::string& rel,
                                   bool may_leave, bool& via_symlink) {
  auto fd = spawner::open_beneath_noting_symlinks(root_fd, rel.c_str(), via_symlink);
  if (fd != spawner::no_handle || !may_leave || (errno != EXDEV && errno != ELOOP)) return fd;
  via_symlink = true;
  return spawner::open_script(root_fd, rel.c_str(), spawner::open_for::read, true);
}

}  // namespace

static_lookup look_up_static(const route& rt, const std::string& path, const router& r,
                             bool may_leave, bool through_static_handler) {
  static_lookup out;
  // Without a static handler in the way, the router already gave any path a
  // script handler matches to that handler.
  if (through_static_handler) {
    if (const config::handler* h = r.script_handler_for(path))
      return refused(
          std::move(out), http::status::forbidden,
          path + ": handler \"" + h->match + "\" runs it, so it is never served as a file");
  }
  const std::string relative = relative_to_root(rt, path);
  bool via_symlink = false;
  out.fd.reset(open_static(rt.root_fd, relative, may_leave, via_symlink));
  if (out.fd.get() == spawner::no_handle) {
    switch (errno) {
      case EACCES:
      case EPERM:
        return refused(std::move(out), http::status::forbidden, "permission denied: " + path);
      case EXDEV:
      case ELOOP:
        return refused(std::move(out), http::status::not_found,
                       "path leaves the document root through a symlink: " + path);
      default:
        return refused(std::move(out), http::status::not_found, "no such file: " + path);
    }
  }
  std::error_code ec;
  auto st = spawner::info_of(out.fd.get(), ec);
  if (!st)
    return refused(std::move(out), http::status::internal_server_error,
                   "fstat failed: " + ec.message());
  out.st = *st;
  out.served_name = path;
  if (out.st.is_folder()) {
    // The dispatch chose a folder URL's default document (locate.hpp); one
    // that reaches here has none (any more).
    if (path.back() != '/') {
      out.what = static_lookup::outcome::redirect;
      return out;
    }
    return refused(std::move(out), http::status::forbidden,
                   "folder without a default document: " + path);
  }
  if (!out.st.is_regular())
    return refused(std::move(out), http::status::forbidden, "not a regular file: " + path);
  out.via_symlink = via_symlink;
  if (via_symlink) {
    if (auto no = real_name_refusal(rt.root_fd, out.fd.get(), r))
      return refused(std::move(out), http::status::forbidden, path + ": " + *no);
  }
  out.what = static_lookup::outcome::file;
  return out;
}

static_handler::static_handler(const config::config& cfg, bool judge_accounts)
    : cfg_(cfg),
      router_(cfg),
      judge_accounts_(judge_accounts),
      files_(kOpenFileValid, kOpenFileCapacity) {
  if (!judge_accounts_) return;
  // Each account's groups are read once, here (several names may share an
  // account): a request then costs no lookup in the account database.
  std::map<std::string, std::optional<spawner::identity>> groups_of;
  auto make = [&](const std::optional<std::string>& user) {
    reader rd;
    rd.choice = choose_identity(cfg, config::module_kind::static_files, false, false, user, true);
    if (!rd.choice.account) return rd;
    const config::account& a = *rd.choice.account;
    auto [it, fresh] = groups_of.try_emplace(a.name);
    if (fresh) it->second = spawner::resolve_identity(os_account(a));
    rd.id = it->second;
    if (!rd.id) rd.why_not = "the groups of account " + a.name + " cannot be read";
    return rd;
  };
  anonymous_ = make(std::nullopt);
  for (const auto& [name, account] : cfg.accounts) users_.emplace(name, make(name));
}

std::optional<refusal> static_handler::check_read(const std::optional<std::string>& user,
                                                  const spawner::file_info& st,
                                                  const std::string& name) const {
  refusal no;
  const reader* rd = &anonymous_;
  if (user) {
    auto it = users_.find(*user);
    // Only `try --user NAME` gets here with such a name: the dispatch refuses it first.
    if (it == users_.end()) {
      no.status = http::status::forbidden;
      no.code = "auth.no_account";
      no.reason =
          "authenticated as \"" + *user + "\", but [accounts] maps that name to no OS account";
      return no;
    }
    rd = &it->second;
  }
  const identity_choice& c = rd->choice;
  if (c.refused_status) {
    no.status = static_cast<http::status>(c.refused_status);
    no.code = "identity.refused";
    no.reason = c.refusal + " (" + c.why + ")";
    return no;
  }
  if (!rd->id) {
    // IIS's 401.1 for the anonymous account; 500 for any other.
    no.status = c.anonymous ? http::status::unauthorized : http::status::internal_server_error;
    no.code = c.anonymous ? "identity.unusable_anonymous" : "identity.unusable";
    no.challenge = c.anonymous;
    no.reason = "the account cannot be used: " + rd->why_not + " (" + c.why + ")";
    return no;
  }
  std::string denied;
  spawner::access_denial denial{};
  if (spawner::may_access(*rd->id, st, false, denied, denial)) return std::nullopt;
  std::string what = "static file " + name + ": " + denied + " (" + c.why + ")";
  if (denial != spawner::access_denial::denied)
    return no_token_refusal(denial, {}, {}, std::move(what));
  return access_refusal(cfg_, c.anonymous, std::move(what));
}

asio::awaitable<void> static_handler::serve_file(exchange& ex, const open_file_cache::entry& file,
                                                 const std::string& path) const {
  const auto& req = ex.request();
  const spawner::file_info& st = file.st;
  http::response_header<> head;
  head.set(http::field::last_modified, file.last_modified);
  head.set(http::field::etag, file.etag);
  error_code ec;
  if (not_modified(req, file.etag, st.modified)) {
    head.result(http::status::not_modified);
    co_await ex.write_head(head, ec);
    co_return;
  }
  head.set(http::field::accept_ranges, "bytes");
  // RFC 9110 §14.2: GET is the one method with ranges; after the conditions above.
  protocol::range_answer range;
  if (req.is("GET") && if_range_holds(req, st.modified)) {
    if (auto value = req.fields.find("Range")) range = protocol::answer_range(*value, st.size);
  }
  if (range.what == protocol::range_answer::kind::unsatisfiable) {
    head.result(http::status::range_not_satisfiable);
    head.set(http::field::content_range, "bytes */" + std::to_string(st.size));
    head.set(http::field::content_length, "0");
    co_await ex.write_head(head, ec);
    co_return;
  }
  std::uint64_t from = 0, length = st.size;
  if (range.what == protocol::range_answer::kind::part) {
    head.result(http::status::partial_content);
    head.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                             std::to_string(range.last) + "/" +
                                             std::to_string(st.size));
    from = range.first;
    length = range.length();
  } else {
    head.result(http::status::ok);
  }
  head.set(http::field::content_type, mime_type(path));
  head.set(http::field::content_length, std::to_string(length));
  if (req.is_head() || length == 0) {
    co_await ex.write_head(head, ec);
    co_return;
  }
  const file_read got = co_await ex.write_file(head, {file.fd.get(), from, length}, ec);
  if (!got.failed) co_return;
  ex.log().error("[static] rid={} read of {} failed at offset {}: {}", ex.id().str(),
                 ex.target().path, got.offset,
                 got.error ? got.error.message() : std::string("file shrank"));
  // Before the head: an honest 500. After: the session closes the connection.
  if (!ex.head_sent())
    co_await answer(
        ex, make_refusal(http::status::internal_server_error, "static.read", "read failed"));
}

asio::awaitable<std::shared_ptr<const open_file_cache::entry>> static_handler::open_file(
    exchange& ex, const std::string& path) {
  const route& rt = ex.route();
  const bool through_static_handler = rt.handler != nullptr;
  // What look_up_static refuses before it opens anything is asked again each time.
  const bool may_keep = !through_static_handler || !router_.script_handler_for(path);
  const std::string relative = may_keep ? relative_to_root(rt, path) : std::string();
  if (may_keep) {
    if (auto kept = files_.find(rt.root_fd, relative)) co_return kept;
  }
  static_lookup found =
      look_up_static(rt, path, router_, cfg_.allow_symlinks_outside_root, through_static_handler);
  if (found.what == static_lookup::outcome::refused) {
    co_await answer(ex, make_refusal(found.status, "static.lookup", found.why));
    co_return nullptr;
  }
  if (found.what == static_lookup::outcome::redirect) {
    http::response_header<> head = folder_redirect(ex.target());
    error_code ec;
    co_await ex.write_head(head, ec);
    co_return nullptr;
  }
  auto file = std::make_shared<open_file_cache::entry>();
  file->fd = std::move(found.fd);
  file->st = found.st;
  file->etag = make_etag(found.st);
  file->last_modified = protocol::format_http_date(found.st.modified);
  // A file reached through a symlink was judged by its own name as well: that
  // answer is not kept.
  if (may_keep && !found.via_symlink) files_.put(rt.root_fd, relative, file);
  co_return file;
}

asio::awaitable<void> static_handler::handle(exchange& ex) {
  const auto& req = ex.request();
  if (!req.is("GET") && !req.is_head()) {
    co_await answer(ex, make_refusal(http::status::method_not_allowed, "static.method",
                                     "static files answer only GET and HEAD"));
    co_return;
  }
  // The whole path, or the default document the dispatch chose for it.
  const std::string path = ex.route().script_name + ex.route().path_info;
  auto file = co_await open_file(ex, path);
  if (!file) co_return;
  // Before anything of the file is said (not even 304 and its validators).
  if (judge_accounts_) {
    if (auto no = check_read(ex.authenticated_user(), file->st, path)) {
      co_await answer(ex, *no);
      co_return;
    }
  }
  co_await serve_file(ex, *file, path);
}

}  // namespace cgihost::host
