#include "host/gateway/request_board.hpp"

namespace cgihost::host {

const char* phase_name(run_phase p) {
  switch (p) {
    case run_phase::connecting:
      return "connecting";
    case run_phase::sending_body:
      return "sending the body";
    case run_phase::waiting_for_head:
      return "waiting for the head";
    case run_phase::streaming_body:
      return "streaming the body";
    case run_phase::waiting_for_exit:
      return "waiting for its exit";
    case run_phase::after_response:
      return "running after its response";
    case run_phase::waiting_for_room:
      return "waiting for max_children";
  }
  return "?";
}

run_phase phase_of(bool sending_body, bool head_sent, bool output_ended) {
  if (output_ended) return run_phase::waiting_for_exit;
  if (head_sent) return run_phase::streaming_body;
  return sending_body ? run_phase::sending_body : run_phase::waiting_for_head;
}

void request_board::entry::take_place_of(entry& other) noexcept {
  request_board* board = other.board_;
  std::unique_lock<std::mutex> lock;
  if (board) lock = std::unique_lock(board->mu_);
  facts_ = std::move(other.facts_);
  if (!other.owned_.empty()) {
    // The views point into other.owned_, which a move may not keep in place.
    owned_ = std::move(other.owned_);
    facts_.method = std::string_view(owned_).substr(0, facts_.method.size());
    facts_.uri = std::string_view(owned_).substr(facts_.method.size());
  } else {
    owned_.clear();
  }
  seen_ = other.seen_;
  phase_.store(other.phase_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  if (!board) return;
  // This entry takes other's links.
  board_ = board;
  prev_ = std::exchange(other.prev_, nullptr);
  next_ = std::exchange(other.next_, nullptr);
  (prev_ ? prev_->next_ : board->first_) = this;
  (next_ ? next_->prev_ : board->last_) = this;
  other.board_ = nullptr;
}

void request_board::entry::post(request_board* board, request_facts facts, run_phase phase) {
  take_down();
  facts_ = std::move(facts);
  owned_.clear();
  seen_ = phase;
  phase_.store(phase, std::memory_order_relaxed);
  if (!board) return;
  std::lock_guard lock(board->mu_);
  board_ = board;
  board->link_locked(*this);
}

void request_board::entry::take_down() noexcept {
  if (!board_) return;
  std::lock_guard lock(board_->mu_);
  board_->unlink_locked(*this);
  board_ = nullptr;
}

void request_board::entry::own_strings() {
  std::string copy;
  copy.reserve(facts_.method.size() + facts_.uri.size());
  copy.append(facts_.method).append(facts_.uri);
  const std::size_t m = facts_.method.size();
  std::unique_lock<std::mutex> lock;
  if (board_) lock = std::unique_lock(board_->mu_);
  owned_ = std::move(copy);
  facts_.method = std::string_view(owned_).substr(0, m);
  facts_.uri = std::string_view(owned_).substr(m);
}

request_board::~request_board() {
  std::lock_guard lock(mu_);
  while (first_) {
    entry* e = first_;
    unlink_locked(*e);
    e->board_ = nullptr;
  }
}

void request_board::link_locked(entry& e) {
  e.prev_ = last_;
  e.next_ = nullptr;
  (last_ ? last_->next_ : first_) = &e;
  last_ = &e;
  ++count_;
}

void request_board::unlink_locked(entry& e) {
  (e.prev_ ? e.prev_->next_ : first_) = e.next_;
  (e.next_ ? e.next_->prev_ : last_) = e.prev_;
  e.prev_ = e.next_ = nullptr;
  --count_;
}

std::vector<request_board::row> request_board::rows() const {
  std::vector<row> out;
  const auto now = clock::now();
  std::lock_guard lock(mu_);
  out.reserve(count_);
  for (const entry* e = first_; e; e = e->next_) {
    const auto& f = e->facts_;
    row r;
    r.slot = f.slot;
    r.rid = f.rid.str();
    r.method = f.method;
    r.uri = f.uri;
    r.account = f.account;
    r.pid = f.pid;
    r.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - f.since).count();
    if (r.elapsed_ms < 0) r.elapsed_ms = 0;
    r.phase = e->phase_.load(std::memory_order_relaxed);
    out.push_back(std::move(r));
  }
  return out;
}

std::size_t request_board::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace cgihost::host
