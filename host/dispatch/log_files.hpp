#pragma once
// Log files that can be opened again (SIGUSR1, after logrotate renamed
// them): a sink that owns its descriptor, and the reopen, done by the spawn
// broker when there is one (root opened the files; the network process,
// which dropped root, may not open them) or by this process. POSIX only.

#ifndef _WIN32

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace cgihost::spawner {
class broker;
}

namespace cgihost::host {

struct logs;

// Opens the log file `path` for appending: O_WRONLY | O_APPEND | O_CREAT |
// O_CLOEXEC, mode 0640 when it is created. The descriptor, or -1 with errno.
int open_log_file(const std::string& path);

// An spdlog sink writing each line with write(2) to a descriptor it owns
// (O_APPEND: lines from several processes do not overwrite each other).
class fd_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens `path` (open_log_file, its folder created first when missing);
  // throws spdlog::spdlog_ex naming the path and the system's reason.
  explicit fd_sink(std::string path);
  ~fd_sink() override;
  fd_sink(const fd_sink&) = delete;
  fd_sink& operator=(const fd_sink&) = delete;

  const std::string& path() const { return path_; }
  // Takes `fd` (ours from now) and writes the next line to it; the one in
  // use is closed. Under the sink's mutex: no line is split between the two.
  void reopen(int fd);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::string path_;
  int fd_ = -1;
};

// Opens the log files of `lg` again and swaps each sink to its new
// descriptor: through `broker` when given (it was given
// log_file_paths(settings) at its start), else in this process. Logs
// "reopened log files" (info), or a warning per file that could not be opened
// (naming it and the system's reason; that file goes on with its old
// descriptor). False when one could not be.
bool reopen_logs(const logs& lg, spawner::broker* broker);

}  // namespace cgihost::host

#endif
