#include "config/load.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "config/htpasswd.hpp"
#include "config/pattern.hpp"
#include "protocol/uri_path.hpp"

namespace cgihost::config {
namespace fs = std::filesystem;
namespace {

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "nothing";
  }
}

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

class loader {
 public:
  loader(std::string file, fs::path base, const load_options& options)
      : file_(std::move(file)), base_(std::move(base)), options_(options) {}

  load_result run(std::string_view text) {
    load_result out;
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      error(e.source(), std::string(e.description()));
      out.errors = std::move(errors_);
      return out;
    }
    config cfg;
    cfg.source = file_;
    cfg.dev_mode = options_.dev_mode;
    read_root(root, cfg);
    std::stable_sort(errors_.begin(), errors_.end(), [](const diagnostic& a, const diagnostic& b) {
      return a.file != b.file ? a.file == b.file
                              : std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    if (errors_.empty()) out.value = std::move(cfg);
    out.errors = std::move(errors_);
    return out;
  }

 private:
  // ---- reporting -------------------------------------------------------
  void error_at(std::uint32_t line, std::uint32_t col, std::string message) {
    errors_.push_back({file_, line ? line : 1, col ? col : 1, std::move(message)});
  }
  void error(const toml::source_region& r, std::string message) {
    error_at(r.begin.line, r.begin.column, std::move(message));
  }
  void error(const toml::node& n, const std::string& path, const std::string& message) {
    error(n.source(), path + ": " + message);
  }
  void wrong_type(const toml::node& n, const std::string& path, const char* expected) {
    error(n, path, std::string("expected ") + expected + ", got " + type_name(n.type()));
  }

  // Every key of `t` must be in `allowed`; a near miss gets a suggestion.
  void check_keys(const toml::table& t, const std::string& path,
                  std::initializer_list<std::string_view> allowed) {
    for (auto&& [key, node] : t) {
      std::string_view k = key.str();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string msg = "unknown key " + dq(join(path, k));
      std::string_view best;
      std::size_t best_d = 3;
      for (auto a : allowed) {
        std::size_t d = edit_distance(k, a);
        if (d < best_d && d * 2 < std::max(k.size(), a.size())) {
          best_d = d;
          best = a;
        }
      }
      if (!best.empty()) msg += "; did you mean " + dq(best) + "?";
      error(key.source(), msg);
    }
  }

  // ---- typed getters: nullopt when absent, or wrong (then reported) ----
  std::optional<std::string> get_string(const toml::table& t, std::string_view key,
                                        const std::string& path, bool allow_empty = false) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto p = join(path, key);
    if (!n->is_string()) return wrong_type(*n, p, "a string"), std::nullopt;
    std::string v = n->as_string()->get();
    if (v.empty() && !allow_empty) return error(*n, p, "must not be empty"), std::nullopt;
    return v;
  }

