#include "host/fastcgi/pool_core.hpp"

#include <algorithm>

namespace cgihost::host {
namespace {
namespace http = boost::beast::http;

long long ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::chrono::seconds ceil_seconds(std::chrono::nanoseconds d) {
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(d));
}
}  // namespace

pool_core::inst_rec* pool_core::find(id inst) {
  for (auto& r : instances_)
    if (r.number == inst) return &r;
  return nullptr;
}

std::size_t pool_core::live() const {
  return static_cast<std::size_t>(
      std::count_if(instances_.begin(), instances_.end(),
                    [](const inst_rec& r) { return r.st != state::draining && !r.exited; }));
}

bool pool_core::may_spawn(time_point now) const {
  return !stopping_ && now >= backoff_until_ && now >= paused_until_;
}

std::optional<pool_core::time_point> pool_core::spawn_held_until(time_point now) const {
  auto until = std::max(backoff_until_, paused_until_);
  if (until > now) return until;
  return std::nullopt;
}

void pool_core::log(int level, std::string text) {
  action a;
  a.what = action::kind::log;
  a.level = level;
  a.text = std::move(text);
  actions_.push_back(std::move(a));
}

pool_core::answer pool_core::want(id waiter, home where, time_point now) {
  if (stopping_)
    return {0, refusal{http::status::service_unavailable, "stopping", "the pool is stopping", {}}};
  // The most recently idle instance: its connection is warm, and the others
  // can reach idle_timeout when there is less work. One kept on this thread first.
  inst_rec* best = nullptr;
  for (auto& r : instances_) {
    if (r.st != state::idle) continue;
    if (!best) {
      best = &r;
      continue;
    }
    bool r_home = where && r.kept_on == where;
    bool b_home = where && best->kept_on == where;
    if ((r_home && !b_home) || (r_home == b_home && r.idle_since > best->idle_since)) best = &r;
  }
  if (best) {
    best->st = state::busy;
    best->serving_started = true;
    return {best->number, std::nullopt};
  }
  const std::size_t starting = static_cast<std::size_t>(
      std::count_if(instances_.begin(), instances_.end(),
                    [](const inst_rec& r) { return r.st == state::busy && !r.serving_started; }));
  const bool can_grow = live() < limits_.max_instances;
  if (can_grow && may_spawn(now) && queue_.size() >= starting) {
    queue_.push_back({waiter, where, now});
    spawn(now);
    return {};
  }
  if (live() == 0 && !may_spawn(now)) return {0, held_refusal(now)};
  if (queue_.size() >= limits_.queue_length) {
    ++totals_.queue_full;
    return {0, refusal{http::status::service_unavailable, "queue wait",
                       "all " + std::to_string(live()) + " instances busy and " +
                           std::to_string(queue_.size()) + " requests queued (queue_length)",
                       std::chrono::seconds(1)}};
  }
  queue_.push_back({waiter, where, now});
  return {};
}

void pool_core::waiter_gone(id waiter, bool timed_out, time_point now) {
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [&](const waiter_rec& w) { return w.number == waiter; });
  if (it == queue_.end()) return;  // already lent or refused: that action is on its way
  auto waited = now - it->since;
  queue_.erase(it);
  if (!timed_out) return;
  ++totals_.queue_timeouts;
  action a;
  a.what = action::kind::refuse;
  a.waiter = waiter;
  a.why = refusal{
      http::status::gateway_timeout,
      "queue wait",
      "no instance free within request_timeout (waited " + std::to_string(ms(waited)) + " ms)",
      {}};
  actions_.push_back(std::move(a));
}

void pool_core::spawn(time_point now) {
  inst_rec r;
  r.number = next_inst_++;
  r.st = state::busy;
  r.started_at = now;
  instances_.push_back(r);
  action a;
  a.what = action::kind::spawn;
  a.inst = r.number;
  actions_.push_back(std::move(a));
}

void pool_core::started(id inst, time_point now) {
  auto* r = find(inst);
  if (!r) return;
  ++totals_.started;
  logon_failed_ = false;
  hand_over(*r, now);
}

void pool_core::start_failed(id inst, const std::string& reason, time_point now, bool logon) {
  forget(inst);
  ++totals_.start_failures;
  logon_failed_ = logon;
  failed("cannot start: " + reason, true, now);
}

