#include "support/test_server.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/load.hpp"
#include "support/eventually.hpp"

namespace cgihost::test {

std::string for_this_user(std::string toml) {
  if (::geteuid() == 0) return toml;
  // Without root every account is cgihost's own (anything else is a config
  // error): the tests' accounts become this user's.
  const passwd* pw = ::getpwuid(::geteuid());
  if (pw == nullptr) return toml;
  for (const char* account : {"\"www-data\"", "\"nobody\""}) {
    const std::string self = std::string("\"") + pw->pw_name + "\"";
    for (auto at = toml.find(account); at != std::string::npos;
         at = toml.find(account, at + self.size()))
      toml.replace(at, std::strlen(account), self);
  }
  return toml;
}

running_server::running_server(const std::string& toml, const std::string& base_dir, bool broker,
                               const std::function<void(config::config&)>& adjust) {
  // As `cgihost` does (main_cli): a child that exits before reading its body
  // makes the write to its stdin pipe fail with EPIPE, not end the process.
  std::signal(SIGPIPE, SIG_IGN);
  config::load_options o;
  o.running_as_root = ::geteuid() == 0;
  o.current_user = config::lookup_system_account_by_uid(::geteuid());
  auto r = config::load_string(for_this_user(toml), "test.toml", base_dir, o);
  if (!r.ok()) {
    ADD_FAILURE() << (r.errors.empty() ? "config refused" : r.errors[0].to_string());
    return;
  }
  cfg_ = std::move(*r.value);
  if (adjust) adjust(cfg_);
  error_sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4000);
  access_sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4000);
  host::logs lg;
  lg.error = std::make_shared<spdlog::logger>("test-error", error_sink_);
  lg.error->set_level(spdlog::level::debug);
  lg.access = std::make_shared<spdlog::logger>("test-access", access_sink_);
  lg.access->set_pattern("%v");
  lg.access_json = cfg_.log.access_format == "json";
  if (::geteuid() == 0 && broker) {
    std::string err;
    auto accounts = host::spawn_accounts(cfg_, err);
    if (err.empty()) broker_ = spawner::broker::start(accounts, err, 2);
    if (!broker_) {
      ADD_FAILURE() << "spawn broker: " << err;
      return;
    }
  }
  server_ = std::make_unique<host::server>(cfg_, lg, broker_.get());
  std::string err;
  if (!server_->bind(err)) {
    ADD_FAILURE() << err;
    server_.reset();
    return;
  }
  for (const auto& ep : server_->bound()) ports_.push_back(ep.port());
  thread_ = std::thread([this] { server_->run(false); });
}

running_server::~running_server() { stop(); }

void running_server::stop() {
  if (!server_) return;
  server_->stop();
  join();
}

void running_server::join() {
  if (thread_.joinable()) thread_.join();
  server_.reset();
  if (broker_) {
    // Every child was reaped by the broker or is being: none may stay.
    const bool none =
        eventually([&] { return children_of(broker_->pid()).empty(); }, std::chrono::seconds(3));
    EXPECT_TRUE(none) << children_of(broker_->pid()).size()
                      << " child process(es) of the broker left after the server ended";
    broker_.reset();
  }
}

pid_t running_server::spawn_parent() const { return broker_ ? broker_->pid() : ::getpid(); }

std::string running_server::error_log() const {
  std::string s;
  if (error_sink_)
    for (auto& l : error_sink_->last_formatted()) s += l;
  return s;
}

std::string running_server::access_log() const {
  std::string s;
  if (access_sink_)
    for (auto& l : access_sink_->last_formatted()) s += l;
  return s;
}

void write_php_site(const temp_dir& dir) {
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/pid.php", "<?php echo getmypid();");
  ::chmod((dir / "site").c_str(), 0755);
  ::chmod((dir / "site/pid.php").c_str(), 0644);
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 2
)"));
}

pid_t php_instance_pid(child_process& p) {
  auto line = p.wait_stderr_line("listening on", std::chrono::seconds(10));
  if (!line) return 0;
  auto r = fetch(port_from_line(*line), "/pid.php");
  if (!r || r->status != 200) return 0;
  return static_cast<pid_t>(std::strtol(r->body.c_str(), nullptr, 10));
}

std::vector<std::pair<pid_t, char>> children_of(pid_t parent) {
  std::vector<std::pair<pid_t, char>> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    std::sscanf(stat.c_str() + close + 2, "%c %d", &state, &ppid);
    if (ppid == parent) out.emplace_back(std::stoi(name), state);
  }
  return out;
}

bool pid_gone(pid_t pid) {
  return eventually(
      [pid] {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string stat;
        if (!in || !std::getline(in, stat)) return true;
        auto close = stat.rfind(')');
        return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] == 'Z';
      },
      std::chrono::seconds(3));
}

throwaway_account::throwaway_account(const std::string& base)
    : name_("cgh" + std::to_string(::getpid()) + base) {
  std::string cmd =
      "useradd --system --no-create-home --shell /usr/sbin/nologin --user-group " + name_;
  if (std::system(cmd.c_str()) != 0) return;
  if (const passwd* pw = ::getpwnam(name_.c_str())) {
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
}

throwaway_account::~throwaway_account() {
  std::string cmd = "userdel " + name_ + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "could not remove test account %s\n", name_.c_str());
}

}  // namespace cgihost::test
