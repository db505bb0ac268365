#pragma once
// A cgihost server running in the test process on loopback port(s) 0, from
// config text, with its logs kept for assertions; and helpers to check that
// no process is left behind. As root it starts children through a spawn
// broker, as `cgihost serve` does (without dropping root: the test process
// cannot take it back).

#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "host/app/server.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"

namespace cgihost::test {

class running_server {
 public:
  // Loads `toml` (paths relative to `base_dir`) as cgihost would when run by
  // this process's user, binds and starts serving; fails the test on error.
  // `broker = false`: no spawn broker even as root (children start in this
  // process, as cgihost without root starts them).
  // `adjust`, when given, changes the loaded config before the server starts
  // (a setting in a table the test's TOML already closed, say).
  running_server(const std::string& toml, const std::string& base_dir, bool broker = true,
                 const std::function<void(config::config&)>& adjust = {});
  ~running_server();
  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;

  std::uint16_t port(std::size_t i = 0) const { return ports_.at(i); }
  const config::config& settings() const { return cfg_; }
  host::server& server() { return *server_; }
  // Graceful stop; waits for the server to end. Idempotent.
  void stop();
  // Waits for the server's own end after server().stop() was called elsewhere.
  void join();
  std::string error_log() const;
  std::string access_log() const;
  // The process whose children cgihost's children are: the broker, or us.
  pid_t spawn_parent() const;

 private:
  config::config cfg_;
  std::unique_ptr<spawner::broker> broker_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> error_sink_, access_sink_;
  std::unique_ptr<host::server> server_;
  std::thread thread_;
  std::vector<std::uint16_t> ports_;
};

// Config text as the tests write it (accounts www-data and nobody), or, when
// the tests do not run as root, with those accounts replaced by this user's.
std::string for_this_user(std::string toml);

// A site for `cgihost serve`: site/pid.php (prints its pid) and c.toml, a
// php-cgi pool of 2 instances for *.php as identity.process www-data (this
// user without root), listening on 127.0.0.1 port 0.
void write_php_site(const temp_dir& dir);

// For `cgihost serve` on such a site, started as `p`: waits (bounded) for it
// to listen, then asks /pid.php for the pid of the php-cgi instance that
// answers; 0 when it does not listen or the answer is not a 200 with a pid.
pid_t php_instance_pid(child_process& p);

// The processes whose parent is `parent`, with their state letter.
std::vector<std::pair<pid_t, char>> children_of(pid_t parent);

// True once `pid` has exited (gone, or a zombie its reaper holds); bounded: 3 s.
bool pid_gone(pid_t pid);

// An OS account made for one test (useradd, which needs root) and removed
// with its group (userdel) when this goes. The name is unique to this process:
// "cgh<pid><base>".
class throwaway_account {
 public:
  explicit throwaway_account(const std::string& base);
  ~throwaway_account();
  throwaway_account(const throwaway_account&) = delete;
  throwaway_account& operator=(const throwaway_account&) = delete;
  bool ok() const { return uid_ != 0; }
  const std::string& name() const { return name_; }
  unsigned uid() const { return uid_; }
  unsigned gid() const { return gid_; }

 private:
  std::string name_;
  unsigned uid_ = 0;
  unsigned gid_ = 0;
};

}  // namespace cgihost::test