void pool_core::hand_over(inst_rec& inst, time_point now) {
  if (stopping_ || (retired_ && queue_.empty())) {
    end(inst, ending::graceful, true);
    return;
  }
  if (queue_.empty()) {
    inst.st = state::idle;
    inst.idle_since = now;
    return;
  }
  // Oldest first; but a request on the thread that holds the instance's
  // connection goes before older ones elsewhere that arrived less than
  // `fairness` before it: no cross-thread wake-up, no re-registered socket,
  // and no request is overtaken by one that came later than that.
  auto pick = queue_.begin();
  if (inst.kept_on) {
    const auto oldest = queue_.front().since;
    auto stop =
        queue_.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(queue_.size(), 16));
    auto same = std::find_if(queue_.begin(), stop, [&](const waiter_rec& w) {
      return w.where == inst.kept_on && w.since - oldest < limits_.fairness;
    });
    if (same != stop) pick = same;
  }
  action a;
  a.what = action::kind::lend;
  a.inst = inst.number;
  a.waiter = pick->number;
  queue_.erase(pick);
  inst.st = state::busy;
  inst.serving_started = true;
  actions_.push_back(std::move(a));
}

void pool_core::end(inst_rec& inst, ending how, bool close_kept) {
  inst.st = state::draining;
  action a;
  a.what = action::kind::end;
  a.inst = inst.number;
  a.how = how;
  a.close_kept = close_kept;
  actions_.push_back(std::move(a));
}

void pool_core::released(id inst, outcome how, home kept_on, time_point now, bool yield) {
  auto* r = find(inst);
  if (!r) return;  // already reaped
  if (r->exited) {
    // It died while lent: a crash, whatever the request did to it (a script
    // that kills its interpreter looks the same as one that never started).
    std::string what = "instance " + std::to_string(inst) + " " + r->exit_how + " during a request";
    forget(inst);
    ++totals_.crashes;
    failed(what, false, now);
    spawn_for_queue(now);
    return;
  }
  if (r->st == state::draining) {
    end(*r, ending::graceful,
        true);  // asked to end while busy (a stop): now its connection can go too
    return;
  }
  ++r->served;
  r->kept_on = kept_on;
  if (how == outcome::ok) {
    failed_in_row_ = 0;  // a served request proves the program starts
    if (stopping_) {
      end(*r, ending::graceful, true);
    } else if (r->recycle || (limits_.budget && r->served >= limits_.budget)) {
      ++totals_.recycled;
      end(*r, ending::graceful, true);
    } else if (yield) {
      log(2, "instance " + std::to_string(inst) + " ended: another account waits for room");
      end(*r, ending::graceful, true);
    } else {
      hand_over(*r, now);
      return;
    }
  } else {
    end(*r, ending::now, true);
    if (how == outcome::timed_out) ++totals_.killed;
    if (how == outcome::broken || how == outcome::refused) {
      r->crash_counted = true;
      ++totals_.crashes;
      failed("instance " + std::to_string(inst) +
                 (how == outcome::refused ? " refused a request" : " broke off a request"),
             false, now);
    }
  }
  spawn_for_queue(now);
}

void pool_core::forget(id inst) {
  instances_.erase(std::remove_if(instances_.begin(), instances_.end(),
                                  [&](const inst_rec& r) { return r.number == inst; }),
                   instances_.end());
}

void pool_core::returned(id inst, time_point now) {
  if (auto* r = find(inst); r && r->st == state::busy) hand_over(*r, now);
}

void pool_core::exited(id inst, const std::string& how, time_point now, bool asked) {
  auto* r = find(inst);
  if (!r) return;
  const bool expected = asked || stopping_ || r->st == state::draining;
  if (!expected && r->st == state::busy && r->serving_started) {
    // Lent: counted when its holder gives it back.
    r->exited = true;
    r->exit_how = how;
    spawn_for_queue(now);
    return;
  }
  const bool at_start = r->served == 0 && now - r->started_at < limits_.early_exit;
  const bool counted = r->crash_counted;
  forget(inst);
  if (!expected && !counted) {
    ++totals_.crashes;
    failed(
        "instance " + std::to_string(inst) + " " + how + (at_start ? " right after its start" : ""),
        at_start, now);
  }
  spawn_for_queue(now);
}

void pool_core::spawn_for_queue(time_point now) {
  if (queue_.empty() || !may_spawn(now)) return;
  const std::size_t starting = static_cast<std::size_t>(
      std::count_if(instances_.begin(), instances_.end(),
                    [](const inst_rec& r) { return r.st == state::busy && !r.serving_started; }));
  for (std::size_t pending = starting; pending < queue_.size() && live() < limits_.max_instances;
       ++pending)
    spawn(now);
}