  std::optional<bool> get_bool(const toml::table& t, std::string_view key,
                               const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean())
      return wrong_type(*n, join(path, key), "a boolean (true or false)"), std::nullopt;
    return n->as_boolean()->get();
  }

  template <class Int>
  std::optional<Int> get_int(const toml::table& t, std::string_view key, const std::string& path,
                             std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto p = join(path, key);
    if (!n->is_integer()) return wrong_type(*n, p, "an integer"), std::nullopt;
    std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      error(*n, p,
            std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
                std::to_string(max) + ")");
      return std::nullopt;
    }
    return static_cast<Int>(v);
  }

  std::optional<duration> get_duration(const toml::table& t, std::string_view key,
                                       const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto p = join(path, key);
    if (!n->is_string())
      return wrong_type(*n, p, "a duration string such as \"30s\""), std::nullopt;
    auto r = parse_duration(n->as_string()->get());
    if (auto* msg = std::get_if<std::string>(&r)) return error(*n, p, *msg), std::nullopt;
    return std::get<duration>(r);
  }

  std::optional<std::uint64_t> get_size(const toml::table& t, std::string_view key,
                                        const std::string& path, std::uint64_t min,
                                        std::optional<std::uint64_t> max = std::nullopt) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto p = join(path, key);
    std::uint64_t v = 0;
    if (n->is_integer()) {
      if (n->as_integer()->get() < 0) return error(*n, p, "must not be negative"), std::nullopt;
      v = static_cast<std::uint64_t>(n->as_integer()->get());
    } else if (n->is_string()) {
      auto r = parse_size(n->as_string()->get());
      if (auto* msg = std::get_if<std::string>(&r)) return error(*n, p, *msg), std::nullopt;
      v = std::get<std::uint64_t>(r);
    } else {
      return wrong_type(*n, p, "a size (bytes, or a string such as \"16m\")"), std::nullopt;
    }
    if (v < min)
      return error(*n, p, std::to_string(v) + " is below the minimum " + std::to_string(min)),
             std::nullopt;
    if (max && v > *max)
      return error(*n, p, std::to_string(v) + " is above the maximum " + std::to_string(*max)),
             std::nullopt;
    return v;
  }

  std::optional<std::vector<std::string>> get_strings(const toml::table& t, std::string_view key,
                                                      const std::string& path, bool allow_empty) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto p = join(path, key);
    if (!n->is_array()) return wrong_type(*n, p, "an array of strings"), std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    std::size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      auto ep = p + "[" + std::to_string(i++) + "]";
      if (!e.is_string()) {
        wrong_type(e, ep, "a string");
        ok = false;
      } else if (e.as_string()->get().empty()) {
        error(e, ep, "must not be empty");
        ok = false;
      } else {
        out.push_back(e.as_string()->get());
      }
    }
    if (!ok) return std::nullopt;
    if (out.empty() && !allow_empty) return error(*n, p, "must not be empty"), std::nullopt;
    return out;
  }

  // get_strings, with `why` (a reason, or "" for a good one) asked of each
  // non-empty string: every bad entry is reported, not only the first kind.
  std::optional<std::vector<std::string>> get_checked_strings(
      const toml::table& t, std::string_view key, const std::string& path, bool allow_empty,
      const std::function<std::string(const std::string&)>& why) {
    auto list = get_strings(t, key, path, allow_empty);
    const toml::node* n = t.get(key);
    if (!n || !n->is_array()) return list;
    bool ok = true;
    std::size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      auto ep = join(path, key) + "[" + std::to_string(i++) + "]";
      if (!e.is_string() || e.as_string()->get().empty()) continue;
      if (std::string reason = why(e.as_string()->get()); !reason.empty()) {
        error(e, ep, reason);
        ok = false;
      }
    }
    return ok ? list : std::nullopt;
  }

  const toml::table* get_table(const toml::table& t, std::string_view key,
                               const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) return wrong_type(*n, join(path, key), "a table"), nullptr;
    return n->as_table();
  }

  // Resolves an account name; reports missing and root accounts.
  std::optional<account> resolve_account(const toml::node& n, const std::string& path,
                                         const std::string& name) {
    auto a = options_.lookup(name);
    if (!a)
      return error(n, path, "account " + dq(name) + " does not exist on this machine"),
             std::nullopt;
    if (a->uid == 0 || a->gid == 0) {
      error(n, path,
            "account " + dq(name) + " resolves to root (uid " + std::to_string(a->uid) + ", gid " +
                std::to_string(a->gid) + "); children never run as root");
      return std::nullopt;
    }
    // Without root (and without a spawner service), every child runs as
    // cgihost itself: a config that needs another account cannot be
    // honoured, and says so instead of pretending.
    if (!options_.running_as_root && !spawner_service_ && options_.current_user &&
        a->uid != options_.current_user->uid) {
      error(n, path,
            "account " + dq(name) + " (uid " + std::to_string(a->uid) +
                ") needs cgihost to run as root; it runs as " + dq(options_.current_user->name) +
                " (uid " + std::to_string(options_.current_user->uid) +
                ") and can start children only as itself");
      return std::nullopt;
    }
    if (min_uid_ && a->uid < *min_uid_) {
      error(n, path,
            "account " + dq(name) + " has uid " + std::to_string(a->uid) +
                ", below identity.min_uid (" + std::to_string(*min_uid_) + ")");
      return std::nullopt;
    }
    if (min_gid_ && a->gid < *min_gid_) {
      error(n, path,
            "account " + dq(name) + " has gid " + std::to_string(a->gid) +
                ", below identity.min_gid (" + std::to_string(*min_gid_) + ")");
      return std::nullopt;
    }
    return a;
  }

  fs::path resolve_path(const std::string& p) const {
    fs::path path(p);
    return (path.is_absolute() ? path : base_ / path).lexically_normal();
  }

  // ---- sections ------------------------------------------------------------
  void read_root(const toml::table& root, config& cfg) {
    check_keys(root, "", {"listen",    "document_root",  "allow_symlinks_outside_root",
                          "identity",  "authentication", "accounts",
                          "cgi",       "handlers",       "pools",
                          "locations", "rewrites",       "filtering",
                          "proxy",     "errors",         "static",
                          "http",      "fastcgi",        "server",
                          "log",       "status"});
    read_listen(root, cfg);
    read_document_root(root, cfg);
    if (auto v = get_bool(root, "allow_symlinks_outside_root", ""))
      cfg.allow_symlinks_outside_root = *v;
    read_spawner_service(root, cfg);  // first: with it, accounts other than ours are usable
    read_spawner_service_account(root, cfg);
    read_identity(root, cfg);
    read_authentication(root, cfg);
    read_accounts(root, cfg);
    read_locations(root, cfg);       // after document_root (fallback) and identity (min_uid)
    read_server_account(root, cfg);  // after every account a child may run as
    read_cgi(root, cfg);
    read_pools(root, cfg);  // before handlers, which name pools
    read_handlers(root, cfg);
    read_rewrites(root, cfg);
    read_filtering(root, cfg);
    read_proxy(root, cfg);
    read_errors(root, cfg);
    read_static(root, cfg);
    read_http(root, cfg);
    read_fastcgi(root, cfg);
    read_server(root, cfg);
    read_log(root, cfg);
    read_status(root, cfg);
  }

  void read_status(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "status", "");
    if (!t) return;
    check_keys(*t, "status", {"path", "allow", "ping_path", "ping_response"});
    cfg.status.path = status_path(*t, "path");
    cfg.status.ping_path = status_path(*t, "ping_path");
    if (!t->get("path") && !t->get("ping_path"))
      error(t->source(),
            "status: missing path, e.g. path = \"/cgihost-status\" (the status page is off without "
            "it)");
    if (cfg.status.path && cfg.status.ping_path && *cfg.status.path == *cfg.status.ping_path)
      error(*t->get("ping_path"), "status.ping_path", "must differ from status.path");
    if (auto v = get_string(*t, "ping_response", "status")) {
      if (v->empty() || v->find_first_of("\r\n") != std::string::npos)
        error(*t->get("ping_response"), "status.ping_response",
              "must be one line of text, such as \"pong\"");
      else
        cfg.status.ping_response = *v;
    }
    if (t->get("allow")) {
      cfg.status.allow.clear();
      read_cidrs(*t, "allow", "status", cfg.status.allow);
    }
  }

  // [status] path or ping_path: a plain absolute path, or nullopt (an error
  // at its place when it is not one).
  std::optional<std::string> status_path(const toml::table& t, const char* key) {
    auto v = get_string(t, key, "status");
    if (!v) return std::nullopt;
    auto normalized = protocol::normalize_target(*v);
    if (v->empty() || v->front() != '/' || !normalized || normalized->path != *v ||
        normalized->has_query) {
      error(*t.get(key), "status." + std::string(key),
            "must be a plain absolute path such as \"" +
                std::string(std::string_view(key) == "path" ? "/cgihost-status" : "/ping") + "\"");
      return std::nullopt;
    }
    return v;
  }

  // An array of CIDR strings ("10.0.0.0/8"), each checked at its place; with
  // `unix_peers`, also "unix:", which sets it.
  void read_cidrs(const toml::table& t, std::string_view key, const std::string& path,
                  std::vector<cidr>& into, bool* unix_peers = nullptr) {
    auto list = get_checked_strings(t, key, path, true, [unix_peers](const std::string& s) {
      if (unix_peers && s == "unix:") return std::string();
      auto r = parse_cidr(s);
      auto* msg = std::get_if<std::string>(&r);
      if (msg && unix_peers) return *msg + "; or \"unix:\": a peer on a Unix-socket listener";
      return msg ? *msg : std::string();
    });
    if (!list) return;
    for (const auto& s : *list) {
      if (unix_peers && s == "unix:")
        *unix_peers = true;
      else
        into.push_back(std::get<cidr>(parse_cidr(s)));
    }
  }

  void read_listen(const toml::table& root, config& cfg) {
    const toml::node* n = root.get("listen");
    if (!n) {
      // A FastCGI-only server needs no HTTP listener.
      const toml::table* f = root.get("fastcgi") ? root.get("fastcgi")->as_table() : nullptr;
      if (!f || !f->get("listen"))
        error_at(1, 1,
                 "listen: missing; give one or more \"HOST:PORT\" or \"unix:/path\", e.g. "
                 "listen = [\"127.0.0.1:8080\"]");
      return;
    }
    read_listen_list(*n, "listen", cfg.listen);
  }

  // A listen list: a string or an array of "HOST:PORT" / "unix:/path", each
  // checked at its place; an address already listed (here or in `seen_`) is
  // an error.
  void read_listen_list(const toml::node& n, const std::string& path, std::vector<endpoint>& out) {
    std::vector<std::pair<const toml::node*, std::string>> items;
    if (n.is_string()) {
      items.emplace_back(&n, n.as_string()->get());
    } else if (n.is_array()) {
      std::size_t i = 0;
      for (const toml::node& e : *n.as_array()) {
        if (!e.is_string())
          wrong_type(e, path + "[" + std::to_string(i) + "]", "a string \"HOST:PORT\"");
        else
          items.emplace_back(&e, e.as_string()->get());
        ++i;
      }
      if (n.as_array()->empty()) error(n, path, "must name at least one address");
    } else {
      return wrong_type(n, path, "an array of \"HOST:PORT\" or \"unix:/path\" strings");
    }
    for (auto& [node, text] : items) {
      auto r = parse_listen(text);
      if (auto* msg = std::get_if<std::string>(&r)) {
        error(*node, path, *msg);
        continue;
      }
      auto ep = std::get<endpoint>(r);
#ifdef _WIN32
      if (ep.is_unix()) {
        error(*node, path, "unix: listeners are not supported on Windows");
        continue;
      }
#endif
      if ((ep.is_unix() || ep.port != 0) && !listen_seen_.insert(ep.to_string()).second) {
        error(*node, path, ep.to_string() + " is listed twice");
        continue;
      }
      out.push_back(ep);
    }
  }

  // socket_owner, socket_group, socket_mode of `t` (at `path`) into `s`.
  void read_socket_settings(const toml::table& t, const std::string& path, socket_settings& s) {
    if (auto v = get_string(t, "socket_owner", path)) {
      const toml::node& n = *t.get("socket_owner");
#ifdef _WIN32
      error(n, path + ".socket_owner", "not on Windows (no unix: listeners)");
#endif
      if (auto a = options_.lookup(*v))
        s.owner_uid = a->uid;
      else
        error(n, path + ".socket_owner", "account " + dq(*v) + " does not exist on this machine");
    }
    if (auto v = get_string(t, "socket_group", path)) {
      if (auto g = options_.group_lookup(*v))
        s.group_gid = *g;
      else
        error(*t.get("socket_group"), path + ".socket_group",
              "group " + dq(*v) + " does not exist on this machine");
    }
    if (auto v = get_string(t, "socket_mode", path)) {
      auto r = parse_socket_mode(*v);
      if (auto* msg = std::get_if<std::string>(&r))
        error(*t.get("socket_mode"), path + ".socket_mode", *msg);
      else
        s.mode = std::get<std::uint32_t>(r);
    }
  }

  void read_fastcgi(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "fastcgi", "");
    if (!t) return;
    const std::string p = "fastcgi";
    auto& f = cfg.fastcgi;
    check_keys(*t, p,
               {"listen", "socket_owner", "socket_group", "socket_mode", "allowed_clients",
                "trust_remote_user"});
    if (const toml::node* n = t->get("listen"))
      read_listen_list(*n, p + ".listen", f.listen);
    else
      error(t->source(),
            "fastcgi: missing listen, e.g. listen = [\"unix:/run/cgihost/fcgi.sock\"] (no "
            "FastCGI listener without it)");
    read_socket_settings(*t, p, f.socket);
    if (t->get("allowed_clients")) {
      f.allowed_clients.clear();
      read_cidrs(*t, "allowed_clients", p, f.allowed_clients);
    }
    if (auto v = get_bool(*t, "trust_remote_user", p)) f.trust_remote_user = *v;
  }

  void read_document_root(const toml::table& root, config& cfg) {
    const toml::node* n = root.get("document_root");
    if (!n)
      return error_at(
          1, 1, "document_root: missing; name the folder to serve, e.g. document_root = \"site\"");
    auto v = get_string(root, "document_root", "");
    if (!v) return;
    fs::path p = resolve_path(*v);
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st))
      return error(*n, "document_root", dq(p.string()) + " does not exist");
    if (!fs::is_directory(st))
      return error(*n, "document_root", dq(p.string()) + " is not a folder");
    cfg.document_root = fs::canonical(p, ec);
    if (ec) error(*n, "document_root", "cannot resolve " + dq(p.string()) + ": " + ec.message());
  }

  void read_identity(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "identity", "");
    std::optional<account> process, anonymous;
    bool anonymous_given = false;
    if (t) {
      check_keys(*t, "identity",
                 {"process", "anonymous", "server", "min_uid", "min_gid", "spawner_service",
                  "spawner_service_account", "logon_password_file"});
      read_logon_password_file(*t, cfg.identity);
      // Read first: every account named afterwards is checked against them (suEXEC's AP_UID_MIN).
      if (auto v = get_int<std::uint32_t>(*t, "min_uid", "identity", 1, 1u << 31))
        cfg.identity.min_uid = min_uid_ = *v;
      if (auto v = get_int<std::uint32_t>(*t, "min_gid", "identity", 1, 1u << 31))
        cfg.identity.min_gid = min_gid_ = *v;
      if (auto v = get_string(*t, "process", "identity")) {
        process = resolve_account(*t->get("process"), "identity.process", *v);
        if (!process) process = account{};  // reported; keep going
      }
      if (auto v = get_string(*t, "anonymous", "identity")) {
        anonymous_given = true;
        anonymous = resolve_account(*t->get("anonymous"), "identity.anonymous", *v);
        if (!anonymous) anonymous = account{};
      }
    }
    if (!process) {
      cfg.identity.process_defaulted = true;
      if (options_.running_as_root) {
        if (options_.dev_mode) {
          process = options_.lookup("nobody");
          if (!process)
            error_at(
                1, 1,
                "identity.process: dev mode runs children as \"nobody\", which does not exist");
        } else {
          error(t ? t->source() : toml::source_region{},
                "identity.process: missing; cgihost runs as root, and children never run as root: "
                "name the account pools run as, e.g. process = \"www-data\"");
        }
      } else if (options_.current_user) {
        process = options_.current_user;  // without root, children can only run as we do
      } else {
        error_at(1, 1, "identity.process: missing, and the account cgihost runs as is unknown");
      }
    }
    if (!anonymous_given) {
      if (options_.running_as_root) {
        anonymous = options_.lookup("nobody");
        if (!anonymous)
          error_at(1, 1, "identity.anonymous: missing, and the default \"nobody\" does not exist");
      } else {
        anonymous = options_.current_user;
      }
    }
    if (process) cfg.identity.process = *process;
    if (anonymous) cfg.identity.anonymous = *anonymous;
  }

  // `logon_password_file`: where `cgihost password` keeps the accounts'
  // DPAPI-protected passwords. Only Windows logs on with a password; the file
  // need not exist yet (`cgihost password set` creates it).
  void read_logon_password_file(const toml::table& t, identity_settings& id) {
    auto v = get_string(t, "logon_password_file", "identity");
    if (!v) return;
    if (v->empty())
      return error(*t.get("logon_password_file"), "identity.logon_password_file",
                   "empty: name a file, or leave the key out to log on by S4U only");
#ifdef _WIN32
    id.logon_password_file = resolve_path(*v);
#else
    (void)id;
    error(*t.get("logon_password_file"), "identity.logon_password_file",
          "only on Windows, where accounts log on with LogonUserW and DPAPI keeps the passwords");
#endif
  }

  // The network process's own account (`[identity] server`): named, it may
  // be no account a child runs as, nor root; not named, cgihost picks one
  // when it runs as root: the account "cgihost" (scripts/setup.sh and the
  // package create it) when it is free for this, else a uid of its own that
  // no account or group has. Without root there is nothing to switch to.
  void read_server_account(const toml::table& root, config& cfg) {
    auto& id = cfg.identity;
    auto taken_by = [&](const account& a) -> std::string {
      auto same = [&](const account& b) {
        return !b.name.empty() &&
               (b.name == a.name || (a.sid.empty() ? b.uid == a.uid : b.sid == a.sid));
      };
      for (const auto& child : child_accounts(cfg))
        if (same(*child.value)) return child.key;
      return {};
    };
    const toml::table* t = get_table(root, "identity", "");
    const toml::node* n = t ? t->get("server") : nullptr;
    if (n) {
      auto name = get_string(*t, "server", "identity");
      if (!name) return;
      const std::string path = "identity.server";
      auto a = options_.lookup(*name);
      if (!a) return error(*n, path, "account " + dq(*name) + " does not exist on this machine");
      if (a->uid == 0 || a->gid == 0)
        return error(*n, path,
                     "account " + dq(*name) + " is root; the network process never keeps root");
      if (!options_.running_as_root && !id.spawner_service)
        return error(*n, path,
                     "account " + dq(*name) +
                         " needs cgihost to run as root; without root the "
                         "network process and every child run as cgihost's own account");
      if (auto other = taken_by(*a); !other.empty())
        return error(*n, path,
                     "account " + dq(*name) + " (uid " + std::to_string(a->uid) + ") is also " +
                         other + ": the network process must run as an account no child runs as");
      id.server = a;
      id.server_choice = "[identity] server";
      return;
    }
    if (id.spawner_service)
      return error(*t->get("spawner_service"), "identity.spawner_service",
                   "needs [identity] server: the account the front end (cgihost serve) runs as, "
                   "e.g. server = 'IIS AppPool\\cgihost', the only one the service admits");
    if (!options_.running_as_root) return;
    constexpr const char* kDefault = "cgihost";
    std::string refused;
    if (auto a = options_.lookup(kDefault)) {
      auto other = taken_by(*a);
      if (a->uid != 0 && a->gid != 0 && other.empty()) {
        id.server = a;
        id.server_choice = "[identity] server not set: the account \"cgihost\"";
        return;
      }
      refused = " (the account \"cgihost\" is " + (other.empty() ? "root" : other) + ")";
    }
    // systemd's range for dynamic users, from the top: ids no account uses.
    for (std::uint32_t u = 65519; u >= 61184; --u) {
      account candidate{"", u, u, ""};
      if (!options_.id_in_use(u) && taken_by(candidate).empty()) {
        id.server = candidate;
        id.server_choice = "[identity] server not set and no account \"cgihost\"" + refused +
                           ": uid " + std::to_string(u) + ", which no account or group has";
        return;
      }
    }
    error_at(1, 1,
             "identity.server: not set, no account \"cgihost\", and no free uid in 61184-65519 "
             "for the network process: name its account, e.g. server = \"cgihost\"");
  }

  void read_authentication(const toml::table& root, config& cfg) {
    auto& a = cfg.authentication;
    const toml::table* t = get_table(root, "authentication", "");
    if (!t) return;
    const std::string p = "authentication";
    check_keys(*t, p,
               {"anonymous", "basic", "users_file", "realm", "trusted_header", "trusted_proxies",
                "iis_token"});
    if (auto v = get_bool(*t, "anonymous", p)) a.anonymous = *v;
    if (auto v = get_bool(*t, "basic", p)) a.basic = *v;
    if (auto v = get_string(*t, "realm", p)) {
      if (v->find('"') != std::string::npos || v->find('\\') != std::string::npos)
        error(*t->get("realm"), p + ".realm", "must not contain '\"' or '\\'");
      a.realm = *v;
    }
    if (auto v = get_string(*t, "users_file", p)) {
      a.users_file = resolve_path(*v);
#if defined(_WIN32)
      // crypt(3)'s hashes have no Windows implementation here.
      error(*t->get("users_file"), "authentication.users_file",
            "not on Windows (no crypt(3) for its hashes): let IIS authenticate and forward its "
            "token (iis_token = true)");
#else
      check_users_file(*t->get("users_file"), *a.users_file);
#endif
    } else if (a.basic && !t->get("users_file")) {
      error(*t->get("basic"), p + ".basic",
            "basic = true needs users_file, the file of \"name:hash\" lines");
    }
    if (auto v = get_string(*t, "trusted_header", p)) {
      if (!std::all_of(v->begin(), v->end(), is_token_char))
        error(*t->get("trusted_header"), p + ".trusted_header",
              dq(*v) + " is not a valid header name");
      a.trusted_header = *v;
    }
    read_cidrs(*t, "trusted_proxies", p, a.trusted_proxies);
    if (a.trusted_header && !t->get("trusted_proxies"))
      error(*t->get("trusted_header"), p + ".trusted_header",
            "needs trusted_proxies: the peers whose " + dq(*a.trusted_header) +
                " header is believed");
    read_iis_token(*t, a);
#ifdef _WIN32
    constexpr const char* ways = "anonymous, basic, trusted_header and iis_token are";
#else
    constexpr const char* ways = "anonymous, basic and trusted_header are";
#endif
    if (!a.anonymous && !a.basic && !a.trusted_header && !a.iis_token)
      error(t->source(), p + ": " + ways + " all off: no request could be served");
  }

  // `[identity] spawner_service = "NAME"`: children start through the
  // privileged spawner service NAME (Windows only: \\.\pipe\NAME-spawner).
  void read_spawner_service(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "identity", "");
    if (!t || !t->get("spawner_service")) return;
    auto v = get_string(*t, "spawner_service", "identity");
    if (!v) return;
    const toml::node& n = *t->get("spawner_service");
