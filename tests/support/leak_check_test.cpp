// The leak check itself: it sees a process (and its descendants) and the
// descriptors a test leaves behind, and nothing once they are gone.

#include "support/leak_check.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>

#include "support/test_client.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

TEST(LeakCheck, SeesAChildItsChildAndTheirPipesUntilTheyAreGone) {
  leak_check check;
  EXPECT_TRUE(check.leaks(0ms).empty());
  {
    child_process sh({"/bin/sh", "-c", "sleep 60 & echo $! >&2; wait"});
    auto line = sh.wait_stderr_line("", 5s);
    ASSERT_TRUE(line);
    const pid_t grandchild = static_cast<pid_t>(std::atoi(line->c_str()));
    ASSERT_GT(grandchild, 1);
    const auto left = check.leaks(100ms);
    EXPECT_TRUE(mentions(left, "process " + std::to_string(sh.pid()) + " (sh")) << left.size();
    EXPECT_TRUE(mentions(left, "process " + std::to_string(grandchild) + " (sleep")) << left.size();
    EXPECT_TRUE(mentions(left, "(pipe:[")) << left.size();
    // The grandchild first, so that sh reaps it and ends by itself.
    ::kill(grandchild, SIGKILL);
    EXPECT_TRUE(sh.wait_exit(5s));
  }
  const auto left = check.leaks();
  EXPECT_TRUE(left.empty()) << left.front();
}

}  // namespace
}  // namespace cgihost::test
