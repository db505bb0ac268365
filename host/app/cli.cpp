#include "host/app/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include "config/load.hpp"
#include "config/values.hpp"
#include "host/app/explain.hpp"
#include "host/app/password_command.hpp"
#include "host/app/server.hpp"
#include "host/app/service_command.hpp"
#include "host/app/try_command.hpp"
#include "host/dispatch/logging.hpp"
#include "host/dispatch/os_account.hpp"
#include "spawner/broker.hpp"
#include "spawner/child.hpp"
#include "spawner/files.hpp"
#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

std::string describe_with_groups(const spawner::identity& id) {
  std::string out = id.describe();
  std::string groups;
  for (auto g : id.groups)
    if (g != id.gid) groups += (groups.empty() ? "" : ",") + std::to_string(g.value);
  if (!groups.empty()) out += " groups " + groups;
  return out;
}

int print_diagnostics(const std::vector<config::diagnostic>& errors) {
  for (const auto& d : errors) std::cerr << d.to_string() << '\n';
  return 1;
}

// Once root is dropped, the process identity reads the site and re-reads the
// users file: say so now when it may not (called after the drop).
void warn_unreadable_after_drop(const config::config& cfg, const spawner::identity& as,
                                const logs& lg) {
  if (auto ec = spawner::can_read_folder(cfg.document_root))
    lg.error->warn("document_root {}: {} for {}: static files and scripts under it will fail",
                   cfg.document_root.string(), ec.message(), as.describe());
  const auto& file = cfg.authentication.users_file;
  std::string why;
  std::error_code ec;
  if (file && !spawner::may_access_path(as, file->string().c_str(), false, why, ec) && !ec)
    lg.error->warn(
        "users file {}: read at the start, but a change will not be read until a restart: {}",
        file->string(), why);
}

// Warnings for a users file that an account children run as may read: every
// script running as it could read every password hash. Only the network
// process's account should read it (with privilege separation).
std::vector<std::string> users_file_warnings(const config::config& cfg) {
  std::vector<std::string> out;
  const auto& file = cfg.authentication.users_file;
  if (!file || !cfg.identity.server) return out;
  std::vector<std::pair<const config::account*, std::string>> children{
      {&cfg.identity.process, "identity.process"}, {&cfg.identity.anonymous, "identity.anonymous"}};
  for (const auto& [user, a] : cfg.accounts) children.emplace_back(&a, "accounts.\"" + user + "\"");
  std::set<std::uint32_t> seen;
  for (const auto& [a, key] : children) {
    if (a->name.empty() || !seen.insert(a->uid).second) continue;
    auto id = spawner::resolve_identity(os_account(*a));
    std::string why;
    std::error_code ec;  // a file that cannot be looked at: no warning
    if (id && spawner::may_access_path(*id, file->string().c_str(), false, why, ec))
      out.push_back("users file " + file->string() + " is readable by " + a->name + " (" + key +
                    "): scripts running as it can read every password hash; let only the "
                    "network process's account read it (e.g. owner root, group of that "
                    "account, mode 0640)");
  }
  return out;
}

// The identity the network process drops to: the server account with its
// groups, plus the primary group of identity.process, so that it reads the
// site (static files, the document root) as that group may, as it did when it
// ran as identity.process. nullopt, with `error`, when it cannot be resolved.
std::optional<spawner::identity> network_identity(const config::config& cfg, std::string& error) {
  const auto& server = *cfg.identity.server;
  std::optional<spawner::identity> id;
  if (server.name.empty())
    id = spawner::identity{
        "", spawner::uid{server.uid}, spawner::gid{server.gid}, {spawner::gid{server.gid}}, ""};
  else
    id = spawner::resolve_identity(os_account(server));
  if (!id) {
    error = "the groups of identity.server " + server.name + " cannot be read";
    return std::nullopt;
  }
  const spawner::gid site_group{cfg.identity.process.gid};
  if (std::find(id->groups.begin(), id->groups.end(), site_group) == id->groups.end())
    id->groups.push_back(site_group);
  return id;
}