void pool_core::failed(const std::string& what, bool at_start, time_point now) {
  last_failure_ = what;
  recent_failures_.push_back(now);
  while (!recent_failures_.empty() && now - recent_failures_.front() >= limits_.rapid_window)
    recent_failures_.pop_front();
  if (at_start) {
    ++failed_in_row_;
    auto delay = limits_.backoff_first;
    for (std::uint32_t i = 1; i < failed_in_row_ && delay < limits_.backoff_max; ++i) delay *= 2;
    delay = std::min(delay, limits_.backoff_max);
    // Up to a quarter more, so pools that failed together do not retry together.
    jitter_state_ ^= jitter_state_ << 13;
    jitter_state_ ^= jitter_state_ >> 7;
    jitter_state_ ^= jitter_state_ << 17;
    delay += std::chrono::milliseconds(
        delay.count() > 0 ? static_cast<long long>(
                                jitter_state_ % static_cast<std::uint64_t>(delay.count() / 4 + 1))
                          : 0);
    backoff_until_ = now + delay;
    log(3, what + " (" + std::to_string(failed_in_row_) + " in a row); next start in " +
               std::to_string(delay.count()) + " ms");
  } else {
    log(3, what);
  }
  if (limits_.rapid_fails && recent_failures_.size() >= limits_.rapid_fails &&
      paused_until_ <= now) {
    paused_until_ = now + limits_.breaker_pause;
    log(4, std::to_string(recent_failures_.size()) + " failures within " +
               std::to_string(ms(limits_.rapid_window) / 1000) + " s (rapid_fails_per_minute " +
               std::to_string(limits_.rapid_fails) + "): no new instance for " +
               std::to_string(ms(limits_.breaker_pause) / 1000) +
               " s; requests that need one get 503. Last: " + what);
    recent_failures_.clear();
  }
  if (live() == 0 && !may_spawn(now)) refuse_all(held_refusal(now));
}

pool_core::refusal pool_core::held_refusal(time_point now) const {
  if (logon_failed_) return {http::status::unauthorized, "logon", last_failure_, std::nullopt};
  if (paused_until_ > now)
    return {http::status::service_unavailable, "spawn",
            "the pool stopped starting instances for " +
                std::to_string(ms(limits_.breaker_pause) / 1000) +
                " s after repeated failures (last: " + last_failure_ + ")",
            ceil_seconds(paused_until_ - now)};
  return {http::status::service_unavailable, "spawn",
          "instances fail to start (last: " + last_failure_ + "); next try in " +
              std::to_string(ms(backoff_until_ - now)) + " ms",
          ceil_seconds(backoff_until_ - now)};
}

void pool_core::refuse_all(const refusal& why) {
  for (auto& w : queue_) {
    action a;
    a.what = action::kind::refuse;
    a.waiter = w.number;
    a.why = why;
    actions_.push_back(std::move(a));
  }
  queue_.clear();
}

void pool_core::tick(time_point now) {
  if (stopping_) return;
  for (auto& r : instances_) {
    if (live() <= limits_.min_instances) break;  // the warm ones stay
    if (r.st == state::idle && now - r.idle_since >= limits_.idle_timeout) {
      log(2, "instance " + std::to_string(r.number) + " idle for " +
                 std::to_string(ms(now - r.idle_since)) + " ms (idle_timeout): ending it");
      end(r, ending::graceful, true);
    }
  }
  spawn_for_queue(now);
  // A retired pool keeps none warm: its instances end as they become free.
  while (!retired_ && live() < limits_.min_instances && may_spawn(now)) spawn(now);
}

void pool_core::spawn_deferred(id inst) { forget(inst); }

bool pool_core::end_one_idle(time_point now) {
  inst_rec* oldest = nullptr;
  for (auto& r : instances_)
    if (r.st == state::idle && (!oldest || r.idle_since < oldest->idle_since)) oldest = &r;
  if (!oldest || stopping_) return false;
  log(2, "instance " + std::to_string(oldest->number) + " idle for " +
             std::to_string(ms(now - oldest->idle_since)) +
             " ms: ending it to make room for another account's request");
  end(*oldest, ending::graceful, true);
  return true;
}

void pool_core::stop() {
  if (stopping_) return;
  stopping_ = true;
  refuse_all(refusal{http::status::service_unavailable, "stopping", "the pool is stopping", {}});
  for (auto& r : instances_) {
    if (r.st == state::draining) continue;
    // A busy one finishes its request first; its holder keeps the connection until then.
    end(r, ending::graceful, r.st == state::idle);
  }
}

void pool_core::recycle_all() {
  for (auto& r : instances_) {
    if (r.st == state::idle) {
      ++totals_.recycled;
      end(r, ending::graceful, true);
    } else if (r.st == state::busy) {
      r.recycle = true;
    }
  }
}

void pool_core::retire() {
  if (retired_ || stopping_) return;
  retired_ = true;
  for (auto& r : instances_)
    if (r.st == state::idle) end(r, ending::graceful, true);
}

std::vector<pool_core::instance_view> pool_core::instances() const {
  std::vector<instance_view> v;
  v.reserve(instances_.size());
  for (const auto& r : instances_)
    if (!r.exited) v.push_back({r.number, r.st, r.served, r.started_at});
  return v;
}

}  // namespace cgihost::host
