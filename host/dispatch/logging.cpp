#include "host/dispatch/logging.hpp"

#include <spdlog/pattern_formatter.h>
#ifdef _WIN32
#include <spdlog/sinks/basic_file_sink.h>
#endif
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

#ifndef _WIN32
#include <sys/stat.h>
#endif

#include "protocol/http_date.hpp"

namespace cgihost::host {

std::string request_id::str() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

request_id request_id::next() noexcept {
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) | rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  // An odd multiplier is a bijection: ids never repeat within 2^64 requests.
  return request_id{base + counter.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull};
}

namespace {

// "<N>": the syslog priority of the line's level (sd-daemon(3)), which the
// journal takes from the start of each line on a stream it reads.
class syslog_priority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& m, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    // trace, debug, info, warn, err, critical, off
    static constexpr char kPriority[] = {'7', '7', '6', '4', '3', '2', '6'};
    dest.push_back('<');
    dest.push_back(kPriority[static_cast<int>(m.level) % 7]);
    dest.push_back('>');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<syslog_priority>();
  }
};

}  // namespace

bool stderr_is_journal() {
#ifdef _WIN32
  return false;
#else
  // systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected
  // to stderr; a stderr redirected elsewhere since is not the journal.
  const char* env = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!env || ::fstat(2, &st) != 0) return false;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) == env;
#endif
}

std::unique_ptr<spdlog::formatter> error_log_formatter(bool journal) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (journal)
    f->add_flag<syslog_priority>('*').set_pattern("%*[%l] %v");
  else
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  return f;
}

namespace {

// A sink for the log file `path`: one reopen_logs can open again (POSIX),
// kept in `file`.
template <class Kept>
spdlog::sink_ptr file_sink(const std::string& path, Kept& file) {
#ifdef _WIN32
  (void)file;
  return std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
#else
  file = std::make_shared<fd_sink>(path);
  return file;
#endif
}

}  // namespace

logs open_logs(const config::log_settings& s) {
  logs out;
#ifdef _WIN32
  int error_file = 0, access_file = 0;  // nothing to reopen
#else
  auto& error_file = out.error_file;
  auto& access_file = out.access_file;
#endif
  spdlog::sink_ptr err_sink;
  if (s.error_log == "stderr")
    err_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  else
    err_sink = file_sink(s.error_log, error_file);
  out.error = std::make_shared<spdlog::logger>("cgihost", err_sink);
  out.error->set_formatter(error_log_formatter(s.error_log == "stderr" && stderr_is_journal()));
  out.error->set_level(spdlog::level::from_str(s.level));
  out.error->flush_on(spdlog::level::trace);

  if (s.access_log != "off") {
    spdlog::sink_ptr acc_sink;
    if (s.access_log == "stdout")
      acc_sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    else
      acc_sink = file_sink(s.access_log, access_file);
    out.access = std::make_shared<spdlog::logger>("access", acc_sink);
    out.access->set_pattern("%v");
    out.access_json = s.access_format == "json";
    out.access->set_level(spdlog::level::info);
    out.access->flush_on(spdlog::level::info);
  }
  return out;
}

std::vector<std::string> log_file_paths(const config::log_settings& s) {
  std::vector<std::string> out;
  if (s.error_log != "stderr") out.push_back(s.error_log);
  if (s.access_log != "stdout" && s.access_log != "off") out.push_back(s.access_log);
  return out;
}

namespace {

void append_escaped(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += '-';
    return;
  }
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
}

}  // namespace

std::string format_access_line(const access_record& r) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const protocol::utc_fields u = protocol::utc_of(static_cast<protocol::unix_seconds>(r.time));
  char when[40];
  std::snprintf(when, sizeof when, "[%02u/%s/%04lld:%02u:%02u:%02u +0000]", u.day,
                kMonths[u.month - 1], static_cast<long long>(u.year), u.hour, u.minute, u.second);
  std::string line;
  line.reserve(256);
  line += r.peer;
  line += " - ";
  if (r.user.empty())
    line += '-';
  else
    append_escaped(line, r.user);
  line += ' ';
  line += when;
  line += " \"";
  append_escaped(line, r.request_line);
  line += "\" ";
  line += std::to_string(r.status);
  line += ' ';
  line += r.body_bytes ? std::to_string(r.body_bytes) : "-";
  line += " \"";
  append_escaped(line, r.referer);
  line += "\" \"";
  append_escaped(line, r.user_agent);
  line += "\" rid=";
  line += r.id.str();
  line += " identity=";
  line += r.identity.empty() ? "-" : r.identity;
  line += " us=";
  line += std::to_string(r.micros);
  return line;
}

namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629 §4:
// no overlong forms, no surrogates, nothing past U+10FFFF); 0 when none.
std::size_t utf8_length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n = c < 0x80                 ? 1
                  : c >= 0xC2 && c <= 0xDF ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  if (n == 3 && ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))) return 0;
  if (n == 4 && ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))) return 0;
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    std::size_t n = utf8_length(s);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f)) {
      out.append(s.data(), n);
    } else {
      // A control character, or a byte outside valid UTF-8: its value.
      char buf[7];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      n = 1;
    }
    s.remove_prefix(n ? n : 1);
  }
  out += '"';
}

void append_json_or_null(std::string& out, std::string_view s) {
  if (s.empty())
    out += "null";
  else
    append_json_string(out, s);
}

// Milliseconds between two times, 3 decimals; null when one is unknown.
void append_ms(std::string& out, std::optional<std::chrono::steady_clock::time_point> from,
               std::optional<std::chrono::steady_clock::time_point> to) {
  if (!from || !to || *to < *from) {
    out += "null";
    return;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(*to - *from).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(us / 1000),
                static_cast<long long>(us % 1000));
  out += buf;
}

}  // namespace

std::string format_access_json(const access_record& r) {
  const protocol::utc_fields u = protocol::utc_of(static_cast<protocol::unix_seconds>(r.time));
  char when[32];
  std::snprintf(when, sizeof when, "%04lld-%02u-%02uT%02u:%02u:%02uZ",
                static_cast<long long>(u.year), u.month, u.day, u.hour, u.minute, u.second);
  // "METHOD TARGET PROTOCOL"; a line of another shape is all target.
  std::string_view line = r.request_line, method, protocol;
  const auto first = line.find(' '), last = line.rfind(' ');
  if (first != std::string_view::npos && last != first) {
    method = line.substr(0, first);
    protocol = line.substr(last + 1);
    line = line.substr(first + 1, last - first - 1);
  }
  std::string out;
  out.reserve(400);
  out += "{\"time\":\"";
  out += when;
  out += "\",\"rid\":\"" + r.id.str() + "\",\"remote\":";
  append_json_string(out, r.peer);
  out += ",\"method\":";
  append_json_or_null(out, method);
  out += ",\"uri\":";
  append_json_string(out, line);
  out += ",\"protocol\":";
  append_json_or_null(out, protocol);
  out += ",\"status\":" + std::to_string(r.status);
  out += ",\"bytes\":" + std::to_string(r.body_bytes);
  out += ",\"user\":";
  append_json_or_null(out, r.user);
  out += ",\"identity\":";
  append_json_or_null(out, r.run.account.empty() ? r.identity : r.run.account);
  out += ",\"pool\":";
  append_json_or_null(out, r.run.pool);
  out += ",\"pid\":" + (r.run.pid ? std::to_string(r.run.pid) : std::string("null"));
  out += ",\"referer\":";
  append_json_or_null(out, r.referer);
  out += ",\"user_agent\":";
  append_json_or_null(out, r.user_agent);
  const auto started = std::optional(r.started), ended = std::optional(r.ended);
  out += ",\"ms\":{\"total\":";
  append_ms(out, started, ended);
  out += ",\"wait\":";
  append_ms(out, started, r.run.slot_at);
  out += ",\"run\":";
  append_ms(out, r.run.slot_at, r.run.head_at);
  out += ",\"stream\":";
  append_ms(out, r.run.head_at, ended);
  out += "}}";
  return out;
}

std::string format_access(const logs& lg, const access_record& r) {
  return lg.access_json ? format_access_json(r) : format_access_line(r);
}

}  // namespace cgihost::host
