#pragma once
// The decisions of a FastCGI pool, without I/O, threads or clocks of its own:
// which instance a request gets, when an instance starts or ends, when a
// failing program is retried (exponential back-off with jitter) and when a
// pool whose instances keep failing stops spawning for a while (IIS's
// rapidFailsPerMinute). The pool feeds it events with the current time and
// carries out the actions it queues; the unit tests feed it a fake clock.
//
// Not thread-safe: the pool calls it under its mutex.

#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace cgihost::host {

struct pool_limits {
  std::uint32_t max_instances = 4;
  // Kept running even when idle (php-fpm pm.start_servers): started by
  // tick() and never ended by idle_timeout; at most max_instances.
  std::uint32_t min_instances = 0;
  std::uint32_t budget = 0;  // requests one instance serves before it is recycled; 0: no limit
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  std::uint32_t queue_length = 1000;
  // A failed start (the launch failed, or the instance died before serving a
  // request within `early_exit` of its start) delays the next start by
  // `backoff_first`, doubled per failure in a row up to `backoff_max`.
  std::chrono::milliseconds backoff_first = std::chrono::milliseconds(200);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(10);
  std::chrono::milliseconds early_exit = std::chrono::seconds(2);
  // `rapid_fails` failures (failed starts and crashes) within `rapid_window`
  // stop spawning for `breaker_pause`; 0: never.
  std::uint32_t rapid_fails = 10;
  std::chrono::milliseconds rapid_window = std::chrono::minutes(1);
  std::chrono::milliseconds breaker_pause = std::chrono::seconds(30);
  // A queued request is given a same-thread instance before older requests of
  // other threads that arrived less than this before it.
  std::chrono::milliseconds fairness = std::chrono::milliseconds(1);
};

class pool_core {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using id = std::uint64_t;
  // Where a request or a kept connection lives (its io thread); 0: anywhere.
  using home = std::uintptr_t;

  enum class state { idle, busy, draining };

  // Why a request gets no instance: its status, the phase for the log and the
  // error body ("queue wait", "spawn", "stopping"), and a Retry-After.
  struct refusal {
    boost::beast::http::status status;
    std::string phase;
    std::string reason;
    std::optional<std::chrono::seconds> retry_after;
  };

  // How an instance is ended: asked to (SIGTERM to its group on POSIX), or
  // at once (SIGKILL).
  enum class ending { graceful, now };

  struct action {
    enum class kind {
      spawn,   // start instance `inst`; answer with started() or start_failed()
      lend,    // give instance `inst` to queued request `waiter`
      refuse,  // request `waiter` gets no instance: `why`
      end,     // end instance `inst` as `how`; `close_kept`: its kept connection too
      log,     // `level` (spdlog's numbering: 2 info, 3 warn, 4 error) and `text`
    };
    kind what = kind::log;
    id inst = 0;
    id waiter = 0;
    ending how = ending::graceful;
    bool close_kept = false;
    int level = 0;
    std::string text;
    std::optional<refusal> why;
  };

  // What want() answers at once: an instance, a refusal, or neither (queued:
  // a lend or refuse action for that waiter comes later).
  struct answer {
    id inst = 0;
    std::optional<refusal> refused;
  };

  struct instance_view {
    id inst;
    state st;
    std::uint32_t served;
    time_point started_at;
  };

  struct totals {
    std::uint64_t started = 0;
    std::uint64_t start_failures = 0;
    std::uint64_t crashes = 0;   // ended without being asked to
    std::uint64_t recycled = 0;  // ended at their request budget
    std::uint64_t killed = 0;    // ended because a request timed out or was abandoned
    std::uint64_t queue_timeouts = 0;
    std::uint64_t queue_full = 0;
  };

  pool_core(std::string name, pool_limits limits) : name_(std::move(name)), limits_(limits) {}

  // Request `waiter` (running on `where`) wants an instance.
  answer want(id waiter, home where, time_point now);
  // Queued request `waiter` stops waiting (its time ran out: `timed_out`, or it
  // left). A timed-out waiter that is still queued is refused with 504.
  void waiter_gone(id waiter, bool timed_out, time_point now);

  // The outcome of a spawn action.
  void started(id inst, time_point now);
  // `logon`: the account's logon failed (the spawner service could not log
  // it on: IIS's 401.1). Requests that need an instance then get 401 with the
  // reason, until a start succeeds, instead of 503.
  void start_failed(id inst, const std::string& reason, time_point now, bool logon = false);

