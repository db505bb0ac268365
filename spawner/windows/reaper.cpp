// The subreaper on Windows: nothing to sweep, by design. A child's Job
// Object holds everything it starts, and ending the child (or destroying its
// child object: JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE) ends all of it; no
// process is ever re-parented to cgihost. See reaper.hpp.
#include "spawner/reaper.hpp"

#include <mutex>

namespace cgihost::spawner {

struct subreaper::impl {};

subreaper::subreaper(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
subreaper::~subreaper() = default;

std::shared_ptr<subreaper> subreaper::start(std::string& /*error*/, report /*on_ended*/) {
  // As on POSIX: the one there is, while there is one.
  static std::mutex mu;
  static std::weak_ptr<subreaper> running;
  std::lock_guard lock(mu);
  if (auto r = running.lock()) return r;
  auto r = std::shared_ptr<subreaper>(new subreaper(std::make_unique<impl>()));
  running = r;
  return r;
}

void subreaper::sweep_now() {}
std::uint64_t subreaper::ended() const { return 0; }

sweep_hold::sweep_hold() = default;
sweep_hold::~sweep_hold() = default;

void track_started(process_id) {}
void track_reaped(process_id) {}
void exits_reported_by_owners() {}
void reset_tracking_after_fork() {}

}  // namespace cgihost::spawner