// Privilege separation, when started as root: the spawner process that
// alone keeps root, and the identity this process drops to.
struct separation {
  std::unique_ptr<spawner::broker> broker;
  std::optional<spawner::identity> drop_to;
};

// Where a reload reads the config again: the file `serve -c` named, with the
// options of the start (as root, when it started as root), `serve --listen`'s
// addresses in place of its listen. No file (dev mode): nothing to reload.
struct config_origin {
  std::filesystem::path file;
  config::load_options options;
  std::optional<std::vector<config::endpoint>> listen;
};

std::string joined(const std::vector<config::diagnostic>& errors) {
  std::string out;
  for (const auto& d : errors) out += (out.empty() ? "" : "\n") + d.to_string();
  return out;
}

// `text` (the origin file's, read again) loaded as the start loaded it.
config::load_result load_again(const config_origin& o, std::string_view text) {
  auto r = config::load_string(text, o.file.string(), o.file.parent_path(), o.options);
  if (r.ok() && o.listen) r.value->listen = *o.listen;
  return r;
}

bool read_whole(const std::filesystem::path& file, std::string& text, std::string& error) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    error = file.string() + ":1:1: cannot read config: " +
            std::error_code(errno, std::generic_category()).message();
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  text = s.str();
  return true;
}

// What the spawner does on a reload request, as root: reads the file itself
// and names the accounts it allows from then on.
spawner::broker::reread_fn spawner_reread(const config_origin& origin) {
  if (origin.file.empty()) return {};
  return [origin]() {
    spawner::broker::reread_result out;
    if (!read_whole(origin.file, out.text, out.error)) return out;
    auto r = load_again(origin, out.text);
    if (!r.ok()) {
      out.error = joined(r.errors);
      return out;
    }
    std::string error;
    auto accounts = spawn_accounts(*r.value, error);
    if (!error.empty()) {
      out.error = error;
      return out;
    }
    out.accounts = std::move(accounts);
    return out;
  };
}

// The network side of a reload: the text the spawner read and accepted (with
// privilege separation: the same bytes, so both serve one config), loaded here.
server::config_source network_reread(const config_origin& origin, spawner::broker* broker) {
  return [&origin, broker](std::string& errors) -> std::shared_ptr<const config::config> {
    if (origin.file.empty()) {
      errors = "no config file to read again (dev mode)";
      return nullptr;
    }
    std::string text;
    if (broker ? !broker->reload(text, errors) : !read_whole(origin.file, text, errors))
      return nullptr;
    auto r = load_again(origin, text);
    if (!r.ok()) {
      errors = joined(r.errors);
      return nullptr;
    }
    return std::make_shared<const config::config>(std::move(*r.value));
  };
}

// [server] pid_file: this process's pid, written (replaced whole) once the
// listeners are bound, removed at exit when it still names us (after root is
// dropped that may be refused: then it stays, naming a pid that is gone).
class pid_file {
 public:
  pid_file(const std::optional<std::filesystem::path>& path, const logs& lg) {
    if (!path) return;
    const auto pid = std::to_string(spawner::this_process_id());
    auto tmp = *path;
    tmp += ".new";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << pid << '\n';
    out.close();
    std::error_code ec;
    if (out) std::filesystem::rename(tmp, *path, ec);
    if (!out || ec) {
      lg.error->critical("cannot write server.pid_file {}: {}", path->string(),
                         ec ? ec.message() : std::strerror(errno));
      std::filesystem::remove(tmp, ec);
      ok_ = false;
      return;
    }
    path_ = *path;
    pid_ = pid;
  }
  ~pid_file() {
    if (path_.empty()) return;
    std::ifstream in(path_);
    std::string got;
    std::error_code ec;
    if (in >> got && got == pid_) std::filesystem::remove(path_, ec);
  }
  pid_file(const pid_file&) = delete;
  pid_file& operator=(const pid_file&) = delete;
  bool written() const { return ok_; }

 private:
  std::filesystem::path path_;
  std::string pid_;
  bool ok_ = true;
};

// A lane per io thread: each may have a spawn under way.
unsigned spawner_lanes(const config::config& cfg) {
  return cfg.server.threads ? cfg.server.threads
                            : std::max(1u, std::thread::hardware_concurrency());
}

