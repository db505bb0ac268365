#include "host/dispatch/log_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "host/dispatch/logging.hpp"
#include "spawner/broker.hpp"

namespace cgihost::host {

int open_log_file(const std::string& path) {
  // As logrotate expects of a daemon: the file at that path now, created
  // readable by its owner and group only (requests' URIs and user names).
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

fd_sink::fd_sink(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  const auto folder = std::filesystem::path(path_).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  fd_ = open_log_file(path_);
  if (fd_ < 0) spdlog::throw_spdlog_ex("failed opening file " + path_ + " for writing", errno);
}

fd_sink::~fd_sink() {
  if (fd_ >= 0) ::close(fd_);
}

void fd_sink::reopen(int fd) {
  std::lock_guard lock(mutex_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void fd_sink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  const char* at = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, at, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk: the line is lost, there is nowhere to say so
    at += n;
    left -= static_cast<std::size_t>(n);
  }
}

namespace {

// The files of `sinks` opened again by this process.
std::vector<spawner::broker::reopened_file> open_here(const std::vector<fd_sink*>& sinks) {
  std::vector<spawner::broker::reopened_file> out;
  for (auto* s : sinks) {
    const int fd = open_log_file(s->path());
    out.push_back({s->path(), fd, fd < 0 ? errno : 0});
  }
  return out;
}

}  // namespace

bool reopen_logs(const logs& lg, spawner::broker* broker) {
  // The order of log_file_paths: the broker's list.
  std::vector<fd_sink*> sinks;
  for (const auto& s : {lg.error_file, lg.access_file})
    if (s) sinks.push_back(s.get());
  if (sinks.empty()) {
    lg.error->info("no log file to reopen (the logs go to stderr, stdout or nowhere)");
    return true;
  }
  std::vector<spawner::broker::reopened_file> files;
  if (broker) {
    std::string error;
    auto got = broker->reopen_logs(error);
    if (!got) {
      lg.error->warn("cannot reopen the log files: {}; they go on to the old files", error);
      return false;
    }
    files = std::move(*got);
  } else {
    files = open_here(sinks);
  }
  bool all = true;
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    auto* f = i < files.size() && files[i].path == sinks[i]->path() ? &files[i] : nullptr;
    if (!f || f->error) {
      lg.error->warn("cannot reopen log file {}: {}; it goes on to the old file", sinks[i]->path(),
                     f ? std::strerror(f->error) : "the spawner process was not given it");
      all = false;
      continue;
    }
    sinks[i]->reopen(f->fd);
    f->fd = spawner::no_handle;
  }
  for (const auto& f : files)
    if (f.fd != spawner::no_handle) ::close(f.fd);
  if (all) lg.error->info("reopened log files");
  return all;
}

}  // namespace cgihost::host
