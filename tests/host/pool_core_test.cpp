// The pool's decisions, driven by a fake clock and a fake launcher: the test
// plays the pool's part (carries out spawn actions, reports exits), so nothing
// sleeps and every timing is exact.

#include "host/fastcgi/pool_core.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace cgihost::host {
namespace {

using namespace std::chrono_literals;
using action = pool_core::action;
using kind = action::kind;
using outcome = pool_core::outcome;

class PoolCoreTest : public ::testing::Test {
 protected:
  void make(pool_limits l) { core_.emplace("php", l); }

  // Carries out the actions like the pool does: spawns succeed unless
  // `failing_launches` is set; lends, refusals and ends are recorded.
  void run() {
    for (auto acts = core_->take_actions(); !acts.empty(); acts = core_->take_actions()) {
      for (auto& a : acts) {
        switch (a.what) {
          case kind::spawn:
            ++spawns_;
            if (failing_logons_) {
              core_->start_failed(a.inst, "logon of IUSR: no such user", now_, true);
            } else if (failing_launches_) {
              core_->start_failed(a.inst, "execve: No such file or directory", now_);
            } else {
              running_.insert(a.inst);
              core_->started(a.inst, now_);
            }
            break;
          case kind::lend:
            lent_[a.waiter] = a.inst;
            break;
          case kind::refuse:
            refused_[a.waiter] = *a.why;
            break;
          case kind::end:
            ended_[a.inst] = a.how;
            break;
          case kind::log:
            logs_.push_back(a.text);
            break;
        }
      }
    }
  }

  // A request: the instance it gets at once or later, 0 while queued.
  pool_core::id want(pool_core::id waiter, pool_core::home where = 1) {
    auto ans = core_->want(waiter, where, now_);
    if (ans.refused) refused_[waiter] = *ans.refused;
    run();
    if (ans.inst) lent_[waiter] = ans.inst;
    return lent_.contains(waiter) ? lent_[waiter] : 0;
  }

  void release(pool_core::id inst, outcome how = outcome::ok, pool_core::home kept_on = 1) {
    core_->released(inst, how, kept_on, now_);
    run();
  }

  void exit(pool_core::id inst, const std::string& how = "exited with status 0") {
    running_.erase(inst);
    core_->exited(inst, how, now_);
    run();
  }

  void tick() {
    core_->tick(now_);
    run();
  }