#if defined(_WIN32)
// Windows: the privileged spawner is a service of its own ([identity]
// spawner_service); this process, unprivileged already (nothing to drop),
// connects to its pipe. nullopt after logging why it cannot.
std::optional<separation> connect_spawner_service(const config::config& cfg, const logs& lg) {
  separation out;
  const std::string& name = *cfg.identity.spawner_service;
  std::string error;
  out.broker = spawner::broker::connect(name, error, spawner_lanes(cfg),
                                        cfg.identity.spawner_service_account);
  if (!out.broker) {
    lg.error->critical(
        "cannot start: the spawner service {} does not answer: {}; install and start it "
        "(cgihost service install -c CONFIG --name {}, then sc start {})",
        name, error, name, name);
    return std::nullopt;
  }
  std::string names;
  for (const auto& id : spawn_accounts(cfg, error))
    if (!id.is_root()) names += (names.empty() ? "" : ", ") + id.describe();
  if (cfg.authentication.iis_token)
    names += std::string(names.empty() ? "" : ", ") + "the users of the tokens IIS forwards";
  lg.error->info("spawner service {} (pid {}) starts children as: {}", name, out.broker->pid(),
                 names.empty() ? std::string("(no account)") : names);
  return out;
}
#endif

// Splits the spawner off (now, while there is one thread) to start children
// as the accounts this config names; nullopt after logging why it cannot.
// Not root: nothing to split, an empty separation. Windows: connects to the
// spawner service when the config names one.
std::optional<separation> start_separation(const config::config& cfg, const logs& lg,
                                           const config_origin& origin) {
  separation out;
#if defined(_WIN32)
  if (cfg.identity.spawner_service) return connect_spawner_service(cfg, lg);
#endif
  if (!spawner::can_switch_accounts()) {
#if defined(_WIN32)
    const char* why = "no [identity] spawner_service: no privileged spawner service to ask";
#else
    const char* why = "cgihost is not root";
#endif
    const auto me = spawner::current_account();
    lg.error->info("every child runs as this process's account, {} ({})",
                   me.name.empty() ? "uid " + std::to_string(me.uid.value) : me.name, why);
    return out;
  }
  std::string error;
  auto accounts = spawn_accounts(cfg, error);
  if (!error.empty()) {
    lg.error->critical("cannot start: {}", error);
    return std::nullopt;
  }
  if (!cfg.identity.server) {
    lg.error->critical("cannot start: no account for the network process ([identity] server)");
    return std::nullopt;
  }
  out.drop_to = network_identity(cfg, error);
  if (!out.drop_to) {
    lg.error->critical("cannot start: {}", error);
    return std::nullopt;
  }
  out.broker = spawner::broker::start(accounts, error, spawner_lanes(cfg), log_file_paths(cfg.log),
                                      spawner_reread(origin));
  if (!out.broker) {
    lg.error->critical("cannot start the spawner process: {}", error);
    return std::nullopt;
  }
  std::string names;
  for (const auto& id : accounts) names += (names.empty() ? "" : ", ") + id.describe();
  lg.error->info("spawner process pid {} keeps root to start children as: {}", out.broker->pid(),
                 names);
  return out;
}

// Drops root for good once the listeners are bound; false after logging why not.
bool drop_root(const config::config& cfg, const spawner::identity& to, const logs& lg) {
  std::string error;
  if (!spawner::drop_privileges(to, error)) {
    lg.error->critical("cannot drop root: {}", error);
    return false;
  }
  lg.error->info(
      "this process (pid {}) now runs as {} ({}): it reads the network, never as root, and no "
      "child runs as it",
      spawner::this_process_id(), describe_with_groups(to), cfg.identity.server_choice);
  warn_unreadable_after_drop(cfg, to, lg);
  for (const auto& w : users_file_warnings(cfg)) lg.error->warn("{}", w);
  return true;
}

