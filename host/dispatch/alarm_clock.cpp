#include "host/dispatch/alarm_clock.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace cgihost::host {

// One per io_context (an Asio service): the list of set alarms, unsorted,
// and the timer, waiting for the earliest of them.
class alarm_clock final : public asio::execution_context::service {
 public:
  using key_type = alarm_clock;
  using clock = alarm::clock;
  static inline asio::execution_context::id id;

  explicit alarm_clock(asio::execution_context& ctx)
      : service(ctx),
        ctx_(static_cast<asio::io_context&>(ctx).get_executor()),
        timer_(static_cast<asio::io_context&>(ctx)) {}

  void link(alarm& a) {
    a.prev_ = nullptr;
    a.next_ = head_;
    if (head_) head_->prev_ = &a;
    head_ = &a;
    a.linked_ = true;
  }

  void unlink(alarm& a) {
    if (a.prev_) a.prev_->next_ = a.next_;
    if (a.next_) a.next_->prev_ = a.prev_;
    if (head_ == &a) head_ = a.next_;
    a.prev_ = a.next_ = nullptr;
    a.linked_ = false;
  }

  // An alarm set for `at`: the timer waits for it when it is the earliest.
  void wants(clock::time_point at) {
    if (waiting_ && waiting_for_ <= at) return;
    wait_for(at);
  }

 private:
  void shutdown() override {
    while (head_) unlink(*head_);
    timer_.cancel();
    waiting_ = false;
  }

  void wait_for(clock::time_point at) {
    waiting_ = true;
    waiting_for_ = at;
    timer_.expires_at(at);  // cancels the wait for a later time, if any
    timer_.async_wait([this, at](const boost::system::error_code& ec) {
      ctx_.on_work_started();  // what the scheduler takes back when this handler ends
      if (ec || !waiting_ || waiting_for_ != at) return;  // replaced by an earlier wait
      waiting_ = false;
      ring_due();
    });
    // The clock's wait is not work of its own: an io_context with nothing
    // else to do returns from run() (a stop) instead of waiting for a time
    // that every cleared alarm has given up. (Clearing never touches the
    // timer: under load it stays armed, and a set costs no timer operation.)
    ctx_.on_work_finished();
  }

  // Rings each alarm whose time came, one at a time (a ring may set or clear
  // others), then waits for the earliest left.
  void ring_due() {
    const auto now = clock::now();
    while (alarm* a = first_due(now)) {
      unlink(*a);
      a->ring_();
    }
    auto next = clock::time_point::max();
    for (alarm* a = head_; a; a = a->next_) next = std::min(next, a->at_);
    if (next != clock::time_point::max()) wants(next);
  }

  alarm* first_due(clock::time_point now) const {
    for (alarm* a = head_; a; a = a->next_)
      if (a->at_ <= now) return a;
    return nullptr;
  }

  asio::io_context::executor_type ctx_;
  asio::steady_timer timer_;
  alarm* head_ = nullptr;
  bool waiting_ = false;
  clock::time_point waiting_for_{};
};

alarm::alarm(const asio::any_io_executor& ex, std::function<void()> ring)
    : clock_(&asio::use_service<alarm_clock>(asio::query(ex, asio::execution::context))),
      ring_(std::move(ring)) {}

void alarm::set(clock::time_point at) {
  at_ = at;
  if (!linked_) clock_->link(*this);
  clock_->wants(at);
}

void alarm::clear() {
  if (linked_) clock_->unlink(*this);
}

}  // namespace cgihost::host
