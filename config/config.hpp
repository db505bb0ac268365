#pragma once
// The typed, validated configuration of cgihost. Everything here is plain
// data: nothing is bound, spawned or opened by loading it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/values.hpp"

namespace cgihost::config {

using duration = std::chrono::milliseconds;

// An OS account, resolved once at load.
struct account {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string home;
  // Windows: the account's SID ("S-1-5-21-..."); uid and gid then hold its
  // relative id (0 for LocalSystem and the Administrators group, which count
  // as root). Empty on POSIX.
  std::string sid{};
  bool operator==(const account&) const = default;
};

struct identity_settings {
  account process;    // pools (and CGI with create_process_as_user = false) run as this
  account anonymous;  // unauthenticated requests run as this
  bool process_defaulted = false;  // true when [identity] process was not given
  // The account the network process runs as once root is dropped
  // (`[identity] server`): no child ever runs as it, so no script can signal
  // it, read its files or reach its sockets. Unset without root (then
  // everything runs as cgihost's own account). `name` is empty for a uid of
  // its own that no account has (the default when there is no "cgihost"
  // account); `server_choice` says how it was chosen, for the start-up log
  // and check-config.
  std::optional<account> server;
  std::string server_choice;
  // Windows only (`[identity] spawner_service`): the privileged spawner
  // service children start through, reached at \\.\pipe\<name>-spawner;
  // `server` is then required (the front end's account, the only one the
  // service admits). Unset: children run as cgihost itself.
  std::optional<std::string> spawner_service;
  // Windows only (`[identity] spawner_service_account`): the account the
  // spawner service's process must run as; a pipe served by another is
  // refused at start-up (any local user can serve a pipe of that name while
  // the service is stopped). LocalSystem (S-1-5-18) by default.
  std::string spawner_service_account = "NT AUTHORITY\\SYSTEM";
  // suEXEC's AP_UID_MIN / AP_GID_MIN: no account below them is ever used.
  std::optional<std::uint32_t> min_uid;
  std::optional<std::uint32_t>
      min_gid;  // Windows only (`[identity] logon_password_file`, relative to the config's
  // folder): the DPAPI-protected passwords of accounts that log on with
  // LogonUserW (`cgihost password set`); an account without one there, or
  // every account when unset, logs on by S4U without a password. Unset
  // elsewhere (a config error).
  std::optional<std::filesystem::path> logon_password_file;
};

struct authentication_settings {
  bool anonymous = true;
  bool basic = false;
  std::optional<std::filesystem::path> users_file;
  std::string realm = "cgihost";
  std::optional<std::string> trusted_header;
  std::vector<cidr> trusted_proxies;
  // Windows only: the X-IIS-WindowsAuthToken header of a loopback peer (IIS's
  // HttpPlatformHandler with forwardWindowsAuthToken="true") names the token of
  // the user IIS authenticated. Always false elsewhere (a config error).
  bool iis_token = false;
};

// `stderr_mode` (IIS stderrMode): what a script's stderr does. log: each line
// goes to the error log; log_and_500: logged, and a request whose script
// wrote to stderr before its response head went out gets 500
// (ReturnStdErrIn500, without the text); ignore: discarded, not logged
// (IgnoreAndReturn200).
enum class stderr_handling { log, log_and_500, ignore };
const char* to_string(stderr_handling m) noexcept;

struct cgi_settings {
  bool create_process_as_user = true;
  // HTTP_AUTHORIZATION reaches CGI scripts (Apache CGIPassAuth); a location's
  // own setting wins.
  bool pass_authorization = false;
  duration timeout = std::chrono::minutes(15);
  // Resource limits of each CGI child (setrlimit); unset: inherited.
  std::optional<std::uint64_t> max_address_space;  // bytes, RLIMIT_AS
  std::optional<std::uint64_t> max_cpu_seconds;    // RLIMIT_CPU
  std::optional<std::uint64_t> max_open_files;     // RLIMIT_NOFILE
  std::optional<std::uint64_t> max_processes;      // RLIMIT_NPROC (per account)
  // How many CGI children may run at once (all handlers together); further
  // requests wait for one to end, within their timeout. 0: no limit.
  std::uint32_t max_children = 0;
  // `stop_grace` (IIS signalBeforeTerminateSeconds): a child being ended
  // (timeout, client gone, server stop) gets SIGTERM, then SIGKILL this long
  // after (Windows: its job is ended at once).
  duration stop_grace = std::chrono::seconds(2);
  stderr_handling stderr_mode = stderr_handling::log;
  // `activity_timeout` (IIS activityTimeout): no byte from the child (nor
  // of the request body to it) for this long ends it, 504 naming the phase
  // ("waiting for the head", "streaming the body"; after the head, the
  // connection is closed). 0: none.
  duration activity_timeout{0};
  // `slow_request_log` (php-fpm request_slowlog_timeout): a request still
  // running this long after it arrived gets one warning line (pid, account,
  // method and URI, elapsed, phase). 0: none.
  duration slow_request_log{0};
};

enum class module_kind { fastcgi, cgi, static_files };
const char* to_string(module_kind m) noexcept;

struct handler {
  enum class match_kind { extension, prefix };
  std::string match;  // as written: "*.php" or "/cgi-bin/*"
  match_kind kind = match_kind::extension;
  std::string value;  // ".php" (extension, with the dot) or "/cgi-bin/" (prefix)
  module_kind module = module_kind::static_files;
  std::string pool;                      // fastcgi only
  std::vector<std::string> interpreter;  // cgi only; empty: the script is executed itself
  bool available = true;                 // false in dev mode when its program was not found
  std::string unavailable_reason;
  // `methods = ["GET", "HEAD", "POST"]`: any other method is 405 with Allow
  // (IIS verbs). Empty: any method. As written (methods are case-sensitive).
  std::vector<std::string> methods;
};

// How cgihost reaches an instance it started (Windows; POSIX: always a Unix
// socket in socket_dir). pipe: a named pipe's server end as the instance's
// standard input, as IIS's FastCgiModule starts php-cgi.exe; tcp: a loopback
// TCP listener as its standard input.
enum class pool_transport { pipe, tcp };

// A pool's default stop_grace: php-cgi.exe looks at its shutdown event about
// once a second while it waits for a connection, so Windows gives it longer.
#ifdef _WIN32
inline constexpr duration kDefaultPoolStopGrace = std::chrono::seconds(3);
#else
inline constexpr duration kDefaultPoolStopGrace = std::chrono::seconds(2);
#endif

struct pool {
  std::string name;
  std::vector<std::string> command;
  // Set: a FastCGI server that runs already (php-fpm here or elsewhere):
  // cgihost connects, at most max_connections at once, and starts nothing.
  std::optional<fastcgi_address> remote;
  std::uint32_t max_connections = 8;
  // `max_instances = 0` (IIS: as many as the machine suits) is resolved at
  // load to one per core (std::thread::hardware_concurrency(), at least 1);
  // `max_instances_per_core` says it was written so.
  std::uint32_t max_instances = 4;
  bool max_instances_per_core = false;
  // `min_instances` (php-fpm pm.start_servers): started with the pool and
  // kept even when idle (idle_timeout does not end them); at most
  // max_instances. Not with address, children or impersonate.
  std::uint32_t min_instances = 0;
  // Set: one instance whose own process manager keeps this many children on
  // its socket (PHP_FCGI_CHILDREN), sharing one OPcache; as many connections
  // at once, none kept. 0: max_instances separate instances.
  std::uint32_t children = 0;
  // `transport` (Windows only; a config error elsewhere).
  pool_transport transport = pool_transport::pipe;
  std::uint32_t max_requests = 500;
  duration idle_timeout = std::chrono::minutes(5);
  duration request_timeout = std::chrono::seconds(90);
  std::uint32_t queue_length = 1000;
  bool impersonate = false;
  // HTTP_AUTHORIZATION reaches this pool's scripts; a location's own setting wins.
  bool pass_authorization = false;
  std::map<std::string, std::string> env;
  // Resource limits of each instance (setrlimit), as [cgi]'s; unset: inherited.
  std::optional<std::uint64_t> max_address_space;  // bytes, RLIMIT_AS
  std::optional<std::uint64_t> max_cpu_seconds;    // RLIMIT_CPU
  std::optional<std::uint64_t> max_open_files;     // RLIMIT_NOFILE
  std::optional<std::uint64_t> max_processes;      // RLIMIT_NPROC (per account)
  // `stop_grace`: an instance asked to end (idle_timeout, max_requests, a
  // stop, an aborted request) gets SIGTERM, then SIGKILL to its group this
  // long after; Windows: its shutdown event, then its job is ended.
  duration stop_grace = kDefaultPoolStopGrace;
  // `rapid_fails_per_minute` (IIS rapidFailsPerMinute): this many failures
  // (failed starts and crashes) within a minute stop starting instances for
  // 30 s (503 with Retry-After). 0: never paused.
  std::uint32_t rapid_fails_per_minute = 10;
  // `stderr_mode`: for the FCGI_STDERR records of its requests (an
  // instance's own stderr pipe, outside any request, is always logged).
  stderr_handling stderr_mode = stderr_handling::log;
  // `activity_timeout`: as in [cgi], for a request on an instance (any
  // FastCGI record, or a write of the request to it, is activity); the
  // instance is killed. 0: none.
  duration activity_timeout{0};
  // `slow_request_log`: as in [cgi], for this pool's requests; noticed once
  // the request has an instance (counted from its arrival).
  duration slow_request_log{0};
  // `monitor_changes_to` (IIS monitorChangesTo): when this file changes (its
  // modification time or size, or it appears or goes; looked at about once a
  // second), every instance is recycled gracefully: an idle one ends at
  // once, a busy one after its request; new ones start as requests need them.
  std::optional<std::filesystem::path> monitor_changes_to;
  // A reload keeps a pool whose settings compare equal (its instances go on).
  bool operator==(const pool&) const = default;
};

// A [[locations]] entry: settings for every request whose normalized path
// begins with `prefix`. Every matching location applies, the shorter prefix
// first, so a deeper one overrides what it sets (IIS <location> nesting).
struct location {
  std::string prefix;
  std::optional<bool> create_process_as_user;
  std::optional<duration> timeout;
  // A request under the prefix whose path names no existing file or folder
  // runs this script (a URL path under document_root, checked at load):
  // nginx try_files ... /index.php?$args.
  std::optional<std::string> fallback;
  // Everything under the prefix is 404, logged with the rule (nginx deny all).
  bool deny = false;
  // false: no handler runs under the prefix; a file a handler would run is
  // 403, others are static files (wp-content/uploads/).
  std::optional<bool> scripts;
  // The prefix maps to this folder (absolute) instead of document_root, with
  // the same beneath-the-root rules inside it (nginx alias, IIS virtual directory).
  std::optional<std::filesystem::path> root;
  // Every request under the prefix runs this program (absolute path);
  // SCRIPT_NAME = the prefix without its trailing slash, PATH_INFO = the rest
  // (Apache ScriptAlias).
  std::optional<std::filesystem::path> script;
  // Added to the environment of CGI children and to FastCGI PARAMS under the
  // prefix (Apache SetEnv, nginx fastcgi_param).
  std::map<std::string, std::string> env;
  std::optional<bool> pass_authorization;
  // The identity used under the prefix wherever the decision table says
  // "process identity" (checked like identity.process).
  std::optional<account> process_identity;
};

// A [[rewrites]] entry (IIS URL Rewrite, nginx rewrite ... last).
struct rewrite {
  std::string match;        // a PCRE2 expression against the normalized path (checked at load)
  std::string to;           // "/lib/exe/fetch.php?media=$1": captures $1..$9
  bool if_missing = false;  // only when the path names no existing file or folder
  unsigned redirect = 0;    // 0: internal; else 301, 302, 307 or 308
  std::string where;        // "FILE:LINE:COL" of the entry, for logs and explain
};

// [filtering] (IIS requestFiltering): what no request path may name.
struct filtering_settings {
  // Case-insensitive exact segment names refused anywhere in a path.
  std::vector<std::string> hidden_segments;
  // Endings of the last segment refused, case-insensitive (".bak", "~").
  std::vector<std::string> denied_extensions = {"~", ".bak", ".swp", ".orig", ".old"};
  // Segments beginning with a dot that are allowed (as a first segment only
  // for ".well-known"); every other dot segment is 404. A list given replaces it.
  std::vector<std::string> allow_dot_segments = {".well-known"};
};

// [proxy]: peers whose forwarded client, scheme and port are believed.
struct proxy_settings {
  std::vector<cidr> trusted;
  // "unix:" in `trusted`: a peer on one of our Unix-socket listeners (its
  // address is "unix:", which no range can name).
  bool trusted_unix = false;
  bool trust_host = false;  // Forwarded: host= / X-Forwarded-Host give SERVER_NAME
};

struct static_settings {
  bool enabled = true;
  std::vector<std::string> index = {"index.html"};
};

// Who owns a listening Unix socket and who may connect to it
// (socket_owner, socket_group, socket_mode): applied before the first accept.
struct socket_settings {
  std::optional<std::uint32_t> owner_uid;  // unset: the account cgihost runs as
  std::optional<std::uint32_t> group_gid;  // unset: that account's group
  std::uint32_t mode = 0660;
};

// [fastcgi]: cgihost as a FastCGI server (the responder) behind a web server.
struct fastcgi_front_settings {
  std::vector<endpoint> listen;  // "unix:/path" or "HOST:PORT"; empty: no FastCGI listener
  socket_settings socket;
  // The peers a TCP listener accepts (FCGI_WEB_SERVER_ADDRS); a Unix socket
  // is guarded by its mode.
  std::vector<cidr> allowed_clients = {std::get<cidr>(parse_cidr("127.0.0.0/8")),
                                       std::get<cidr>(parse_cidr("::1/128"))};
  // REMOTE_USER (and AUTH_TYPE) from the web server is the authenticated
  // name; false: the request is anonymous and neither reaches the script.
  bool trust_remote_user = false;
};

// Limits and timeouts of the HTTP front end.
struct http_settings {
  // The largest values config::load accepts for the two head limits.
  static constexpr std::uint64_t kMaxRequestLineCap = 1024 * 1024;
  static constexpr std::uint64_t kMaxHeaderBytesCap = 1024 * 1024;
  std::uint64_t max_request_line = 8 * 1024;              // longer: 414
  std::uint64_t max_header_bytes = 16 * 1024;             // request line excluded; more: 431
  std::uint32_t max_header_count = 100;                   // more: 431
  std::uint64_t max_body_size = 100 * 1024 * 1024;        // more: 413
  duration header_timeout = std::chrono::seconds(10);     // first byte to end of head
  duration keepalive_timeout = std::chrono::seconds(15);  // idle wait for the next request
  duration body_timeout = std::chrono::seconds(30);       // no body byte for this long
  duration send_timeout = std::chrono::seconds(60);       // one write stalled this long
  std::uint32_t max_keepalive_requests = 1000;
  socket_settings socket;  // for a `listen = "unix:/..."`
};

struct server_settings {
  std::uint32_t threads = 0;  // 0: one per core
  duration grace_period = std::chrono::seconds(10);
  // Written at start (the network process's pid: the one SIGHUP reloads),
  // removed at exit; `cgihost reload -c FILE` reads it.
  std::optional<std::filesystem::path> pid_file;
};

struct log_settings {
  std::string error_log = "stderr";        // "stderr" or a file path
  std::string level = "info";              // trace debug info warn error critical off
  std::string access_log = "stdout";       // "stdout", "off" or a file path
  std::string access_format = "combined";  // "combined" or "json"
  bool operator==(const log_settings&) const = default;
};

// The status page: off unless `path` is set; answers only peers in `allow`
// (loopback when not given).
struct status_settings {
  std::optional<std::string> path;
  // A health check for load balancers (php-fpm's ping.path): GET or HEAD of
  // it answers 200 with ping_response as text/plain, to any peer.
  std::optional<std::string> ping_path;
  std::string ping_response = "pong";
  std::vector<cidr> allow = loopback_only();
  static std::vector<cidr> loopback_only() {
    return {std::get<cidr>(parse_cidr("127.0.0.0/8")), std::get<cidr>(parse_cidr("::1/128"))};
  }
};

struct config {
  std::filesystem::path source;  // the config file, or "<dev>"
  bool dev_mode = false;
  std::vector<endpoint> listen;         // HTTP; may be empty when [fastcgi] listens
  std::filesystem::path document_root;  // absolute
  // Whether a CGI or FastCGI script may be reached through a symlink that
  // leaves document_root (off: such a script is never run; static files
  // never leave it).
  bool allow_symlinks_outside_root = false;
  identity_settings identity;
  authentication_settings authentication;
  std::map<std::string, account> accounts;  // authenticated name -> OS account
  cgi_settings cgi;
  std::vector<handler> handlers;
  std::map<std::string, pool> pools;
  std::vector<location> locations;
  std::vector<rewrite> rewrites;  // in file order
  filtering_settings filtering;
  proxy_settings proxy;
  // [errors]: status -> a URL path under document_root served as the body of
  // cgihost's own answers with that status (checked to exist at load).
  std::map<unsigned, std::string> error_pages;
  static_settings static_files;
  http_settings http;
  fastcgi_front_settings fastcgi;
  server_settings server;
  log_settings log;
  status_settings status;
};

// An account the config names for children, with the key that names it.
struct named_account {
  const account* value;  // points into the config
  std::string key;       // "identity.process", "accounts.\"bob\"", "locations[2].process_identity"
};

// Every account a child may run as, in this order: identity.process,
// identity.anonymous, each [accounts] value, each [[locations]]
// process_identity (repeats included; an unresolved account has an empty
// name). The spawner's allowed accounts, check-config's users-file warnings
// and the server account's checks all start from this list.
std::vector<named_account> child_accounts(const config& cfg);

}  // namespace cgihost::config