// The server for `cfg`, bound and catching signals; nullptr after logging why not.
std::unique_ptr<server> bound_server(const config::config& cfg, const logs& lg,
                                     spawner::broker* broker, std::vector<passed_socket> passed) {
  std::unique_ptr<server> srv;
  try {
    srv = std::make_unique<server>(cfg, lg, broker);
  } catch (const std::exception& e) {
    lg.error->critical("cannot start: {}", e.what());
    return nullptr;
  }
  srv->adopt(std::move(passed));
  std::string error;
  if (!srv->bind(error)) {
    lg.error->critical("{}", error);
    return nullptr;
  }
  srv->catch_signals();  // a SIGTERM right after "listening on" is a graceful stop too
  return srv;
}

// Serves until stopped; 1 when the spawner process ended first.
int serve_until_stopped(const config::config& cfg, const logs& lg, server& srv,
                        spawner::broker* broker, const sd_notify& notify) {
  std::string where;  // for systemd's STATUS=
  auto said = [&](const std::string& what) { where += (where.empty() ? "" : ", ") + what; };
  for (const auto& ep : srv.bound()) {
    std::string addr =
        ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    lg.error->info("listening on http://{}:{}/ (document root {})", addr, ep.port(),
                   cfg.document_root.string());
    said("http://" + addr + ":" + std::to_string(ep.port()) + "/");
  }
  for (const auto& ep : srv.bound_fastcgi()) {
    std::string addr =
        ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    lg.error->info("listening for FastCGI on {}:{} (document root {})", addr, ep.port(),
                   cfg.document_root.string());
    said("FastCGI " + addr + ":" + std::to_string(ep.port()));
  }
  for (const auto& path : srv.bound_unix()) {
    lg.error->info("listening on {} (document root {})", path, cfg.document_root.string());
    said(path);
  }
  srv.set_notify(&notify);
  if (notify.enabled() && !notify.send("READY=1\nSTATUS=listening on " + where +
                                       "\nMAINPID=" + std::to_string(spawner::this_process_id())))
    lg.error->warn("cannot tell systemd that cgihost is ready (NOTIFY_SOCKET {})",
                   notify.socket_name());
  // The spawner must outlive us: if it ends first (killed, out of memory),
  // nothing can start any more; say so and stop, exit 1, for a supervisor
  // to start cgihost again.
  std::atomic<bool> spawner_died{false};
  std::optional<spawner::exit_watch> watch;
  if (broker)
    watch.emplace(broker->pid(), [&] {
      spawner_died = true;
      lg.error->critical(
          "the spawner process (pid {}) ended: no child can start any more; stopping",
          broker->pid());
      srv.stop();
    });
  srv.run(true);
  watch.reset();
  lg.error->info("stopped");
  return spawner_died ? 1 : 0;
}

