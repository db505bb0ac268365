#pragma once
// Alarms that cost nothing to set and clear: one asio timer per io_context,
// armed at the earliest alarm, for every alarm set on that context (a
// connection's idle and send deadlines, an exchange's watch). Setting an
// alarm links it into its clock's list; clearing it unlinks it; only an
// alarm earlier than every other re-arms the timer. An Asio timer per
// deadline costs heap operations and usually a timerfd_settime per set;
// requests set and clear several each.
//
// Not thread-safe: an alarm is set, cleared and rings on the one thread
// that runs its io_context (each io thread of app/server runs its own).

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>

namespace cgihost::host {

namespace asio = boost::asio;

class alarm_clock;

class alarm {
 public:
  using clock = std::chrono::steady_clock;

  // An alarm of the io_context `ex` runs on; `ring` runs there when a set
  // alarm's time comes (once per setting). `ring` may set or clear alarms,
  // this one included.
  alarm(const asio::any_io_executor& ex, std::function<void()> ring);
  ~alarm() { clear(); }
  alarm(const alarm&) = delete;
  alarm& operator=(const alarm&) = delete;

  // Rings at `at` (replacing an earlier setting).
  void set(clock::time_point at);
  void set_after(clock::duration d) { set(clock::now() + d); }
  // Will not ring (until set again).
  void clear();
  bool is_set() const noexcept { return linked_; }

 private:
  friend class alarm_clock;
  alarm_clock* clock_;
  std::function<void()> ring_;
  clock::time_point at_ = clock::time_point::max();
  bool linked_ = false;
  alarm* prev_ = nullptr;
  alarm* next_ = nullptr;
};

}  // namespace cgihost::host