#ifdef _WIN32
    const bool ok = !v->empty() && v->size() <= 200 &&
                    v->find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_-.") == std::string::npos;
    if (!ok)
      return error(n, "identity.spawner_service",
                   dq(*v) + " is no service name: letters, digits, '_', '-' and '.' only");
    cfg.identity.spawner_service = *v;
    spawner_service_ = true;
#else
    (void)cfg;
    error(n, "identity.spawner_service",
          "only on Windows, where the privileged spawner is a service (cgihost service install)");
#endif
  }

  // `[identity] spawner_service_account = "DOMAIN\\name"`: who the spawner
  // service's process must run as (Windows only; LocalSystem by default).
  void read_spawner_service_account(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "identity", "");
    if (!t || !t->get("spawner_service_account")) return;
    auto v = get_string(*t, "spawner_service_account", "identity");
    if (!v) return;
    const toml::node& n = *t->get("spawner_service_account");
#ifdef _WIN32
    if (v->empty() || v->size() > 256)
      return error(n, "identity.spawner_service_account",
                   "an account name (DOMAIN\\name) is expected, not " + dq(*v));
    cfg.identity.spawner_service_account = *v;
#else
    (void)cfg;
    error(n, "identity.spawner_service_account",
          "only on Windows, where the privileged spawner is a service (cgihost service install)");
