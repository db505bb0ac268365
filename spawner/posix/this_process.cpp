#include "spawner/this_process.hpp"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <vector>

namespace cgihost::spawner {

process_account current_account() {
  const uid_t self = ::geteuid();
  // The account database is read once per thread and uid (the uid changes
  // once, when root is dropped): callers ask on the request path.
  thread_local std::optional<process_account> cached;
  if (cached && cached->uid.value == self) return *cached;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  process_account out{"", spawner::uid{self}};
  if (::getpwuid_r(self, &pw, buf.data(), buf.size(), &found) == 0 && found) out.name = pw.pw_name;
  cached = out;
  return out;
}

bool can_switch_accounts() { return ::geteuid() == 0; }

process_id this_process_id() { return ::getpid(); }

void ignore_broken_pipes() { std::signal(SIGPIPE, SIG_IGN); }

bool drop_privileges(const identity& to, std::string& error) {
  if (to.is_root()) {
    error = "the process identity " + to.describe() + " is root";
    return false;
  }
  std::vector<gid_t> groups;
  for (auto g : to.groups) groups.push_back(g.value);
  // glibc applies each of these to every thread of the process.
  auto fail = [&](const char* step) {
    error = std::string(step) + ": " + std::strerror(errno);
    return false;
  };
  if (::setgroups(groups.size(), groups.data()) != 0) return fail("setgroups");
  if (::setresgid(to.gid.value, to.gid.value, to.gid.value) != 0) return fail("setresgid");
  if (::setresuid(to.uid.value, to.uid.value, to.uid.value) != 0) return fail("setresuid");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("PR_SET_NO_NEW_PRIVS");
  uid_t r, e, s;
  if (::getresuid(&r, &e, &s) != 0 || r != to.uid.value || e != to.uid.value || s != to.uid.value ||
      ::setuid(0) == 0) {
    error = "root could be taken back after the switch to " + to.describe();
    return false;
  }
  return true;
}

}  // namespace cgihost::spawner
