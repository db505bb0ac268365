#pragma once
// Orphans of children: nothing a child starts outlives it.
//
// A process whose parent ends while it runs is re-parented by Linux to its
// nearest ancestor marked PR_SET_CHILD_SUBREAPER, else to init, where nobody
// ends it: a CGI script's `setsid sleep 1000 &` leaves the script's process
// group and survives the group kill of a timeout. The process that starts
// children (the spawn broker, or cgihost without one) becomes that ancestor:
// `subreaper` watches each child this process started (a pidfd, never a
// reap), and once any of them has exited it ends every process it inherited:
// SIGKILL (to the whole group of one that leads its own session, whose
// members can only be its descendants), then reaps it by pid. Their own
// children are inherited when they die and are ended by the next round, up
// to a bound; what a bounded sweep leaves is swept again every 100 ms.
//
// "Inherited" means a child of this process that it did not start itself:
// launch() declares each child it starts (track_started) and its owner says
// when it reaped it (track_reaped); code that starts a child any other way
// holds hold_sweeps() around it and declares it too. A sweep never waits for
// "any child" (no waitpid(-1)): the owners of the children it started keep
// their exit statuses.
//
// An inherited process is ended at the first child exit after it was
// inherited, so a double-forked helper of a child that still runs ends when
// any child exits, at the latest when its own child does. cgroups would
// attribute it exactly; they are not used here (not delegated in
// containers, absent on some hosts).
//
// Linux (posix/reaper.cpp). Windows (windows/reaper.cpp) has no orphans to
// sweep: a child's Job Object holds everything it starts, and ending the
// child ends its job (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE when the child
// object goes). There start() gives a subreaper that sweeps nothing (ended()
// stays 0, `on_ended` is never called), and the tracking calls do nothing.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "spawner/platform.hpp"

namespace cgihost::spawner {

class subreaper {
 public:
  // Told about each inherited process ended: its pid and name (comm).
  using report = std::function<void(process_id, const std::string&)>;

  // Makes this process a child subreaper and starts the sweeping thread;
  // the one running already when there is one (it keeps its `on_ended`).
  // nullptr and `error` when the kernel refuses.
  static std::shared_ptr<subreaper> start(std::string& error, report on_ended = {});

  // Stops the thread, ends every process inherited until then, and clears
  // PR_SET_CHILD_SUBREAPER.
  ~subreaper();
  subreaper(const subreaper&) = delete;
  subreaper& operator=(const subreaper&) = delete;

  // Ends every inherited process now (bounded rounds), on the calling thread.
  void sweep_now();
  // How many inherited processes were ended so far.
  std::uint64_t ended() const;

 private:
  struct impl;
  explicit subreaper(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// Held from before a child is created until track_started() has declared
// it: no sweep lists children meanwhile, so a child not yet declared is never
// taken for an inherited one. Any number of threads may hold it at once; a
// sweep that waits goes before later holders (a steady stream of launches
// cannot starve it). launch() holds it itself.
class sweep_hold {
 public:
  sweep_hold();
  ~sweep_hold();
  sweep_hold(const sweep_hold&) = delete;
  sweep_hold& operator=(const sweep_hold&) = delete;
};
[[nodiscard]] inline sweep_hold hold_sweeps() { return sweep_hold{}; }

// `pid` is a child this process started (and watches it when a subreaper runs).
void track_started(process_id pid);
// `pid`, declared with track_started, was reaped by its owner.
void track_reaped(process_id pid);

// For a process whose children are each reaped by their owner as soon as they
// exit (the spawn broker, which polls their pidfds): the subreaper then sweeps
// when an owner reports a reap (track_reaped) instead of watching every child
// with a pidfd of its own: one wake-up per child instead of two. Call before
// the subreaper starts.
void exits_reported_by_owners();

// In a process just forked from one that used these (the spawn broker):
// forgets the parent's children and locks, which were the parent's.
void reset_tracking_after_fork();

}  // namespace cgihost::spawner
