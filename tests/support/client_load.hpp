#pragma once
// Client loops against a server under test (a reload, a restart): each
// client thread runs until told to stop or until its time bound, counting
// answers and failures (the first few kept for the message) and the pids of
// the instances that answered.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cgihost::test {

struct client_load {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> failed{0};

  void fail(const std::string& what) {
    failed.fetch_add(1);
    std::lock_guard lock(mu_);
    if (failures_.size() < 10) failures_.push_back(what);
  }
  // An answer; `pid` (when not 0) is the instance that gave it.
  void answered(int pid = 0) {
    ok.fetch_add(1);
    if (pid == 0) return;
    std::lock_guard lock(mu_);
    pids_.insert(pid);
  }
  std::set<int> pids() {
    std::lock_guard lock(mu_);
    return pids_;
  }
  std::string first_failure() {
    std::lock_guard lock(mu_);
    return failures_.empty() ? std::string() : failures_.front();
  }
  // True once `n` more answers came (at most 10 s).
  bool more(std::uint64_t n) const {
    const auto from = ok.load();
    for (int i = 0; i < 1000 && ok.load() < from + n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ok.load() >= from + n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::set<int> pids_;
};

// The client threads: stopped and joined however the test ends.
class client_threads {
 public:
  explicit client_threads(client_load& l) : l_(l) {}
  client_threads(const client_threads&) = delete;
  client_threads& operator=(const client_threads&) = delete;
  ~client_threads() { join(); }
  template <class F, class... Args>
  void start(F&& f, Args&&... args) {
    threads_.emplace_back(std::forward<F>(f), std::ref(l_), std::forward<Args>(args)...);
  }
  void join() {
    l_.stop = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  client_load& l_;
  std::vector<std::thread> threads_;
};

}  // namespace cgihost::test
