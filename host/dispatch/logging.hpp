#pragma once
// The error log (spdlog) and the access log (Combined Log Format).

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "host/dispatch/log_files.hpp"

namespace cgihost::host {

// A request's id: 64 bits, printed as 16 hex digits in every log line about it.
struct request_id {
  std::uint64_t value = 0;
  std::string str() const;
  static request_id next() noexcept;  // unique within this process, not guessable across runs
};

struct logs {
  std::shared_ptr<spdlog::logger> error;   // never null
  std::shared_ptr<spdlog::logger> access;  // null when access_log = "off"
  bool access_json = false;                // access_format = "json"
#ifndef _WIN32
  // The sinks of the logs that go to files (null: stderr, stdout, off, or
  // not opened by open_logs), which reopen_logs opens again.
  std::shared_ptr<fd_sink> error_file, access_file;
#endif
};

// Whether stderr is the systemd journal's stream ($JOURNAL_STREAM names its
// device and inode).
bool stderr_is_journal();

// The error log's line format: a timestamp and the level; for the journal
// (which stamps lines itself) a syslog priority prefix ("<3>") instead of
// the timestamp.
std::unique_ptr<spdlog::formatter> error_log_formatter(bool journal);

// Opens the logs a config names; an error log on stderr that is the journal
// takes error_log_formatter(true). Throws spdlog::spdlog_ex when a file
// cannot be opened. POSIX: a file is an fd_sink (reopen_logs).
logs open_logs(const config::log_settings& settings);

// The log files `settings` names, error log first ("stderr", "stdout" and
// "off" are not files): what the spawn broker may open again (reopen_logs).
std::vector<std::string> log_file_paths(const config::log_settings& settings);

// What ran a request (CGI or FastCGI), for the access log's json lines; the
// times are steady_clock's, unset when that step did not happen.
struct run_notes {
  std::string pool;      // the FastCGI pool's name; empty for CGI
  std::int64_t pid = 0;  // the pool instance or CGI child that served it; 0: none
  std::string account;   // the account its code ran as
  std::optional<std::chrono::steady_clock::time_point> slot_at;  // instance leased / child slot
  std::optional<std::chrono::steady_clock::time_point> head_at;  // response head sent
};

// What the access log records of one exchange.
struct access_record {
  std::string peer;          // client address, no port
  std::string user;          // authenticated name, empty for "-"
  std::int64_t time = 0;     // unix seconds when the request arrived
  std::string request_line;  // "GET /x HTTP/1.1"
  unsigned status = 0;
  std::uint64_t body_bytes = 0;
  std::string referer;
  std::string user_agent;
  request_id id;
  std::string identity;      // the account the code ran as; empty for static files
  std::uint64_t micros = 0;  // time to serve
  // The json format only: what ran it, and the steady_clock times of its
  // start and end (phases: wait = start..slot, run = slot..head, stream =
  // head..end).
  run_notes run;
  std::chrono::steady_clock::time_point started, ended;
};

// One Combined Log Format line, with rid=, identity= and us= appended.
// Client-supplied strings are escaped so a line cannot be forged or split.
std::string format_access_line(const access_record& r);

// One JSON object on one line ([log] access_format = "json"; README lists
// its keys). Strings are JSON-escaped; a byte that is not part of valid
// UTF-8 is written as \u00XX (its value).
std::string format_access_json(const access_record& r);

// The line of `lg`'s access format.
std::string format_access(const logs& lg, const access_record& r);

}  // namespace cgihost::host
