#include "host/dispatch/alarm_clock.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <string>

namespace cgihost::host {
namespace {

using namespace std::chrono_literals;
using clock = alarm::clock;

// Runs `ctx` until `done` or 5 s, whichever comes first, with work kept as
// the server's io threads keep it (an alarm's wait is no work of its own).
template <class Done>
void run_until(asio::io_context& ctx, Done done) {
  auto work = asio::make_work_guard(ctx);
  const auto give_up = clock::now() + 5s;
  while (!done() && clock::now() < give_up) {
    ctx.run_for(5ms);
    ctx.restart();
  }
}

TEST(AlarmClock, AlarmsRingInTheOrderOfTheirTimesWhateverOrderTheyWereSetIn) {
  asio::io_context ctx;
  std::string rang;
  alarm late(ctx.get_executor(), [&] { rang += "late "; });
  alarm early(ctx.get_executor(), [&] { rang += "early "; });
  const auto t0 = clock::now();
  late.set(t0 + 60ms);
  early.set(t0 + 20ms);  // earlier than the clock's wait: it re-arms
  run_until(ctx, [&] { return rang == "early late "; });
  EXPECT_EQ(rang, "early late ");
  EXPECT_GE(clock::now(), t0 + 60ms);
  EXPECT_FALSE(late.is_set());
}

TEST(AlarmClock, AClearedOrMovedAlarmDoesNotRingAtItsOldTime) {
  asio::io_context ctx;
  int cleared = 0, moved = 0, marker = 0;
  alarm a(ctx.get_executor(), [&] { ++cleared; });
  alarm b(ctx.get_executor(), [&] { ++moved; });
  alarm c(ctx.get_executor(), [&] { ++marker; });
  const auto t0 = clock::now();
  a.set(t0 + 10ms);
  b.set(t0 + 10ms);
  c.set(t0 + 50ms);
  a.clear();
  b.set(t0 + 80ms);  // later than before: no timer change, it rings at 80 ms
  run_until(ctx, [&] { return marker == 1; });
  EXPECT_EQ(cleared, 0);
  EXPECT_EQ(moved, 0);
  run_until(ctx, [&] { return moved == 1; });
  EXPECT_EQ(moved, 1);
  EXPECT_GE(clock::now(), t0 + 80ms);
  EXPECT_EQ(cleared, 0);
}

TEST(AlarmClock, ARingMaySetAlarmsAndAnAlarmDestroyedWhileSetNeverRings) {
  asio::io_context ctx;
  int first = 0, again = 0, gone = 0;
  alarm repeat(ctx.get_executor(), [&] { ++again; });
  alarm one(ctx.get_executor(), [&] {
    ++first;
    repeat.set_after(10ms);  // set from a ring, on the same clock
  });
  {
    alarm doomed(ctx.get_executor(), [&] { ++gone; });
    doomed.set_after(5ms);
  }
  one.set_after(15ms);
  run_until(ctx, [&] { return again == 1; });
  EXPECT_EQ(first, 1);
  EXPECT_EQ(again, 1);
  EXPECT_EQ(gone, 0);
}

TEST(AlarmClock, WithEveryAlarmClearedTheContextHasNoWorkLeft) {
  // A stop lets the io threads run out of work: the clock's timer, waiting
  // for alarms all cleared, must not keep them running until it fires.
  asio::io_context ctx;
  int rang = 0;
  alarm a(ctx.get_executor(), [&] { ++rang; });
  alarm b(ctx.get_executor(), [&] { ++rang; });
  a.set_after(30s);
  b.set_after(60s);
  a.clear();
  EXPECT_TRUE(b.is_set());
  b.clear();
  ctx.run_for(3s);
  EXPECT_TRUE(ctx.stopped());  // ran out of work, did not time out
  EXPECT_EQ(rang, 0);
}

}  // namespace
}  // namespace cgihost::host