  std::optional<pool_core> core_;
  pool_core::time_point now_ = pool_core::time_point(std::chrono::hours(1000));
  bool failing_launches_ = false;
  bool failing_logons_ = false;
  int spawns_ = 0;
  std::set<pool_core::id> running_;
  std::map<pool_core::id, pool_core::id> lent_;
  std::map<pool_core::id, pool_core::refusal> refused_;
  std::map<pool_core::id, pool_core::ending> ended_;
  std::vector<std::string> logs_;
};

// A start that failed at the account's logon (the spawner service could not
// log it on: IIS's 401.1) answers 401 with the reason, the queued request and
// the ones during the back-off alike; a later start that succeeds ends it, and
// other failures stay 503.
TEST_F(PoolCoreTest, AFailedLogonIs401UntilAStartSucceeds) {
  make({.max_instances = 1});
  failing_logons_ = true;
  EXPECT_EQ(want(1), 0u);
  ASSERT_TRUE(refused_.contains(1));
  EXPECT_EQ(refused_[1].status, boost::beast::http::status::unauthorized);
  EXPECT_EQ(refused_[1].phase, "logon");
  EXPECT_NE(refused_[1].reason.find("logon of IUSR: no such user"), std::string::npos)
      << refused_[1].reason;
  EXPECT_EQ(want(2), 0u);  // in the back-off: the same answer, no new logon
  EXPECT_EQ(refused_[2].status, boost::beast::http::status::unauthorized);
  EXPECT_EQ(spawns_, 1);

  failing_logons_ = false;
  failing_launches_ = true;
  now_ += 11s;
  EXPECT_EQ(want(3), 0u);
  EXPECT_EQ(refused_[3].status, boost::beast::http::status::service_unavailable);
  failing_launches_ = false;
  now_ += 11s;
  EXPECT_NE(want(4), 0u);
}

TEST_F(PoolCoreTest, SpawnsOnDemandUpToMaxInstancesThenQueues) {
  make({.max_instances = 2, .queue_length = 1});
  auto a = want(1);
  auto b = want(2);
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(spawns_, 2);
  EXPECT_EQ(want(3), 0u);  // queued
  EXPECT_EQ(core_->queued(), 1u);
  EXPECT_EQ(want(4), 0u);  // beyond queue_length
  ASSERT_TRUE(refused_.contains(4));
  EXPECT_EQ(refused_[4].status, boost::beast::http::status::service_unavailable);
  EXPECT_EQ(refused_[4].phase, "queue wait");
  EXPECT_EQ(refused_[4].retry_after, 1s);
  release(a);
  EXPECT_EQ(lent_[3], a);  // the released instance goes to the queued request
  EXPECT_EQ(spawns_, 2);
}

TEST_F(PoolCoreTest, AnIdleInstanceIsReusedNotSpawned) {
  make({.max_instances = 4});
  auto a = want(1);
  release(a);
  EXPECT_EQ(want(2), a);
  EXPECT_EQ(spawns_, 1);
}

TEST_F(PoolCoreTest, TheMostRecentlyIdleInstanceIsLentSoOthersCanReachIdleTimeout) {
  make({.max_instances = 2, .idle_timeout = 10s});
  auto a = want(1);
  auto b = want(2);
  release(a);
  now_ += 1s;
  release(b);
  // Work for one instance at a time, every 3 s, for 12 s: always b.
  for (pool_core::id w = 3; w < 7; ++w) {
    now_ += 3s;
    EXPECT_EQ(want(w), b);
    release(b);
    tick();
  }
  EXPECT_EQ(ended_.count(a), 1u);  // idle for 10 s at the last tick
  EXPECT_EQ(ended_[a], pool_core::ending::graceful);
  EXPECT_EQ(ended_.count(b), 0u);
}

TEST_F(PoolCoreTest, IdleInstancesEndAfterIdleTimeoutExactly) {
  make({.idle_timeout = 300ms});
  auto a = want(1);
  release(a);
  now_ += 299ms;
  tick();
  EXPECT_FALSE(ended_.contains(a));
  now_ += 1ms;
  tick();
  ASSERT_TRUE(ended_.contains(a));
  EXPECT_EQ(ended_[a], pool_core::ending::graceful);
  exit(a);
  EXPECT_TRUE(core_->empty());
  EXPECT_EQ(core_->counts().crashes, 0u);  // asked to end: not a crash
  // The next request starts a new one.
  EXPECT_NE(want(2), 0u);
  EXPECT_EQ(spawns_, 2);
}

// min_instances: the first tick starts them; idle_timeout ends only those
// beyond them; one that dies is replaced at the next tick.
TEST_F(PoolCoreTest, MinInstancesStartAtTheFirstTickAndStayWhenIdle) {
  make({.max_instances = 3, .min_instances = 2, .idle_timeout = 300ms});
  tick();
  EXPECT_EQ(spawns_, 2);
  EXPECT_EQ(running_.size(), 2u);
  // A third for three requests at once.
  auto a = want(1), b = want(2), c = want(3);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  ASSERT_NE(c, 0u);
  EXPECT_EQ(spawns_, 3);
  release(a);
  release(b);
  release(c);
  now_ += 10s;
  tick();
  EXPECT_EQ(ended_.size(), 1u);  // one beyond min_instances
  for (auto [inst, how] : ended_) exit(inst);
  now_ += 10s;
  tick();
  EXPECT_EQ(ended_.size(), 1u);
  EXPECT_EQ(core_->instances().size(), 2u);
  // A warm one dies: the next tick starts another.
  auto gone = *running_.begin();
  exit(gone, "killed by signal 9");
  now_ += 1s;
  tick();
  EXPECT_EQ(core_->instances().size(), 2u);
  EXPECT_EQ(spawns_, 4);
}

// A reload replaced the pool: the idle instance ends now, the busy one
// finishes its request and ends; a request that began under the old config
// and only now wants an instance still gets one (started for it, ended after
// it); no warm instance is started again and nothing is refused.
TEST_F(PoolCoreTest, ARetiredPoolEndsEachInstanceOnceItIsFree) {
  make({.max_instances = 2, .min_instances = 2});
  tick();
  ASSERT_EQ(running_.size(), 2u);
  auto busy = want(1);
  ASSERT_NE(busy, 0u);
  core_->retire();
  run();
  ASSERT_EQ(ended_.size(), 1u);  // the idle one, at once
  EXPECT_FALSE(ended_.contains(busy));
  for (auto [inst, how] : std::map(ended_)) exit(inst);
  auto late = want(2);
  ASSERT_NE(late, 0u);
  EXPECT_EQ(spawns_, 3);
  release(busy);
  EXPECT_TRUE(ended_.contains(busy));
  EXPECT_FALSE(ended_.contains(late));
  release(late);
  EXPECT_TRUE(ended_.contains(late));
  now_ += 10s;
  tick();
  EXPECT_EQ(spawns_, 3);  // min_instances no longer kept
  EXPECT_TRUE(refused_.empty());
}

// monitor_changes_to's recycling: the idle instance ends now, the busy one
// after its request; the next request starts a new one.
TEST_F(PoolCoreTest, RecycleAllEndsIdleNowAndBusyOnceGivenBack) {
  make({.max_instances = 2});
  auto a = want(1), b = want(2);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  release(b);
  core_->recycle_all();
  run();
  EXPECT_TRUE(ended_.contains(b));
  EXPECT_FALSE(ended_.contains(a));
  release(a);
  EXPECT_TRUE(ended_.contains(a));
  EXPECT_EQ(core_->counts().recycled, 2u);
  for (auto [inst, how] : std::map(ended_)) exit(inst);
  auto c = want(3);
  EXPECT_NE(c, 0u);
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  release(c);
  EXPECT_FALSE(ended_.contains(c));  // a new instance is not recycled again
}

TEST_F(PoolCoreTest, AnInstanceIsRecycledAtItsBudgetAndNeverLentPastIt) {
  make({.max_instances = 1, .budget = 3});
  auto a = want(1);
  EXPECT_EQ(want(2), 0u);  // queued behind the first
  release(a);
  EXPECT_EQ(lent_[2], a);
  release(a);
  EXPECT_EQ(want(3), a);
  EXPECT_EQ(want(4), 0u);  // queued: a is on its third and last request
  release(a);              // third request done: budget spent
  ASSERT_TRUE(ended_.contains(a));
  EXPECT_EQ(ended_[a], pool_core::ending::graceful);
  auto fresh = lent_[4];
  EXPECT_NE(fresh, 0u);
  EXPECT_NE(fresh, a);  // the queued request got a new instance, not the spent one
  EXPECT_EQ(core_->counts().recycled, 1u);
}

TEST_F(PoolCoreTest, AFailedRequestEndsTheInstanceWithSigkillAndACrashIsReplaced) {
  make({.max_instances = 1});
  auto a = want(1);
  EXPECT_EQ(want(2), 0u);
  release(a, outcome::timed_out);
  EXPECT_EQ(ended_[a], pool_core::ending::now);
  auto b = lent_[2];
  EXPECT_NE(b, 0u);
  EXPECT_NE(b, a);
  // b dies while idle: the next request gets a new one.
  release(b);
  now_ += 10s;
  exit(b, "killed by signal 11");
  EXPECT_EQ(core_->counts().crashes, 1u);
  auto c = want(3);
  EXPECT_NE(c, 0u);
  EXPECT_NE(c, b);
}

// A pool with children: the slots of an instance the pool killed go without
// counting as crashes or delaying the next start, lent ones included.
TEST_F(PoolCoreTest, SlotsOfAnInstanceThePoolEndedAreNoCrashAndNoBackOff) {
  make({.max_instances = 2});
  auto a = want(1);
  auto b = want(2);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  release(b);
  core_->exited(a, "killed", now_, true);  // lent to request 1
  core_->exited(b, "killed", now_, true);  // idle
  run();
  release(a, outcome::broken);  // its holder gives it back: already forgotten
  EXPECT_EQ(core_->counts().crashes, 0u);
  EXPECT_FALSE(core_->spawn_held_until(now_));
  EXPECT_TRUE(core_->instances().empty());
  auto c = want(3);
  EXPECT_NE(c, 0u);
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
}

TEST_F(PoolCoreTest, FailedStartsBackOffExponentiallyWithJitter) {
  make({.backoff_first = 200ms, .backoff_max = 2s, .rapid_fails = 100});
  failing_launches_ = true;
  std::vector<std::chrono::milliseconds> delays;
  for (pool_core::id w = 1; w <= 6; ++w) {
    EXPECT_EQ(want(w), 0u);
    ASSERT_TRUE(refused_.contains(w)) << w;
    EXPECT_EQ(refused_[w].status, boost::beast::http::status::service_unavailable);
    EXPECT_EQ(refused_[w].phase, "spawn");
    EXPECT_NE(refused_[w].reason.find("execve: No such file or directory"), std::string::npos);
    auto held = core_->spawn_held_until(now_);
    ASSERT_TRUE(held);
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(*held - now_));
    // While held, a request is refused without a spawn attempt.
    int before = spawns_;
    want(100 + w);
    EXPECT_EQ(spawns_, before);
    EXPECT_TRUE(refused_.contains(100 + w));
    EXPECT_TRUE(refused_[100 + w].retry_after.has_value());
    now_ = *held;
  }
  // 200, 400, 800, 1600, 2000, 2000 ms, each plus up to a quarter.
  const std::chrono::milliseconds base[] = {200ms, 400ms, 800ms, 1600ms, 2000ms, 2000ms};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], base[i]) << i;
    EXPECT_LE(delays[i], base[i] + base[i] / 4) << i;
  }
  // The program is fixed: the next start works and a served request resets the back-off.
  failing_launches_ = false;
  auto a = want(50);
  ASSERT_NE(a, 0u);
  release(a);
  EXPECT_FALSE(core_->spawn_held_until(now_));
}