#endif
  }

  // `iis_token = true`: believe X-IIS-WindowsAuthToken from a loopback peer.
  // Only Windows has the handle IIS duplicates into this process.
  void read_iis_token(const toml::table& t, authentication_settings& a) {
    auto v = get_bool(t, "iis_token", "authentication");
    if (!v) return;
#ifdef _WIN32
    a.iis_token = *v;
#else
    (void)a;
    if (*v)
      error(*t.get("iis_token"), "authentication.iis_token",
            "only on Windows, where IIS's HttpPlatformHandler forwards a token handle");
#endif
  }

  void check_users_file(const toml::node& n, const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::error_code ec(errno, std::generic_category());
      return error(n, "authentication.users_file",
                   "cannot read " + dq(file.string()) + ": " + ec.message());
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = parse_htpasswd(text.str());
    for (auto& pr : parsed.problems)
      errors_.push_back({file.string(), pr.line, pr.column, pr.message});
  }

  void read_accounts(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "accounts", "");
    if (!t) return;
    for (auto&& [key, node] : *t) {
      std::string name(key.str());
      std::string p = "accounts." + dq(name);
      if (!node.is_string()) {
        wrong_type(node, p, "a string naming an OS account");
        continue;
      }
      if (name.empty()) {
        error(key.source(), "accounts: an authenticated name must not be empty");
        continue;
      }
      if (auto a = resolve_account(node, p, node.as_string()->get()))
        cfg.accounts.emplace(name, *a);
    }
  }

  void read_cgi(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "cgi", "");
    if (!t) return;
    check_keys(*t, "cgi",
               {"create_process_as_user", "timeout", "max_address_space", "max_cpu_time",
                "max_open_files", "max_processes", "max_children", "pass_authorization",
                "stop_grace", "stderr_mode", "activity_timeout", "slow_request_log"});
    if (auto v = get_bool(*t, "create_process_as_user", "cgi")) cfg.cgi.create_process_as_user = *v;
    if (auto v = get_bool(*t, "pass_authorization", "cgi")) cfg.cgi.pass_authorization = *v;
    if (auto v = get_duration(*t, "timeout", "cgi")) cfg.cgi.timeout = *v;
    read_limits(*t, "cgi", cfg.cgi.max_address_space, cfg.cgi.max_cpu_seconds,
                cfg.cgi.max_open_files, cfg.cgi.max_processes);
    if (auto v = get_int<std::uint32_t>(*t, "max_children", "cgi", 0, 1 << 20))
      cfg.cgi.max_children = *v;
    if (auto v = get_stop_grace(*t, "cgi")) cfg.cgi.stop_grace = *v;
    if (auto v = get_stderr_mode(*t, "cgi")) cfg.cgi.stderr_mode = *v;
    if (auto v = get_duration(*t, "activity_timeout", "cgi")) cfg.cgi.activity_timeout = *v;
    if (auto v = get_duration(*t, "slow_request_log", "cgi")) cfg.cgi.slow_request_log = *v;
  }

  // `stderr_mode = "log" | "log_and_500" | "ignore"` of [cgi] and [pools.NAME].
  std::optional<stderr_handling> get_stderr_mode(const toml::table& t, const std::string& p) {
    auto v = get_string(t, "stderr_mode", p);
    if (!v) return std::nullopt;
    for (auto m : {stderr_handling::log, stderr_handling::log_and_500, stderr_handling::ignore})
      if (*v == to_string(m)) return m;
    error(*t.get("stderr_mode"), p + ".stderr_mode",
          "must be \"log\", \"log_and_500\" or \"ignore\", not " + dq(*v));
    return std::nullopt;
  }

  // `stop_grace`, the TERM -> KILL wait of [cgi] and [pools.NAME].
  std::optional<duration> get_stop_grace(const toml::table& t, const std::string& p) {
    auto v = get_duration(t, "stop_grace", p);
    if (v && *v > std::chrono::minutes(10)) {
      error(*t.get("stop_grace"), p + ".stop_grace",
            "must be at most 10m (the wait between SIGTERM and SIGKILL)");
      return std::nullopt;
    }
    return v;
  }

  // The resource limits of children, the same keys in [cgi] and [pools.NAME].
  void read_limits(const toml::table& t, const std::string& p,
                   std::optional<std::uint64_t>& address_space,
                   std::optional<std::uint64_t>& cpu_seconds,
                   std::optional<std::uint64_t>& open_files,
                   std::optional<std::uint64_t>& processes) {
    if (auto v = get_size(t, "max_address_space", p, 16 * 1024 * 1024)) address_space = *v;
    if (auto v = get_duration(t, "max_cpu_time", p)) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(*v).count();
      if (secs < 1)
        error(*t.get("max_cpu_time"), p + ".max_cpu_time",
              "must be at least 1s (RLIMIT_CPU counts seconds)");
      else
        cpu_seconds = static_cast<std::uint64_t>(secs);
    }
    if (auto v = get_int<std::uint64_t>(t, "max_open_files", p, 8, 1 << 20)) open_files = *v;
    if (auto v = get_int<std::uint64_t>(t, "max_processes", p, 1, 1 << 22)) processes = *v;
  }

  // A pool's `address` (a FastCGI server that runs already: cgihost only
  // connects to it) and the keys that go with it or against it.
  void read_pool_address(const toml::table& pt, const std::string& p, pool& pl) {
    if (const toml::node* a = pt.get("address")) {
      if (!a->is_string()) {
        wrong_type(*a, p + ".address", "a string");
      } else if (auto parsed = parse_fastcgi_address(a->as_string()->get());
                 std::holds_alternative<std::string>(parsed)) {
        error(*a, p + ".address", std::get<std::string>(parsed));
      } else {
        pl.remote = std::get<fastcgi_address>(parsed);
      }
      for (const char* only :
           {"command", "max_instances", "max_requests", "impersonate", "env", "max_address_space",
            "max_cpu_time", "max_open_files", "max_processes", "children", "transport",
            "rapid_fails_per_minute", "min_instances"})
        if (const toml::node* n = pt.get(only))
          error(*n, p + "." + only,
                std::string("only for pools that start their program (command); this pool "
                            "connects to address"));
      if (auto v = get_int<std::uint32_t>(pt, "max_connections", p, 1, 65536))
        pl.max_connections = *v;
    } else if (const toml::node* n = pt.get("max_connections")) {
      error(*n, p + ".max_connections",
            "only with address (a FastCGI server cgihost connects to); use max_instances");
    }
  }

  // `monitor_changes_to` (IIS monitorChangesTo): a file, relative to the
  // config's folder; it need not exist yet (its appearing is a change too).
  void read_monitor_changes_to(const toml::table& pt, const std::string& p, pool& pl) {
    auto v = get_string(pt, "monitor_changes_to", p);
    if (!v) return;
    const toml::node& n = *pt.get("monitor_changes_to");
    if (v->empty())
      error(n, p + ".monitor_changes_to", "must name a file, e.g. \"php.ini\"");
    else if (pt.get("address"))
      error(n, p + ".monitor_changes_to",
            "not with address: cgihost starts no instance of that server to recycle");
    else
      pl.monitor_changes_to = resolve_path(*v);
  }

  // `min_instances`: at most max_instances (as resolved: 0 is one per core);
  // not with children or impersonate.
  void read_min_instances(const toml::table& pt, const std::string& p, pool& pl) {
    const toml::node* n = pt.get("min_instances");
    if (!n) return;
    auto v = get_int<std::uint32_t>(pt, "min_instances", p, 0, 4096);
    if (!v) return;
    if (pt.get("children"))
      error(*n, p + ".min_instances", "not with children: the pool runs one instance");
    else if (pt.get("impersonate") && pt.get("impersonate")->value_or(false))
      error(*n, p + ".min_instances",
            "not with impersonate = true (instances start per account, on demand)");
    else if (*v > pl.max_instances)
      error(*n, p + ".min_instances",
            "min_instances (" + std::to_string(*v) + ") must be at most max_instances (" +
                std::to_string(pl.max_instances) +
                (pl.max_instances_per_core ? ", one per core" : "") + ")");
    else
      pl.min_instances = *v;
  }

  // `children = N`: one instance whose own process manager keeps N children
  // (PHP_FCGI_CHILDREN), sharing one OPcache; N connections at once.
  void read_pool_children(const toml::table& pt, const std::string& p, pool& pl) {
    const toml::node* n = pt.get("children");
    if (!n) return;
    auto v = get_int<std::uint32_t>(pt, "children", p, 1, 4096);
    if (!v) return;
    pl.children = *v;
    if (const toml::node* m = pt.get("max_instances"))
      error(*m, p + ".max_instances",
            "not with children: the pool runs one instance with children processes");
    if (const toml::node* m = pt.get("impersonate"))
      error(*m, p + ".impersonate",
            "not with children (one instance per account is not supported)");
    if (pl.env.contains("PHP_FCGI_CHILDREN"))
      error(*n, p + ".children", "env sets PHP_FCGI_CHILDREN too: set only children");
  }

  // `transport = "pipe" | "tcp"`: how cgihost reaches the instances it starts.
  // Only Windows has a choice (POSIX: a Unix socket).
  void read_pool_transport(const toml::table& pt, const std::string& p, pool& pl) {
    const toml::node* n = pt.get("transport");
    if (!n) return;
    auto v = get_string(pt, "transport", p);
    if (!v) return;
#ifdef _WIN32
    if (*v == "pipe")
      pl.transport = pool_transport::pipe;
    else if (*v == "tcp")
      pl.transport = pool_transport::tcp;
    else
      error(*n, p + ".transport",
            "must be \"pipe\" (a named pipe, as IIS starts php-cgi.exe) or \"tcp\" (a loopback "
            "port), not " +
                dq(*v));
#else
    (void)pl;
    error(*n, p + ".transport",
          "only on Windows, where an instance gets a named pipe or a loopback TCP listener; here "
          "it always gets a Unix socket");
#endif
  }

  void read_pool_env(const toml::table& pt, const std::string& p,
                     std::map<std::string, std::string>& into) {
    if (const toml::table* env = get_table(pt, "env", p)) {
      for (auto&& [ek, ev] : *env) {
        std::string var(ek.str());
        std::string ep = p + ".env." + var;
        if (var.empty() || var.find('=') != std::string::npos ||
            var.find('\0') != std::string::npos)
          error(ek.source(), ep + ": not a valid environment variable name");
        else if (!ev.is_string())
          wrong_type(ev, ep, "a string");
        else
          into.emplace(var, ev.as_string()->get());
      }
    }
  }

  void read_pools(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "pools", "");
    if (!t) return;
    for (auto&& [key, node] : *t) {
      std::string name(key.str());
      std::string p = "pools." + name;
      if (!node.is_table()) {
        wrong_type(node, p, "a table");
        continue;
      }
      if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
          })) {
        error(key.source(), p + ": a pool name may hold only letters, digits, '-' and '_'");
      }
      const toml::table& pt = *node.as_table();
      check_keys(pt, p,
                 {"command",
                  "max_instances",
                  "max_requests",
                  "idle_timeout",
                  "request_timeout",
                  "queue_length",
                  "impersonate",
                  "env",
                  "address",
                  "max_connections",
                  "max_address_space",
                  "max_cpu_time",
                  "max_open_files",
                  "max_processes",
                  "pass_authorization",
                  "children",
                  "transport",
                  "stop_grace",
                  "rapid_fails_per_minute",
                  "min_instances",
                  "stderr_mode",
                  "activity_timeout",
                  "slow_request_log",
                  "monitor_changes_to"});
      pool pl;
      pl.name = name;
      read_pool_address(pt, p, pl);
      if (pt.get("address")) {
        // Checked above; the rest of the keys apply to both kinds.
      } else if (!pt.get("command")) {
        error(pt.source(),
              p + ": missing command, the program to run, e.g. command = [\"/usr/bin/php-cgi\"], "
                  "or address of a FastCGI server, e.g. address = \"unix:/run/php/php-fpm.sock\"");
      } else if (auto cmd = get_strings(pt, "command", p, false)) {
        pl.command = *cmd;
        if (auto found = find_program(pl.command[0], base_)) {
          pl.command[0] = found->string();
        } else if (!options_.dev_mode) {
          error(*pt.get("command"), p + ".command",
                "program " + dq(pl.command[0]) + " not found or not executable");
        } else {
          unavailable_pools_[name] = "program " + dq(pl.command[0]) + " not found on PATH";
        }
      }
      if (auto v = get_int<std::uint32_t>(pt, "max_instances", p, 0, 4096)) {
        pl.max_instances = *v ? *v : std::max(1u, std::thread::hardware_concurrency());
        pl.max_instances_per_core = *v == 0;
      }
      if (auto v = get_int<std::uint32_t>(pt, "max_requests", p, 0, 100'000'000))
        pl.max_requests = *v;
      if (auto v = get_duration(pt, "idle_timeout", p)) pl.idle_timeout = *v;
      if (auto v = get_duration(pt, "request_timeout", p)) pl.request_timeout = *v;
      if (auto v = get_stop_grace(pt, p)) pl.stop_grace = *v;
      if (auto v = get_int<std::uint32_t>(pt, "rapid_fails_per_minute", p, 0, 1'000'000))
        pl.rapid_fails_per_minute = *v;
      if (!pt.get("address")) read_min_instances(pt, p, pl);
      if (auto v = get_stderr_mode(pt, p)) pl.stderr_mode = *v;
      if (auto v = get_duration(pt, "activity_timeout", p)) pl.activity_timeout = *v;
      if (auto v = get_duration(pt, "slow_request_log", p)) pl.slow_request_log = *v;
      read_monitor_changes_to(pt, p, pl);
      if (auto v = get_int<std::uint32_t>(pt, "queue_length", p, 0, 1'000'000))
        pl.queue_length = *v;
      if (auto v = get_bool(pt, "impersonate", p)) pl.impersonate = *v;
      if (auto v = get_bool(pt, "pass_authorization", p)) pl.pass_authorization = *v;
      if (!pt.get("address"))
        read_limits(pt, p, pl.max_address_space, pl.max_cpu_seconds, pl.max_open_files,
                    pl.max_processes);
      read_pool_env(pt, p, pl.env);
      if (!pt.get("address")) read_pool_children(pt, p, pl);
      if (!pt.get("address")) read_pool_transport(pt, p, pl);
      cfg.pools.emplace(name, std::move(pl));
    }
  }

  // pool and interpreter, checked against the handler's module when its
  // match and module are valid (`ok`).
  void read_handler_module_keys(const toml::table& t, const std::string& p, const config& cfg,
                                handler& h, bool ok) {
    auto pool_name = get_string(t, "pool", p);
    auto interp = get_strings(t, "interpreter", p, false);
    if (!ok) return;
    if (h.module == module_kind::fastcgi) {
      if (!t.get("pool")) {
        error(t.source(), p + ": module \"fastcgi\" needs pool, the name of a [pools.NAME] table");
      } else if (pool_name) {
        if (!cfg.pools.contains(*pool_name)) {
          std::string msg = "pool " + dq(*pool_name) + " does not exist";
          if (cfg.pools.empty())
            msg += " (there is no [pools.NAME] table)";
          else {
            msg += "; pools are:";
            for (auto& [pn, pv] : cfg.pools) msg += " " + pn;
          }
          error(*t.get("pool"), p + ".pool", msg);
        } else if (auto u = unavailable_pools_.find(*pool_name); u != unavailable_pools_.end()) {
          h.available = false;
          h.unavailable_reason = "pool " + dq(*pool_name) + ": " + u->second;
        }
        h.pool = pool_name.value_or("");
      }
      if (t.get("interpreter"))
        error(*t.get("interpreter"), p + ".interpreter",
              "only a \"cgi\" handler takes an interpreter; a \"fastcgi\" one takes its program "
              "from its pool");
    }
    if (h.module == module_kind::cgi) {
      if (t.get("pool"))
        error(*t.get("pool"), p + ".pool", "only a \"fastcgi\" handler takes a pool");
      if (interp) {
        h.interpreter = *interp;
        if (auto found = find_program(h.interpreter[0], base_)) {
          h.interpreter[0] = found->string();
        } else if (!options_.dev_mode) {
          error(*t.get("interpreter"), p + ".interpreter",
                "program " + dq(h.interpreter[0]) + " not found or not executable");
        } else {
          h.available = false;
          h.unavailable_reason = "interpreter " + dq(h.interpreter[0]) + " not found on PATH";
        }
      }
    }
    if (h.module == module_kind::static_files) {
      if (t.get("pool")) error(*t.get("pool"), p + ".pool", "a \"static\" handler takes no pool");
      if (t.get("interpreter"))
        error(*t.get("interpreter"), p + ".interpreter",
              "a \"static\" handler takes no interpreter");
    }
  }

  void read_handlers(const toml::table& root, config& cfg) {
    const toml::node* n = root.get("handlers");
    if (!n) return;
    if (!n->is_array_of_tables())
      return wrong_type(*n, "handlers", "an array of tables ([[handlers]])");
    std::size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      std::string p = "handlers[" + std::to_string(i++) + "]";
      const toml::table& t = *e.as_table();
      check_keys(t, p, {"match", "module", "pool", "interpreter", "methods"});
      handler h;
      bool ok = true;
      if (auto m = get_string(t, "match", p)) {
        h.match = *m;
        if (m->size() > 2 && m->starts_with("*.") &&
            m->find_first_of("/*\\", 2) == std::string::npos) {
          h.kind = handler::match_kind::extension;
          h.value = m->substr(1);
        } else if (m->size() >= 3 && m->front() == '/' && m->ends_with("/*") &&
                   m->find('*') == m->size() - 1) {
          h.kind = handler::match_kind::prefix;
          h.value = m->substr(0, m->size() - 1);
        } else {
          error(*t.get("match"), p + ".match",
                dq(*m) + " is neither \"*.EXT\" nor a path pattern \"/path/*\"");
          ok = false;
        }
      } else {
        if (!t.get("match"))
          error(t.source(), p + ": missing match, e.g. match = \"*.php\" or \"/cgi-bin/*\"");
        ok = false;
      }
      if (auto m = get_string(t, "module", p)) {
        if (*m == "fastcgi")
          h.module = module_kind::fastcgi;
        else if (*m == "cgi")
          h.module = module_kind::cgi;
        else if (*m == "static")
          h.module = module_kind::static_files;
        else {
          error(*t.get("module"), p + ".module",
                dq(*m) + " is not a module; use \"fastcgi\", \"cgi\" or \"static\"");
          ok = false;
        }
      } else {
        if (!t.get("module"))
          error(t.source(), p + ": missing module (\"fastcgi\", \"cgi\" or \"static\")");
        ok = false;
      }
      read_handler_module_keys(t, p, cfg, h, ok);
      read_methods(t, p, h.methods);
      if (ok) cfg.handlers.push_back(std::move(h));
    }
  }

  // `methods = ["GET", "HEAD"]`: HTTP method tokens, as written (case-sensitive).
  void read_methods(const toml::table& t, const std::string& p, std::vector<std::string>& into) {
    auto list = get_checked_strings(t, "methods", p, false, [](const std::string& m) {
      return std::all_of(m.begin(), m.end(), is_token_char)
                 ? std::string()
                 : dq(m) + " is not an HTTP method (a token such as \"GET\")";
    });
    if (list) into = *list;
  }

  void read_locations(const toml::table& root, config& cfg) {
    const toml::node* n = root.get("locations");
    if (!n) return;
    if (!n->is_array_of_tables())
      return wrong_type(*n, "locations", "an array of tables ([[locations]])");
    std::map<std::string, std::string> prefixes;  // prefix -> the entry that has it
    std::size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      std::string p = "locations[" + std::to_string(i++) + "]";
      const toml::table& t = *e.as_table();
      check_keys(t, p,
                 {"prefix", "create_process_as_user", "timeout", "fallback", "deny", "scripts",
                  "root", "script", "env", "pass_authorization", "process_identity"});
      location l;
      if (auto v = get_string(t, "prefix", p)) {
        if (v->front() != '/')
          error(*t.get("prefix"), p + ".prefix", dq(*v) + " must start with '/'");
        else if (auto [it, fresh] = prefixes.emplace(*v, p); !fresh)
          error(*t.get("prefix"), p + ".prefix",
                dq(*v) + " is already the prefix of " + it->second);
        l.prefix = *v;
      } else if (!t.get("prefix")) {
        error(t.source(), p + ": missing prefix, e.g. prefix = \"/admin/\"");
      }
      l.create_process_as_user = get_bool(t, "create_process_as_user", p);
      l.timeout = get_duration(t, "timeout", p);
      if (auto v = get_bool(t, "deny", p)) l.deny = *v;
      l.scripts = get_bool(t, "scripts", p);
      l.pass_authorization = get_bool(t, "pass_authorization", p);
      read_location_targets(t, p, cfg, l);
      read_location_env(t, p, l.env);
      if (auto v = get_string(t, "process_identity", p))
        l.process_identity =
            resolve_account(*t.get("process_identity"), p + ".process_identity", *v);
      check_location_contradictions(t, p, l);
      cfg.locations.push_back(std::move(l));
    }
  }

  // fallback (a URL path of a file under document_root), root (a folder),
  // script (a file): each must exist.
  void read_location_targets(const toml::table& t, const std::string& p, const config& cfg,
                             location& l) {
    if (auto v = get_string(t, "fallback", p))
      if (document_file(*t.get("fallback"), p + ".fallback", *v, cfg)) l.fallback = *v;
    if (auto v = get_string(t, "root", p))
      l.root = existing_absolute(*t.get("root"), p + ".root", *v, true);
    if (auto v = get_string(t, "script", p))
      l.script = existing_absolute(*t.get("script"), p + ".script", *v, false);
  }

  // A location's env: names as a shell takes them, string values.
  void read_location_env(const toml::table& t, const std::string& p,
                         std::map<std::string, std::string>& into) {
    const toml::table* env = get_table(t, "env", p);
    if (!env) return;
    for (auto&& [key, value] : *env) {
      std::string name(key.str());
      std::string path = p + ".env." + name;
      bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                   std::all_of(name.begin(), name.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                   });
      if (!valid)
        error(key.source(),
              p + ".env: " + dq(name) +
                  " is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
      else if (!value.is_string())
        wrong_type(value, path, "a string");
      else
        into.emplace(name, value.as_string()->get());
    }
  }

  // Keys that cannot hold together; reported at the one that loses.
  void check_location_contradictions(const toml::table& t, const std::string& p,
                                     const location& l) {
    if (l.deny) {
      for (const char* key : {"fallback", "root", "script"})
        if (const toml::node* n = t.get(key))
          error(*n, p + "." + key,
                "contradicts deny = true: nothing under a denied prefix is served");
      return;
    }
    if (!t.get("script")) return;
    for (const char* key : {"fallback", "root"})
      if (const toml::node* n = t.get(key))
        error(*n, p + "." + key,
              "contradicts script: every request under the prefix runs " +
                  dq(t.get("script")->value_or(std::string())));
  }

  // An absolute path naming an existing folder (`folder`) or regular file. A
  // folder is returned canonical, as document_root is.
  std::optional<fs::path> existing_absolute(const toml::node& n, const std::string& path,
                                            const std::string& v, bool folder) {
    fs::path f(v);
    if (!f.is_absolute()) return error(n, path, dq(v) + " must be an absolute path"), std::nullopt;
    std::error_code ec;
    auto st = fs::status(f, ec);
    if (!fs::exists(st)) return error(n, path, dq(v) + " does not exist"), std::nullopt;
    if (folder && !fs::is_directory(st))
      return error(n, path, dq(v) + " is not a folder"), std::nullopt;
    if (!folder && !fs::is_regular_file(st))
      return error(n, path, dq(v) + " is not a regular file"), std::nullopt;
    if (!folder) return f.lexically_normal();
    fs::path c = fs::canonical(f, ec);
    if (ec) return error(n, path, "cannot resolve " + dq(v) + ": " + ec.message()), std::nullopt;
    return c;
  }

  // `url` is a plain URL path ("/index.php") naming a regular file under
  // document_root. False after reporting why not.
  bool document_file(const toml::node& n, const std::string& path, const std::string& url,
                     const config& cfg) {
    auto normalized = protocol::normalize_target(url);
    if (url.front() != '/' || !normalized || normalized->path != url || normalized->has_query)
      return error(n, path,
                   dq(url) + " must be a plain URL path beginning with '/', such as " +
                       "\"/index.php\""),
             false;
    if (cfg.document_root.empty()) return true;  // its own error is reported
    fs::path file = cfg.document_root / url.substr(1);
    std::error_code ec;
    auto st = fs::status(file, ec);
    if (!fs::exists(st))
      return error(n, path, dq(url) + " names " + dq(file.string()) + ", which does not exist"),
             false;
    if (!fs::is_regular_file(st))
      return error(n, path, dq(url) + " names " + dq(file.string()) + ", which is not a file"),
             false;
    return true;
  }

  void read_rewrites(const toml::table& root, config& cfg) {
    const toml::node* n = root.get("rewrites");
    if (!n) return;
    if (!n->is_array_of_tables())
      return wrong_type(*n, "rewrites", "an array of tables ([[rewrites]])");
    std::size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      std::string p = "rewrites[" + std::to_string(i++) + "]";
      const toml::table& t = *e.as_table();
      check_keys(t, p, {"match", "to", "if_missing", "redirect"});
      rewrite rw;
      const auto& at = t.source().begin;
      rw.where = file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
      std::optional<unsigned> captures;
      if (auto v = get_string(t, "match", p)) {
        std::string message;
        std::size_t offset = 0;
        if (auto compiled = pattern::compile(*v, message, offset))
          captures = compiled->capture_count();
        else
          error(*t.get("match"), p + ".match",
                "invalid regular expression at offset " + std::to_string(offset) + ": " + message);
        rw.match = *v;
      } else if (!t.get("match")) {
        error(t.source(), p + ": missing match, e.g. match = \"^/_media/(.*)$\"");
      }
      if (auto v = get_string(t, "to", p)) {
        check_rewrite_to(*t.get("to"), p + ".to", *v, captures);
        rw.to = *v;
      } else if (!t.get("to")) {
        error(t.source(), p + ": missing to, e.g. to = \"/lib/exe/fetch.php?media=$1\"");
      }
      if (auto v = get_bool(t, "if_missing", p)) rw.if_missing = *v;
      if (const toml::node* r = t.get("redirect")) {
        std::int64_t code = r->value_or<std::int64_t>(0);
        if (!r->is_integer())
          wrong_type(*r, p + ".redirect", "an integer (301, 302, 307 or 308)");
        else if (code != 301 && code != 302 && code != 307 && code != 308)
          error(*r, p + ".redirect",
                std::to_string(code) + " is not a redirect status; use 301, 302, 307 or 308");
        else
          rw.redirect = static_cast<unsigned>(code);
      }
      cfg.rewrites.push_back(std::move(rw));
    }
  }

  // `to` begins with '/' and refers to no capture `match` lacks (`captures`:
  // how many it has; unknown when match is wrong, reported already).
  void check_rewrite_to(const toml::node& n, const std::string& path, const std::string& to,
                        std::optional<unsigned> captures) {
    if (to.front() != '/') return error(n, path, dq(to) + " must begin with '/'");
    unsigned highest = highest_reference(to);
    if (!captures || highest <= *captures) return;
    error(n, path,
          "refers to $" + std::to_string(highest) + ", but match has " +
              (*captures == 0 ? std::string("no capturing group")
                              : "only " + std::to_string(*captures) + " capturing group" +
                                    (*captures == 1 ? "" : "s")));
  }

  void read_filtering(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "filtering", "");
    if (!t) return;
    check_keys(*t, "filtering", {"hidden_segments", "denied_extensions", "allow_dot_segments"});
    read_segments(*t, "hidden_segments", false, cfg.filtering.hidden_segments);
    read_segments(*t, "denied_extensions", false, cfg.filtering.denied_extensions);
    read_segments(*t, "allow_dot_segments", true, cfg.filtering.allow_dot_segments);
  }

  // A [filtering] list: non-empty strings without '/' (beginning with '.'
  // when `dot`); given, it replaces the default.
  void read_segments(const toml::table& t, std::string_view key, bool dot,
                     std::vector<std::string>& into) {
    auto list = get_checked_strings(t, key, "filtering", true, [dot](const std::string& s) {
      if (s.find('/') != std::string::npos) return dq(s) + " must not contain '/'";
      if (dot && s.front() != '.') return dq(s) + " must begin with '.'";
      return std::string();
    });
    if (list) into = *list;
  }

  void read_proxy(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "proxy", "");
    if (!t) return;
    check_keys(*t, "proxy", {"trusted", "trust_host"});
    read_cidrs(*t, "trusted", "proxy", cfg.proxy.trusted, &cfg.proxy.trusted_unix);
    if (auto v = get_bool(*t, "trust_host", "proxy")) cfg.proxy.trust_host = *v;
    if (cfg.proxy.trust_host && !t->get("trusted"))
      error(*t->get("trust_host"), "proxy.trust_host",
            "needs trusted: the peers whose forwarded host is believed");
  }

  // [errors]: "404" = "/errors/404.html", statuses 400-599.
  void read_errors(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "errors", "");
    if (!t) return;
    for (auto&& [key, node] : *t) {
      std::string k(key.str());
      unsigned status = 0;
      auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), status);
      if (k.size() != 3 || ec != std::errc{} || end != k.data() + k.size() || status < 400 ||
          status > 599) {
        error(key.source(), "errors." + dq(k) +
                                ": not an HTTP error status; use one from 400 to 599, e.g. 404 = "
                                "\"/errors/404.html\"");
        continue;
      }
      std::string p = "errors." + k;
      if (!node.is_string()) {
        wrong_type(node, p, "a string such as \"/errors/404.html\"");
        continue;
      }
      std::string url = node.as_string()->get();
      if (url.empty())
        error(node, p, "must not be empty");
      else if (document_file(node, p, url, cfg))
        cfg.error_pages.emplace(status, url);
    }
  }

  void read_static(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "static", "");
    if (!t) return;
    check_keys(*t, "static", {"enabled", "index"});
    if (auto v = get_bool(*t, "enabled", "static")) cfg.static_files.enabled = *v;
    if (auto v = get_strings(*t, "index", "static", true)) {
      for (std::size_t i = 0; i < v->size(); ++i)
        if ((*v)[i].find('/') != std::string::npos || (*v)[i] == "." || (*v)[i] == "..")
          error(*t->get("index")->as_array()->get(i), "static.index[" + std::to_string(i) + "]",
                "must be a plain file name");
      cfg.static_files.index = *v;
    }
  }

  void read_http(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "http", "");
    if (!t) return;
    const std::string p = "http";
    auto& h = cfg.http;
    check_keys(*t, p,
               {"max_request_line", "max_header_bytes", "max_header_count", "max_body_size",
                "header_timeout", "keepalive_timeout", "body_timeout", "send_timeout",
                "max_keepalive_requests", "socket_owner", "socket_group", "socket_mode"});
    read_socket_settings(*t, p, h.socket);
    // The head is held whole while it is parsed (and a trailer section up to
    // max_header_bytes too): these caps bound a connection's read buffer.
    if (auto v = get_size(*t, "max_request_line", p, 64, http_settings::kMaxRequestLineCap))
      h.max_request_line = *v;
    if (auto v = get_size(*t, "max_header_bytes", p, 256, http_settings::kMaxHeaderBytesCap))
      h.max_header_bytes = *v;
    if (auto v = get_int<std::uint32_t>(*t, "max_header_count", p, 1, 10'000))
      h.max_header_count = *v;
    if (auto v = get_size(*t, "max_body_size", p, 0)) h.max_body_size = *v;
    if (auto v = get_duration(*t, "header_timeout", p)) h.header_timeout = *v;
    if (auto v = get_duration(*t, "keepalive_timeout", p)) h.keepalive_timeout = *v;
    if (auto v = get_duration(*t, "body_timeout", p)) h.body_timeout = *v;
    if (auto v = get_duration(*t, "send_timeout", p)) h.send_timeout = *v;
    if (auto v = get_int<std::uint32_t>(*t, "max_keepalive_requests", p, 1, 100'000'000))
      h.max_keepalive_requests = *v;
    for (auto key : {"header_timeout", "keepalive_timeout", "body_timeout", "send_timeout"})
      if (const toml::node* n = t->get(key); n && n->is_string()) {
        auto r = parse_duration(n->as_string()->get());
        if (auto* d = std::get_if<duration>(&r); d && d->count() == 0)
          error(*n, p + "." + key, "must be longer than 0");
      }
  }

  void read_server(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "server", "");
    if (!t) return;
    check_keys(*t, "server", {"threads", "grace_period", "pid_file"});
    if (auto v = get_int<std::uint32_t>(*t, "threads", "server", 0, 256)) cfg.server.threads = *v;
    if (auto v = get_duration(*t, "grace_period", "server")) cfg.server.grace_period = *v;
    if (auto v = get_string(*t, "pid_file", "server")) {
      if (v->empty())
        error(*t->get("pid_file"), "server.pid_file", "must not be empty");
      else
        cfg.server.pid_file = resolve_path(*v);
    }
  }

  void read_log(const toml::table& root, config& cfg) {
    const toml::table* t = get_table(root, "log", "");
    if (!t) return;
    check_keys(*t, "log", {"error_log", "level", "access_log", "access_format"});
    if (auto v = get_string(*t, "error_log", "log")) {
      cfg.log.error_log = *v == "stderr" ? *v : resolve_path(*v).string();
      if (*v != "stderr")
        check_log_folder(*t->get("error_log"), "log.error_log", cfg.log.error_log);
    }
    if (auto v = get_string(*t, "level", "log")) {
      static constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};
      if (std::find(std::begin(kLevels), std::end(kLevels), *v) == std::end(kLevels))
        error(*t->get("level"), "log.level",
              dq(*v) + " is not a level; use trace, debug, info, warn, error, critical or off");
      else
        cfg.log.level = *v;
    }
    if (auto v = get_string(*t, "access_log", "log")) {
      cfg.log.access_log = (*v == "stdout" || *v == "off") ? *v : resolve_path(*v).string();
      if (*v != "stdout" && *v != "off")
        check_log_folder(*t->get("access_log"), "log.access_log", cfg.log.access_log);
    }
    if (auto v = get_string(*t, "access_format", "log")) {
      if (*v == "combined" || *v == "json")
        cfg.log.access_format = *v;
      else
        error(*t->get("access_format"), "log.access_format",
              dq(*v) + " is not an access log format; use \"combined\" or \"json\"");
    }
  }

  // A log file is created at start-up; its folder must already exist.
  void check_log_folder(const toml::node& n, const std::string& path, const fs::path& file) {
    std::error_code ec;
    fs::path folder = file.parent_path();
    if (!fs::is_directory(folder, ec))
      error(n, path, "folder " + dq(folder.string()) + " does not exist");
    else if (fs::is_directory(file, ec))
      error(n, path, dq(file.string()) + " is a folder");
  }

  std::string file_;
  fs::path base_;
  const load_options& options_;
  std::vector<diagnostic> errors_;
  std::map<std::string, std::string> unavailable_pools_;
  std::optional<std::uint32_t> min_uid_, min_gid_;
  bool spawner_service_ = false;       // [identity] spawner_service: children need not run as us
  std::set<std::string> listen_seen_;  // every listen address, HTTP and FastCGI
};

}  // namespace

