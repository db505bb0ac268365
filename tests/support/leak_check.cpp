#include "support/leak_check.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>

#include "support/eventually.hpp"

namespace cgihost::test {
namespace {

struct proc_stat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  unsigned long long start = 0;
  std::string comm;
};

// Fields 1-4 and 22 of /proc/PID/stat (proc(5)); the name may hold spaces and
// parentheses: it ends at the last ')'.
std::optional<proc_stat> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto open = line.find('(');
  const auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= line.size())
    return std::nullopt;
  proc_stat s;
  s.pid = pid;
  s.comm = line.substr(open + 1, close - open - 1);
  const char* p = line.c_str() + close + 2;
  int ppid = 0;
  if (std::sscanf(p, "%c %d", &s.state, &ppid) != 2) return std::nullopt;
  s.ppid = ppid;
  // After the state: fields 4 (ppid) to 21, then 22 (starttime).
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  s.start = std::strtoull(p, nullptr, 10);
  return s;
}

std::vector<proc_stat> all_processes() {
  std::vector<proc_stat> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (auto s = read_stat(static_cast<pid_t>(pid))) out.push_back(std::move(*s));
  }
  ::closedir(d);
  return out;
}

}  // namespace

process_resources current_resources() {
  process_resources r;
  const auto procs = all_processes();
  std::set<pid_t> family{::getpid()};
  // Parents may be listed after their children: repeat until nothing joins.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& p : procs) {
      if (family.count(p.pid) || !family.count(p.ppid)) continue;
      family.insert(p.pid);
      grew = true;
      r.descendants[{p.pid, p.start}] = "process " + std::to_string(p.pid) + " (" + p.comm +
                                        ", state " + p.state + ", parent " +
                                        std::to_string(p.ppid) + ")";
    }
  }
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return r;
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) continue;
    char target[512];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    r.fds[static_cast<int>(fd)] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(d);
  return r;
}

std::vector<std::string> added_resources(const process_resources& before,
                                         const process_resources& now) {
  std::vector<std::string> out;
  for (const auto& [key, what] : now.descendants)
    if (!before.descendants.count(key)) out.push_back(what);
  for (const auto& [fd, target] : now.fds) {
    auto it = before.fds.find(fd);
    if (it == before.fds.end() || it->second != target)
      out.push_back("descriptor " + std::to_string(fd) + " (" + target + ")");
  }
  return out;
}

leak_check::leak_check() : before_(current_resources()) {}

std::vector<std::string> leak_check::leaks(std::chrono::milliseconds wait) const {
  std::vector<std::string> left;
  const bool none = eventually(
      [&] {
        left = added_resources(before_, current_resources());
        return left.empty();
      },
      wait);
  return none ? std::vector<std::string>{} : left;
}

namespace {

class leak_listener final : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { check_.emplace(); }

  // Called after the fixture is gone, before the result is printed (the
  // listeners' OnTestEnd run in reverse order: this one before the printer).
  void OnTestEnd(const ::testing::TestInfo&) override {
    if (!check_) return;
    for (const auto& what : check_->leaks())
      ADD_FAILURE() << "left behind by the test (still there 5 s after it ended): " << what;
    check_.reset();
  }

  std::optional<leak_check> check_;
};

}  // namespace

void install_leak_checks() {
  ::testing::UnitTest::GetInstance()->listeners().Append(new leak_listener);
}

}  // namespace cgihost::test