TEST_F(PoolCoreTest, AnInstanceDyingRightAfterItsStartCountsAsAFailedStart) {
  make({.max_instances = 2, .backoff_first = 1s, .early_exit = 2s});
  auto a = want(1);
  auto b = want(2);
  ASSERT_NE(a, b);
  release(a);
  release(b);
  // b dies 100 ms after its start, having served a request: a crash, not a failed start.
  now_ += 100ms;
  exit(b, "exited with status 255");
  EXPECT_FALSE(core_->spawn_held_until(now_));
  // c is started for a request that leaves before using it, and dies at once, unused.
  EXPECT_EQ(want(3), a);
  auto c = want(4);
  ASSERT_NE(c, 0u);
  core_->returned(c, now_);
  run();
  now_ += 50ms;
  exit(c, "exited with status 1");
  auto held = core_->spawn_held_until(now_);
  ASSERT_TRUE(held);
  EXPECT_GE(*held - now_, 1s);
}

TEST_F(PoolCoreTest, RapidFailuresStopSpawningForThePauseThenItResumes) {
  make({.max_instances = 1, .rapid_fails = 5, .rapid_window = 60s, .breaker_pause = 30s});
  for (pool_core::id w = 1; w <= 5; ++w) {
    auto inst = want(w);
    ASSERT_NE(inst, 0u) << w;
    now_ += 1s;
    release(inst, outcome::broken);  // a crash during the request
    exit(inst, "killed by signal 11");
  }
  EXPECT_EQ(core_->counts().crashes, 5u);
  int before = spawns_;
  EXPECT_EQ(want(10), 0u);
  EXPECT_EQ(spawns_, before);
  ASSERT_TRUE(refused_.contains(10));
  EXPECT_EQ(refused_[10].phase, "spawn");
  EXPECT_NE(refused_[10].reason.find("stopped starting instances"), std::string::npos)
      << refused_[10].reason;
  EXPECT_EQ(refused_[10].retry_after, 30s);
  bool logged = false;
  for (auto& l : logs_) logged = logged || l.find("5 failures within 60 s") != std::string::npos;
  EXPECT_TRUE(logged);
  now_ += 29s;
  want(11);
  EXPECT_TRUE(refused_.contains(11));
  now_ += 1s;
  EXPECT_NE(want(12), 0u);  // the pause is over
}

