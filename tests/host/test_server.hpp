#pragma once
// A cgihost server running in the test process on loopback port(s) 0, from
// config text, with its logs kept for assertions; and helpers to check that
// no process is left behind.

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>

#include "config/config.hpp"
#include "host/server.hpp"

namespace cgihost::test {

class running_server {
 public:
  // Loads `toml` (paths relative to `base_dir`) as cgihost would when run by
  // this process's user, binds and starts serving; fails the test on error.
  running_server(const std::string& toml, const std::string& base_dir);
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

 private:
  config::config cfg_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> error_sink_, access_sink_;
  std::unique_ptr<host::server> server_;
  std::thread thread_;
  std::vector<std::uint16_t> ports_;
};

// The processes whose parent is `parent`, with their state letter.
std::vector<std::pair<pid_t, char>> children_of(pid_t parent);

// True once `pid` has exited (gone, or a zombie its reaper holds); bounded: 3 s.
bool pid_gone(pid_t pid);

}  // namespace cgihost::test
