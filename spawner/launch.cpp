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
    case launch_step::broker:
      return "spawner process";
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

bool launch_error::process_limit() const noexcept {
  return code.value() == EAGAIN && code.category() == std::generic_category() &&
         (step == launch_step::clone || step == launch_step::exec);
}

}  // namespace cgihost::spawner
