#pragma once
// Waiting in tests for a condition instead of for a fixed time: the one place
// tests poll. Header-only, so that any test binary can use it without linking
// the rest of tests/support.

#include <chrono>
#include <thread>

namespace cgihost::test {

// The step between two looks at a condition: short enough not to slow a test
// down, long enough not to spin.
inline constexpr std::chrono::milliseconds kPollStep{10};

// Calls `pred` until it returns true or `timeout` has passed, looking once
// more at the deadline; true when it did. `pred` may have effects (a request
// sent again until it succeeds: then a longer `step` spares the server).
template <class Pred>
[[nodiscard]] bool eventually(Pred&& pred,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5),
                              std::chrono::milliseconds step = kPollStep) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return static_cast<bool>(pred());
}

// The converse: true when `pred` held at every look for all of `window` (a
// thing that must not happen within a bounded time, where no event says it
// will not); false at the first look where it did not.
template <class Pred>
[[nodiscard]] bool holds_for(Pred&& pred, std::chrono::milliseconds window) {
  const auto deadline = std::chrono::steady_clock::now() + window;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!pred()) return false;
    std::this_thread::sleep_for(kPollStep);
  }
  return static_cast<bool>(pred());
}

}  // namespace cgihost::test