load_options system_load_options() {
  load_options o;
  o.running_as_root = running_with_privileges();
  o.current_user = current_system_account();
  return o;
}

load_result load_string(std::string_view text, const std::string& source_name,
                        const fs::path& base_dir, const load_options& options) {
  return loader(source_name, base_dir, options).run(text);
}

load_result load_file(const fs::path& file, const load_options& options) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec(errno, std::generic_category());
    load_result r;
    r.errors.push_back({file.string(), 1, 1, "cannot read config: " + ec.message()});
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  fs::path base = fs::absolute(file).parent_path();
  return load_string(text.str(), file.string(), base, options);
}

load_result load_dev(const fs::path& root, const std::optional<std::string>& listen,
                     load_options options) {
  options.dev_mode = true;
  std::error_code ec;
  fs::path base = fs::absolute(root, ec);
  load_result r = load_string(dev_config_text(), "<dev>", base, options);
  if (r.ok() && listen) {
    auto ep = parse_endpoint(*listen);
    if (auto* msg = std::get_if<std::string>(&ep)) {
      r.errors.push_back({"--listen", 1, 1, *msg});
      r.value.reset();
    } else {
      r.value->listen = {std::get<endpoint>(ep)};
    }
  }
  return r;
}

}  // namespace cgihost::config
