#include "host/fastcgi/pool_family.hpp"

#include <boost/asio/post.hpp>

#include "host/fastcgi/fastcgi_pool.hpp"

namespace cgihost::host {

pool_family::pool_family(const config::pool& settings, asio::any_io_executor ex,
                         std::shared_ptr<spdlog::logger> log, std::string document_root,
                         std::vector<std::pair<std::string, std::string>> base_env,
                         spawner::broker* broker)
    : settings_(settings),
      ex_(std::move(ex)),
      log_(std::move(log)),
      document_root_(std::move(document_root)),
      base_env_(std::move(base_env)),
      broker_(broker) {}

std::shared_ptr<fastcgi_pool> pool_family::for_account(const spawner::identity& as) {
  std::lock_guard lock(mu_);
  if (stopped_) return nullptr;
  auto& p = by_account_[as.sid.empty() ? std::to_string(as.uid.value) : as.sid];
  if (!p) {
    // No min_instances here: every start shares the family's max_instances.
    p = fastcgi_pool::create(settings_, ex_, log_, as, document_root_, base_env_, broker_,
                             /*in_family=*/true);
    p->join_family(weak_from_this());
    if (retired_) p->retire();
    log_->info("[pool {}] {}a pool of instances running as {}", settings_.name,
               settings_.impersonate ? "impersonate: " : "", as.describe());
  }
  return p;
}

std::vector<std::shared_ptr<fastcgi_pool>> pool_family::pools() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<fastcgi_pool>> v;
  for (auto& [account, p] : by_account_) v.push_back(p);
  return v;
}

void pool_family::stop(std::function<void()> done) {
  std::vector<std::shared_ptr<fastcgi_pool>> all;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (auto& [account, p] : by_account_) all.push_back(p);
  }
  stop_all(all, std::move(done));
}

void pool_family::served(const fastcgi_pool* pool) {
  std::lock_guard lock(mu_);
  waiting_.erase(pool);
}

bool pool_family::take() {
  auto n = live_.load();
  while (n < settings_.max_instances)
    if (live_.compare_exchange_weak(n, n + 1)) return true;
  return false;
}

void pool_family::give() {
  live_.fetch_sub(1);
  // Posted: the caller holds its pool's lock, and every pool's lock is taken here.
  asio::post(ex_, [self = shared_from_this()] {
    for (auto& p : self->pools()) p->poke();
  });
}

bool pool_family::should_yield(const fastcgi_pool* pool, std::size_t its_instances) {
  std::lock_guard lock(mu_);
  // Someone else waits for room (a deferred spawn not yet served)...
  bool others_wait = false;
  for (const auto* w : waiting_) others_wait = others_wait || w != pool;
  if (!others_wait) return false;
  // ...and this account holds more than an even share of the room.
  const std::size_t share =
      std::max<std::size_t>(1, settings_.max_instances / (waiting_.size() + 1));
  return its_instances > share || its_instances >= settings_.max_instances;
}

void pool_family::make_room(const fastcgi_pool* asking) {
  {
    std::lock_guard lock(mu_);
    waiting_.insert(asking);
  }
  asio::post(ex_, [self = shared_from_this(), asking] {
    for (auto& p : self->pools())
      if (p.get() != asking && p->end_one_idle()) return;
  });
}

void pool_family::retire() {
  {
    std::lock_guard lock(mu_);
    retired_ = true;
  }
  for (auto& p : pools()) p->retire();
}

bool pool_family::done_retiring() {
  for (auto& p : pools())
    if (!p->done_retiring()) return false;
  return true;
}

void pool_family::kill_now() {
  for (auto& p : pools()) p->kill_now();
}

}  // namespace cgihost::host
