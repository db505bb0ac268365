#include "spawner/launch.hpp"

#include <cerrno>

namespace cgihost::spawner {

const char* to_string(launch_step s) noexcept {
  switch (s) {
    case launch_step::none:
      return "none";
    case launch_step::pipes:
      return "pipe";
    case launch_step::clone:
      return "clone";
    case launch_step::signals:
      return "signal mask";
    case launch_step::process_group:
      return "setpgid";
    case launch_step::stdio:
      return "dup2";
    case launch_step::close_fds:
      return "close_range";
    case launch_step::chdir:
      return "chdir";
    case launch_step::rlimit:
      return "setrlimit";
    case launch_step::setgroups:
      return "setgroups";
    case launch_step::setgid:
      return "setgid";
    case launch_step::setuid:
      return "setuid";
    case launch_step::no_new_privs:
      return "prctl(PR_SET_NO_NEW_PRIVS)";
    case launch_step::exec:
      return "execve";
    case launch_step::job:
      return "job object";
    case launch_step::handle_list:
      return "inherited handle list";
    case launch_step::command_line:
      return "command line";
    case launch_step::create_process:
      return "CreateProcess";
    case launch_step::assign_job:
      return "AssignProcessToJobObject";
    case launch_step::resume:
      return "ResumeThread";
    case launch_step::broker:
      return "spawner process";
    case launch_step::logon:
      return "logon";
  }
  return "?";
}

std::string launch_error::message() const {
  if (!detail.empty()) return std::string(to_string(step)) + ": " + detail;
  std::string m = std::string(to_string(step)) + ": " + code.message();
  if (process_limit())
    m += step == launch_step::exec
             ? " (the account has reached its process limit, RLIMIT_NPROC)"
             : " (the process limit of this account, RLIMIT_NPROC, or of the system is reached)";
  return m;
}

namespace {

// CommandLineToArgvW's rules for every argument after the first.
void append_quoted(std::string& out, const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string::npos) {
    out += arg;
    return;
  }
  out += '"';
  std::size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    // Backslashes are literal unless a quote follows them: then each is
    // doubled, and the quote itself escaped.
    out.append(c == '"' ? 2 * backslashes + 1 : backslashes, '\\');
    backslashes = 0;
    out += c;
  }
  // Before the closing quote, too.
  out.append(2 * backslashes, '\\');
  out += '"';
}

}  // namespace

std::optional<std::string> windows_command_line(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  for (const auto& a : argv)
    if (a.find('\0') != std::string::npos) return std::nullopt;
  // argv[0] is read up to the next quote (when it starts with one) or space,
  // backslashes literal: it can be quoted but never hold a quote.
  const std::string& first = argv[0];
  if (first.find('"') != std::string::npos) return std::nullopt;
  std::string out;
  if (first.empty() || first.find_first_of(" \t") != std::string::npos)
    out = '"' + first + '"';
  else
    out = first;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    out += ' ';
    append_quoted(out, argv[i]);
  }
  return out;
}

bool launch_error::process_limit() const noexcept {
  return code.value() == EAGAIN && code.category() == std::generic_category() &&
         (step == launch_step::clone || step == launch_step::exec);
}

}  // namespace cgihost::spawner