int run_server(const config::config& cfg, const config_origin& origin) {
  logs lg;
  try {
    lg = open_logs(cfg.log);
  } catch (const std::exception& e) {
    std::cerr << "cgihost: cannot open log: " << e.what() << '\n';
    return 1;
  }
  // Socket activation: taken before the spawner process starts (it closes
  // what it inherits) and before anything could pass them on to a child.
  std::string passed_error;
  auto passed = take_passed_sockets(passed_error);
  if (!passed_error.empty()) {
    lg.error->critical("cannot start: sockets from systemd: {}", passed_error);
    return 1;
  }
  // Connected while still root (Type=notify under systemd); no child sees it.
  std::string notify_error;
  const sd_notify notify = sd_notify::from_environment(notify_error);
  if (!notify_error.empty()) lg.error->warn("{}: systemd will not hear from cgihost", notify_error);
  if (cfg.dev_mode && spawner::can_switch_accounts()) {
    lg.error->warn("dev mode started as root: children will run as {} (uid {}), never as root",
                   cfg.identity.process.name, cfg.identity.process.uid);
  }
  for (const auto& h : cfg.handlers)
    if (!h.available) lg.error->warn("{} is disabled: {}", h.match, h.unavailable_reason);
  auto sep = start_separation(cfg, lg, origin);
  if (!sep) return 1;
  auto srv = bound_server(cfg, lg, sep->broker.get(), std::move(passed));
  if (!srv) return 1;
  srv->set_config_source(network_reread(origin, sep->broker.get()));
  pid_file pid(cfg.server.pid_file, lg);
  if (!pid.written()) return 1;
#ifndef _WIN32
  srv->set_on_reopen([&lg, broker = sep->broker.get()] {
    lg.error->info("received SIGUSR1, reopening the log files");
    reopen_logs(lg, broker);
  });
#endif
  if (sep->drop_to && !drop_root(cfg, *sep->drop_to, lg)) return 1;
  return serve_until_stopped(cfg, lg, *srv, sep->broker.get(), notify);
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// CLI11's check of one --listen value: the config's `listen` syntax; "" when good.
std::string listen_address_error(const std::string& value) {
  auto r = config::parse_listen(value);
  const auto* msg = std::get_if<std::string>(&r);
  return msg ? *msg : std::string();
}

// `serve --listen`'s addresses ("HOST:PORT" or "unix:/path"), each once (port
// 0 aside, as in the config's listen); an error text when one is given twice.
std::variant<std::vector<config::endpoint>, std::string> listen_override(
    const std::vector<std::string>& values) {
  std::vector<config::endpoint> out;
  std::set<std::string> seen;
  for (const auto& v : values) {
    auto ep = std::get<config::endpoint>(config::parse_listen(v));  // checked by CLI11
    if ((ep.port != 0 || ep.is_unix()) && !seen.insert(ep.to_string()).second)
      return ep.to_string() + " is given twice";
    out.push_back(std::move(ep));
  }
  return out;
}

// The command line as parsed.
struct command_line {
  CLI::App app{"cgihost: a FastCGI process manager and CGI host", "cgihost"};
  CLI::App* serve = nullptr;
  CLI::App* dev = nullptr;
  CLI::App* check = nullptr;
  CLI::App* tryc = nullptr;
  std::string serve_config, check_config, try_config;
  CLI::App* reload = nullptr;  // POSIX only
  std::string reload_config, reload_pid_file;
  std::vector<std::string> serve_listen;  // replaces the config's listen when given
  std::string dev_dir = ".";
  std::string dev_listen;
  try_request try_req;
  std::string try_user, try_data;
  bool try_explain = false;
  CLI::App* service = nullptr;  // Windows only
  service_args svc;
  password_args password;
};

#if defined(_WIN32)
void define_service_commands(command_line& c) {
  c.service = c.app.add_subcommand(
      "service", "The privileged spawner as a Windows service (install, uninstall, run)");
  c.service->require_subcommand(1);
  auto* install = c.service->add_subcommand(
      "install", "Install the service (LocalSystem, automatic start) for a config file");
  auto* uninstall = c.service->add_subcommand("uninstall", "Stop and remove the service");
  auto* run = c.service->add_subcommand("run", "The service's body (the service manager runs it)");
  for (auto* sub : {install, run})
    sub->add_option("-c,--config", c.svc.config, "The TOML config file")->required();
  for (auto* sub : {install, uninstall, run})
    sub->add_option("--name", c.svc.name, "The service's name (default cgihost)")
        ->check([](const std::string& v) {
          return !v.empty() && v.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                                   "UVWXYZ0123456789_-.") == std::string::npos
                     ? std::string()
                     : std::string("letters, digits, '_', '-' and '.' only");
        });
  run->add_flag("--console", c.svc.console, "Run in the foreground (Ctrl-C stops it)");
}
#endif