// rapid_fails_per_minute = 0: crashes never stop the starts.
TEST_F(PoolCoreTest, RapidFailsZeroNeverPauses) {
  make({.max_instances = 1, .rapid_fails = 0, .rapid_window = 60s, .breaker_pause = 30s});
  for (pool_core::id w = 1; w <= 30; ++w) {
    auto inst = want(w);
    ASSERT_NE(inst, 0u) << w;
    now_ += 100ms;
    release(inst, outcome::broken);
    exit(inst, "killed by signal 11");
  }
  EXPECT_EQ(core_->counts().crashes, 30u);
  EXPECT_FALSE(core_->spawn_held_until(now_));
  for (auto& l : logs_) EXPECT_EQ(l.find("failures within"), std::string::npos) << l;
}

TEST_F(PoolCoreTest, AnInstanceReapedWhileLentIsCountedWhenItsHolderGivesItBack) {
  make({.max_instances = 1});
  auto a = want(1);
  EXPECT_EQ(want(2), 0u);
  exit(a, "killed by signal 9");
  // Its place is free: the queued request gets a new instance at once.
  auto b = lent_[2];
  EXPECT_NE(b, 0u);
  EXPECT_NE(b, a);
  EXPECT_EQ(core_->counts().crashes, 0u);
  release(a, outcome::broken);
  EXPECT_EQ(core_->counts().crashes, 1u);
  EXPECT_EQ(core_->instances().size(), 1u);
}

