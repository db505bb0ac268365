#pragma once
// Leak checks for tests that start processes and open descriptors: what the
// test process holds before a test, compared with what it holds after.
// tests/support/main.cpp runs one around every test of the binaries it is
// linked into (host_tests, spawner_tests).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cgihost::test {

// What a test could leave behind: the test process's descendants at any depth
// (found through /proc by parent pid: a php-cgi under a spawn broker under
// this process counts), zombies included, and its open file descriptors.
struct process_resources {
  // Keyed by pid and start time (clock ticks after boot): a pid reused by a
  // new process is a new entry. The value describes it for a message.
  std::map<std::pair<pid_t, unsigned long long>, std::string> descendants;
  // Descriptor number and what it refers to ("pipe:[1234]", a path).
  std::map<int, std::string> fds;
};

// Reads /proc now.
process_resources current_resources();

// What `now` holds that `before` did not, one line each.
std::vector<std::string> added_resources(const process_resources& before,
                                         const process_resources& now);

// A snapshot at construction; leaks() is what was added since and is still
// there after a bounded wait (children being reaped, descriptors being closed
// by a thread that is ending).
class leak_check {
 public:
  leak_check();
  std::vector<std::string> leaks(std::chrono::milliseconds wait = std::chrono::seconds(5)) const;

 private:
  process_resources before_;
};

// Adds a GoogleTest listener that fails each test after which a process or a
// descriptor it caused remains (after the fixture's TearDown and destructor).
// Call after InitGoogleTest.
void install_leak_checks();

}  // namespace cgihost::test