void define_commands(command_line& c) {
  c.app.set_version_flag("--version", "cgihost " CGIHOST_VERSION);
  c.app.require_subcommand(1);
  // A URL path ("/cgi-bin/x.exe") is no Windows-style option.
  c.app.allow_windows_style_options(false);
  c.serve = c.app.add_subcommand("serve", "Run with a config file");
  c.serve->add_option("-c,--config", c.serve_config, "The TOML config file")->required();
  c.serve
      ->add_option("--listen", c.serve_listen,
                   "HOST:PORT or unix:/path to listen on instead of the config's listen "
                   "(repeatable), e.g. 127.0.0.1:%HTTP_PLATFORM_PORT% under IIS's "
                   "HttpPlatformHandler")
      ->check(CLI::Validator(listen_address_error, "HOST:PORT", "listen address"));
  c.dev = c.app.add_subcommand("dev", "Serve DIR with the embedded dev config, no config file");
  c.dev->add_option("DIR", c.dev_dir, "Document root (default: the current folder)");
  c.dev->add_option("--listen", c.dev_listen, "HOST:PORT to listen on (default: 127.0.0.1:8080)");
#ifndef _WIN32
  c.reload = c.app.add_subcommand(
      "reload",
      "Ask a running cgihost to reload its config (SIGHUP to the pid in [server] pid_file)");
  auto* rc = c.reload->add_option("-c,--config", c.reload_config,
                                  "The TOML config file the running cgihost serves");
  auto* rp = c.reload->add_option("--pid-file", c.reload_pid_file,
                                  "The pid file to read instead of the config's pid_file");
  rc->excludes(rp);
  c.reload->require_option(1);
#endif
  c.check =
      c.app.add_subcommand("check-config", "Validate a config file: print ok, or every problem");
  c.check->add_option("-c,--config", c.check_config, "The TOML config file")->required();
  auto* t = c.tryc = c.app.add_subcommand(
      "try",
      "Run one request as the server would, without a listener, and show what the child got and "
      "said");
  t->add_option("-c,--config", c.try_config, "The TOML config file")->required();
  t->add_option("--user", c.try_user, "As if authenticated as NAME (mapped through [accounts])");
  t->add_flag(
      "--explain", c.try_explain,
      "Print who the request would run as and why, with each check before a spawn; run nothing");
  t->add_option("--method", c.try_req.method, "The request method (default GET)");
  t->add_option("--header", c.try_req.headers, "A request header 'Name: value' (repeatable)");
  t->add_option("--data", c.try_data, "The request body; @FILE reads FILE");
  t->add_option("URL", c.try_req.url, "A path like /cgi-bin/x.cgi?a=1 or a full http://host/path")
      ->required();
#if defined(_WIN32)
  define_service_commands(c);
#endif
  define_password_command(c.app, c.password);
}

// Parses the command line; an exit code when there is nothing more to do
// (help, version, a usage error: 2).
std::optional<int> parse(command_line& c, int argc, char** argv) {
  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view cmd = argv[1];
#if defined(_WIN32)
    const bool service = cmd == "service";  // the Windows build's alone
    const bool reload = false;              // POSIX only (a signal)
#else
    const bool service = false;
    const bool reload = cmd == "reload";
#endif
    if (cmd != "serve" && cmd != "dev" && cmd != "check-config" && cmd != "try" &&
        cmd != "password" && !service && !reload) {
      std::cerr << "cgihost: unknown command \"" << cmd
                << "\" (use serve, dev, check-config, try, reload or password; see cgihost "
                   "--help)\n";
      return 2;
    }
  }
  try {
    c.app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return c.app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return c.app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return c.app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "cgihost: " << one_line(e.what()) << " (see cgihost --help)\n";
    return 2;
  }
  return std::nullopt;
}

int check_config_command(const std::string& file, const config::load_options& options) {
  auto r = config::load_file(file, options);
  if (!r.ok()) return print_diagnostics(r.errors);
  const auto& cfg = *r.value;
  std::cout << "ok\n";
  if (cfg.identity.server) {
    std::string error;
    auto id = network_identity(cfg, error);
    std::cerr << "note: the network process will run as "
              << (id ? describe_with_groups(*id) : error) << " (" << cfg.identity.server_choice
              << ")\n";
  }
  for (const auto& w : users_file_warnings(cfg)) std::cerr << "warning: " << w << '\n';
  return 0;
}

int try_command(command_line& c, const config::load_options& options) {
  auto r = config::load_file(c.try_config, options);
  if (!r.ok()) return print_diagnostics(r.errors);
  if (*c.tryc->get_option("--user")) c.try_req.user = c.try_user;
  if (*c.tryc->get_option("--data")) c.try_req.data = c.try_data;
  try {
    return c.try_explain ? run_explain(*r.value, c.try_req) : run_try(*r.value, c.try_req);
  } catch (const std::exception& e) {
    std::cerr << "cgihost: try: " << e.what() << "\n";
    return 1;
  }
}