TEST_F(PoolCoreTest, AQueuedRequestThatTimesOutIsRefusedWith504) {
  make({.max_instances = 1});
  auto a = want(1);
  EXPECT_EQ(want(2), 0u);
  now_ += 90s;
  core_->waiter_gone(2, true, now_);
  run();
  ASSERT_TRUE(refused_.contains(2));
  EXPECT_EQ(refused_[2].status, boost::beast::http::status::gateway_timeout);
  EXPECT_EQ(refused_[2].phase, "queue wait");
  release(a);
  EXPECT_FALSE(lent_.contains(2));
  EXPECT_EQ(core_->counts().queue_timeouts, 1u);
}

TEST_F(PoolCoreTest, AnInstanceGoesToARequestOnItsOwnThreadThatCameSoonAfterTheOldest) {
  make({.max_instances = 1, .fairness = 5ms});
  auto a = want(1, 7);
  EXPECT_EQ(want(2, 8), 0u);  // oldest, other thread
  now_ += 4ms;
  EXPECT_EQ(want(3, 7), 0u);  // same thread as a's connection, 4 ms later
  now_ += 10ms;               // however long the oldest has waited by now
  release(a, outcome::ok, 7);
  EXPECT_EQ(lent_[3], a);
  // One that came `fairness` or more after the oldest does not overtake it.
  now_ += 1ms;  // 15 ms after the oldest
  EXPECT_EQ(want(4, 7), 0u);
  release(a, outcome::ok, 7);
  EXPECT_EQ(lent_[2], a);
}

TEST_F(PoolCoreTest, ADeferredSpawnKeepsTheRequestQueuedAndEndOneIdleEndsTheOldest) {
  make({.max_instances = 2});
  auto a = want(1);
  auto b = want(2);
  release(a);
  now_ += 1s;
  release(b);
  EXPECT_TRUE(core_->end_one_idle(now_));  // a: idle the longest
  run();
  EXPECT_EQ(ended_[a], pool_core::ending::graceful);
  EXPECT_FALSE(ended_.contains(b));
  // A spawn the shared room refused: not a failure, the request waits.
  EXPECT_EQ(want(3), b);
  core_->want(4, 1, now_);
  auto acts = core_->take_actions();
  ASSERT_EQ(acts.size(), 1u);
  ASSERT_EQ(acts[0].what, kind::spawn);
  core_->spawn_deferred(acts[0].inst);
  EXPECT_EQ(core_->queued(), 1u);
  EXPECT_EQ(core_->counts().start_failures, 0u);
  EXPECT_FALSE(core_->spawn_held_until(now_));
  release(b);  // the queued request gets b
  EXPECT_EQ(lent_[4], b);
}

TEST_F(PoolCoreTest, StopRefusesTheQueueAndEndsEveryInstance) {
  make({.max_instances = 2});
  auto a = want(1);
  auto b = want(2);
  release(b);
  EXPECT_EQ(want(3), b);
  EXPECT_EQ(want(4), 0u);
  core_->stop();
  run();
  EXPECT_EQ(refused_[4].phase, "stopping");
  EXPECT_EQ(
      ended_[a],
      pool_core::ending::graceful);  // busy: asked to end, keeps its connection until released
  EXPECT_EQ(ended_[b], pool_core::ending::graceful);
  ended_.clear();
  release(a);
  EXPECT_TRUE(ended_.contains(a));  // now its connection is closed too
  want(5);
  EXPECT_EQ(refused_[5].phase, "stopping");
  exit(a);
  exit(b);
  EXPECT_TRUE(core_->empty());
  EXPECT_EQ(core_->counts().crashes, 0u);
}

