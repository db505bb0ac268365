#pragma once
// CGI children that go on working once their response is complete (a form
// mailer that closes stdout, then sends its mail): as under Apache and
// fcgiwrap, they run to their own end within their timeout, apart from the
// exchange and the connection, which go on. Each is still counted under
// [cgi] max_children until it is reaped, its stderr is still logged, it is
// ended at its deadline; a graceful stop waits for them, then ends them.

#include <spdlog/logger.h>

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "host/gateway/gateway.hpp"
#include "host/gateway/request_board.hpp"
#include "host/gateway/stderr_lines.hpp"
#include "spawner/child.hpp"

namespace cgihost::host {

class after_response : public std::enable_shared_from_this<after_response> {
 public:
  using clock = std::chrono::steady_clock;

  // What of a CGI run outlives its exchange: nothing here refers to it.
  struct leftover {
    std::unique_ptr<spawner::child> child;  // still running; its stdout at its end
    std::shared_ptr<run_limit> limit;       // holds one place, given back once reaped
    spdlog::logger* log = nullptr;          // the server's error log (outlives the io threads)
    std::string rid;
    std::string script;
    clock::time_point answered;  // when the response was complete
    clock::time_point deadline;  // the request's timeout
    stderr_lines lines;          // an unfinished stderr line, continued
    std::size_t stderr_count = 0;
    std::size_t stderr_max = 0;  // lines logged per request, then counted
    std::chrono::milliseconds stop_grace = std::chrono::seconds(2);  // TERM -> KILL
    bool ignore_stderr = false;        // stderr_mode = "ignore": read, not logged
    std::shared_ptr<cgi_board> board;  // kept alive for `shown`
    request_board::entry shown;        // on board->running until it is reaped
  };

  // Runs `c` to its end on `ex` (the io thread of the exchange it came
  // from): its exit awaited until its deadline (then TERM, KILL after its
  // stop_grace, to its whole group), its stderr read and logged, one line when it
  // ends; its place under max_children given back once it is reaped.
  void adopt(const asio::any_io_executor& ex, leftover c);

  // Graceful stop: each child gets `grace` to end by itself (or less, when
  // its deadline is nearer), then is ended; `done` runs once all are reaped
  // (at once when there are none). Thread-safe.
  void stop(std::chrono::milliseconds grace, std::function<void()> done);
  // The io threads no longer run: `done` is not called (a child left is
  // killed and reaped when its coroutine is destroyed with its context).
  void kill_now();

  // Children running after their response, now.
  std::size_t running() const;

 private:
  struct entry;
  static asio::awaitable<void> run_to_end(std::shared_ptr<after_response> self,
                                          std::shared_ptr<entry> e);
  static asio::awaitable<void> wait_for_end(entry& e);
  static asio::awaitable<void> read_stderr(entry& e);
  void ended(std::uint64_t id);

  mutable std::mutex mu_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, std::pair<asio::any_io_executor, std::weak_ptr<entry>>> running_;
  std::function<void()> on_stopped_;
  bool stopping_ = false;
  clock::time_point stop_by_{};
};

}  // namespace cgihost::host