#ifndef _WIN32
// `cgihost reload`: SIGHUP to the pid a pid file names. With -c, the file is
// the config's [server] pid_file, and a config that does not load is
// reported here and nothing is sent.
int reload_command(const command_line& c, const config::load_options& options) {
  std::filesystem::path file = c.reload_pid_file;
  if (file.empty()) {
    auto r = config::load_file(c.reload_config, options);
    if (!r.ok()) return print_diagnostics(r.errors);
    if (!r.value->server.pid_file) {
      std::cerr << "cgihost: reload: " << c.reload_config
                << " names no [server] pid_file (give --pid-file PATH)\n";
      return 1;
    }
    file = *r.value->server.pid_file;
  }
  std::ifstream in(file);
  std::string text;
  if (!(in >> text)) {
    std::cerr << "cgihost: reload: cannot read pid file " << file.string() << ": "
              << (in.eof() ? std::string("empty") : std::strerror(errno)) << '\n';
    return 1;
  }
  long pid = 0;
  const bool digits = text.find_first_not_of("0123456789") == std::string::npos &&
                      text.size() <= 9 && (pid = std::stol(text)) > 1;
  if (!digits) {
    std::cerr << "cgihost: reload: pid file " << file.string() << " holds no pid: \"" << text
              << "\"\n";
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    std::cerr << "cgihost: reload: cannot signal pid " << pid << " (from " << file.string()
              << "): " << std::strerror(errno) << '\n';
    return 1;
  }
  std::cout << "asked cgihost (pid " << pid << ") to reload its config\n";
  return 0;
}
#endif

int dev_command(const command_line& c, const config::load_options& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(c.dev_dir, ec)) {
    std::cerr << "cgihost: dev: \"" << c.dev_dir << "\" is not a folder\n";
    return 1;
  }
  std::optional<std::string> listen;
  if (*c.dev->get_option("--listen")) listen = c.dev_listen;
  auto r = config::load_dev(c.dev_dir, listen, options);
  if (!r.ok()) {
    // A bad --listen is a usage error; anything else is the embedded config's.
    if (!r.errors.empty() && r.errors.front().file == "--listen") {
      std::cerr << "cgihost: --listen: " << r.errors.front().message << '\n';
      return 2;
    }
    return print_diagnostics(r.errors);
  }
  return run_server(*r.value, config_origin{{}, options, {}});
}

int serve_command(const command_line& c, const config::load_options& options) {
  auto listen = listen_override(c.serve_listen);
  if (const auto* msg = std::get_if<std::string>(&listen)) {
    std::cerr << "cgihost: --listen: " << *msg << " (see cgihost --help)\n";
    return 2;
  }
  auto r = config::load_file(c.serve_config, options);
  if (!r.ok()) return print_diagnostics(r.errors);
  // HttpPlatformHandler's port (arguments="serve ... --listen
  // 127.0.0.1:%HTTP_PLATFORM_PORT%", expanded by IIS) replaces the config's.
  config_origin origin{std::filesystem::absolute(c.serve_config), options, std::nullopt};
  if (!c.serve_listen.empty()) {
    r.value->listen = std::get<std::vector<config::endpoint>>(listen);
    origin.listen = r.value->listen;
  }
  return run_server(*r.value, origin);
}

}  // namespace

int main_cli(int argc, char** argv) {
  command_line c;
  define_commands(c);
  if (auto done = parse(c, argc, argv)) return *done;
  spawner::ignore_broken_pipes();
  auto options = config::system_load_options();
  if (*c.check) return check_config_command(c.check_config, options);
#ifndef _WIN32
  if (*c.reload) return reload_command(c, options);
#endif
  if (*c.tryc) return try_command(c, options);
  if (password_chosen(c.password)) return run_password_command(c.password, options);
  if (*c.serve) return serve_command(c, options);
#if defined(_WIN32)
  if (*c.service) {
    for (const char* action : {"install", "uninstall", "run"})
      if (*c.service->get_subcommand(action)) c.svc.action = action;
    return service_command(c.svc, options);
  }
#endif
  return dev_command(c, options);
}

}  // namespace cgihost::host