// Random events, seeded (so a failure replays), against invariants that must
// hold after every one: never more than max_instances live, an instance lent
// to one request at a time and never past its budget or after it was told to
// end, every request answered at most once, and at the end every request
// answered exactly once.
TEST(PoolCoreRandom, InvariantsHoldUnderRandomEvents) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    pool_limits l;
    l.max_instances = 1 + seed % 4;
    l.budget = seed % 3 == 0 ? 0 : 1 + seed % 5;
    l.queue_length = seed % 6;
    l.idle_timeout = 500ms;
    l.rapid_fails = 5;
    l.breaker_pause = 2s;
    pool_core core("p", l);
    auto now = pool_core::time_point(std::chrono::hours(1));
    std::map<pool_core::id, pool_core::id> holder;  // instance -> request holding it
    std::set<pool_core::id> alive, told_to_end, waiting, answered;
    std::map<pool_core::id, std::uint32_t> served;
    pool_core::id next_waiter = 1;
    bool launches_fail = false;
    auto run = [&] {
      for (auto acts = core.take_actions(); !acts.empty(); acts = core.take_actions()) {
        for (auto& a : acts) {
          switch (a.what) {
            case kind::spawn:
              if (launches_fail) {
                core.start_failed(a.inst, "launch failed", now);
              } else {
                alive.insert(a.inst);
                core.started(a.inst, now);
              }
              break;
            case kind::lend:
              ASSERT_TRUE(waiting.count(a.waiter))
                  << "seed " << seed << ": lend to a request not waiting";
              ASSERT_FALSE(holder.count(a.inst)) << "seed " << seed << ": instance lent twice";
              ASSERT_FALSE(told_to_end.count(a.inst))
                  << "seed " << seed << ": lent after being ended";
              ASSERT_TRUE(alive.count(a.inst)) << "seed " << seed;
              holder[a.inst] = a.waiter;
              waiting.erase(a.waiter);
              answered.insert(a.waiter);
              break;
            case kind::refuse:
              ASSERT_TRUE(waiting.count(a.waiter))
                  << "seed " << seed << ": refusal to a request not waiting";
              waiting.erase(a.waiter);
              answered.insert(a.waiter);
              break;
            case kind::end:
              told_to_end.insert(a.inst);
              break;
            case kind::log:
              break;
          }
        }
      }
    };
    for (int step = 0; step < 400; ++step) {
      switch (pick(7)) {
        case 0:
        case 1: {  // a request
          auto w = next_waiter++;
          waiting.insert(w);
          auto ans = core.want(w, 1 + pick(2), now);
          if (ans.inst) {
            ASSERT_FALSE(holder.count(ans.inst)) << "seed " << seed;
            ASSERT_FALSE(told_to_end.count(ans.inst)) << "seed " << seed;
            holder[ans.inst] = w;
            waiting.erase(w);
            answered.insert(w);
          } else if (ans.refused) {
            waiting.erase(w);
            answered.insert(w);
          }
          run();
          break;
        }
        case 2:
        case 3: {  // a holder gives its instance back
          if (holder.empty()) break;
          auto it = std::next(holder.begin(), static_cast<std::ptrdiff_t>(pick(holder.size())));
          auto inst = it->first;
          holder.erase(it);
          ++served[inst];
          if (l.budget) {
            ASSERT_LE(served[inst], l.budget) << "seed " << seed << ": lent past its budget";
          }
          auto how = pick(10) == 0   ? outcome::broken
                     : pick(10) == 0 ? outcome::timed_out
                                     : outcome::ok;
          core.released(inst, how, 1 + pick(2), now);
          run();
          break;
        }
        case 4: {  // an instance exits (asked to, or a crash)
          if (alive.empty()) break;
          auto inst = *std::next(alive.begin(), static_cast<std::ptrdiff_t>(pick(alive.size())));
          if (holder.count(inst) && pick(4) != 0) break;  // crashes while lent are rarer
          alive.erase(inst);
          core.exited(inst, "exited", now);
          run();
          if (holder.count(inst)) {  // its holder notices the broken connection
            holder.erase(inst);
            core.released(inst, outcome::broken, 0, now);
            run();
          }
          break;
        }
        case 5: {  // time passes
          now += std::chrono::milliseconds(pick(400));
          launches_fail = pick(8) == 0;
          core.tick(now);
          run();
          break;
        }
        case 6: {  // a queued request times out
          if (waiting.empty()) break;
          auto w = *std::next(waiting.begin(), static_cast<std::ptrdiff_t>(pick(waiting.size())));
          core.waiter_gone(w, true, now);
          run();
          break;
        }
      }
      std::size_t live = 0;
      for (auto& v : core.instances()) live += v.st != pool_core::state::draining;
      ASSERT_LE(live, l.max_instances) << "seed " << seed << " step " << step;
    }
    core.stop();
    run();
    EXPECT_TRUE(waiting.empty()) << "seed " << seed << ": a request never answered";
    EXPECT_EQ(answered.size() + waiting.size(), next_waiter - 1) << "seed " << seed;
  }
}

}  // namespace
}  // namespace cgihost::host