  // How a request on an instance ended: `ok`; `timed_out` (we gave up on it);
  // `broken` (its connection failed before END_REQUEST: it likely crashed);
  // `refused` (refused or reset before any answer). Both count as crashes
  // towards the rapid-fail pause; only failed launches and instances that die
  // before they were lent a request start the back-off.
  enum class outcome { ok, timed_out, broken, refused };

  // The holder gives `inst` back after a request. Anything but `ok` ends it
  // with SIGKILL; `broken` counts as a crash. `kept_on`: the home of the
  // connection it kept for the next request, 0 when none.
  // `yield`: another pool sharing the room waits for it: an instance given
  // back `ok` is ended rather than lent again.
  void released(id inst, outcome how, home kept_on, time_point now, bool yield = false);
  // A lent instance comes back unused (its request left before using it).
  void returned(id inst, time_point now);

  // The instance's process was reaped. `asked`: the pool ended it (not a crash).
  void exited(id inst, const std::string& how, time_point now, bool asked = false);

  // Ends instances idle past idle_timeout (keeping min_instances), spawns for
  // queued requests when a back-off or pause ran out, and up to
  // min_instances. Call at least every second, and once at the start.
  void tick(time_point now);

  // A spawn action that could not be carried out for lack of room shared with
  // other pools (not a failure): the request that wanted it stays queued.
  void spawn_deferred(id inst);

  // Ends the instance idle the longest, to make room elsewhere; false when
  // none is idle.
  bool end_one_idle(time_point now);

  // Refuses every queued request and ends every instance (busy ones get
  // SIGTERM and end when given back).
  void stop();

  // A reload replaced this pool (its settings changed): idle instances end
  // now, busy ones once given back after their request, unless a queued
  // request (one that began under the old config) takes them; nothing starts
  // but for such queued requests. Nothing is refused or cut short.
  void retire();
  // Every instance is ended gracefully (monitor_changes_to saw its file
  // change): an idle one now, a busy one when given back; new ones start as
  // requests (or min_instances) need them. Counted as recycled.
  void recycle_all();

  std::vector<action> take_actions() { return std::exchange(actions_, {}); }

  bool stopping() const { return stopping_; }
  bool retired() const { return retired_; }
  bool empty() const { return instances_.empty(); }
  std::size_t queued() const { return queue_.size(); }
  std::vector<instance_view> instances() const;
  const totals& counts() const { return totals_; }
  // Until when starts are held back (back-off or pause), if they are.
  std::optional<time_point> spawn_held_until(time_point now) const;

 private:
  struct inst_rec {
    id number = 0;
    state st = state::busy;
    std::uint32_t served = 0;
    time_point started_at;
    time_point idle_since;
    home kept_on = 0;
    bool serving_started = false;  // true once it was given to a request after its start
    bool crash_counted = false;
    bool recycle = false;  // recycle_all() while it was busy: ends when given back
    bool exited = false;   // reaped while lent: the holder's release removes it
    std::string exit_how;
  };
  struct waiter_rec {
    id number;
    home where;
    time_point since;
  };

  inst_rec* find(id inst);
  void forget(id inst);
  std::size_t live() const;  // idle + busy
  bool may_spawn(time_point now) const;
  void spawn(time_point now);
  void spawn_for_queue(time_point now);  // for queued requests, as far as allowed
  void hand_over(inst_rec& inst, time_point now);
  void end(inst_rec& inst, ending how, bool close_kept);
  void failed(const std::string& what, bool at_start, time_point now);
  void refuse_all(const refusal& why);
  refusal held_refusal(time_point now) const;
  void log(int level, std::string text);

  std::string name_;
  pool_limits limits_;
  std::vector<inst_rec> instances_;
  std::deque<waiter_rec> queue_;
  std::vector<action> actions_;
  id next_inst_ = 1;
  bool stopping_ = false;
  bool retired_ = false;
  // Failures: back-off after failed starts in a row, the pause after too many.
  std::uint32_t failed_in_row_ = 0;
  time_point backoff_until_{};
  time_point paused_until_{};
  std::deque<time_point> recent_failures_;
  std::string last_failure_;
  bool logon_failed_ = false;  // the last failed start was a logon (401, not 503)
  std::uint64_t jitter_state_ = 0x9e3779b97f4a7c15ULL;
  totals totals_;
};

}  // namespace cgihost::host
