#pragma once
// The requests a gateway runs now, as the status page's ?full lists them: per
// pool the request of each busy instance; for CGI the running children and
// the requests waiting for room under [cgi] max_children. An entry is on its
// board from post() until take_down() or its destruction, so every end of a
// request (error, cancel, a coroutine destroyed) takes it down; a phase change
// is one relaxed atomic store. Thread-safe: entries come and go on io
// threads while the status page reads the board on another.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/dispatch/logging.hpp"
#include "spawner/platform.hpp"

namespace cgihost::host {

// What a request is doing now, in the words of slow_request_log and
// activity_timeout (phase_name).
enum class run_phase : std::uint8_t {
  connecting,        // FastCGI: a connection to the instance is being made
  sending_body,      // the request body is still going to the program
  waiting_for_head,  // the response head has not gone out yet
  streaming_body,    // the head went out; the body is being relayed
  waiting_for_exit,  // CGI: its output ended, its exit is awaited
  after_response,    // CGI: it runs on after its complete response
  waiting_for_room,  // CGI: it waits for room under max_children
};

// "connecting", "sending the body", "waiting for the head", "streaming the
// body", "waiting for its exit", "running after its response", "waiting for
// max_children".
const char* phase_name(run_phase p);

// The phase of a running exchange, from the facts its module keeps: its
// output ended (CGI), the response head went out, the body is still being sent.
run_phase phase_of(bool sending_body, bool head_sent, bool output_ended = false);

// What an entry shows of its request. `method` and `uri` view bytes that
// must outlive the entry's time on its board (the exchange's request head),
// unless the entry copies them (own_strings).
struct request_facts {
  request_id rid;
  std::string_view method;
  std::string_view uri;
  std::string account;           // the account the program runs as; empty: unknown
  spawner::process_id pid = -1;  // the program's; -1: none (a remote server, a waiting request)
  std::uint64_t slot = 0;        // a pool's instance number; 0 for CGI
  std::chrono::steady_clock::time_point since;  // when the request came
};

class request_board {
 public:
  using clock = std::chrono::steady_clock;

  // One line of the page: the facts copied, and the time and phase now.
  struct row {
    std::uint64_t slot = 0;
    std::string rid, method, uri, account;
    spawner::process_id pid = -1;
    std::int64_t elapsed_ms = 0;
    run_phase phase = run_phase::waiting_for_head;
  };

  // One request's place on a board. Not thread-safe itself: its owner (one
  // io thread at a time) posts, moves, changes and takes it down.
  class entry {
   public:
    entry() = default;
    // Takes `other`'s place on its board (an after_response child keeps it);
    // `other` is then on none.
    entry(entry&& other) noexcept { take_place_of(other); }
    // Off its own board, then as the move constructor.
    entry& operator=(entry&& other) noexcept {
      if (this != &other) {
        take_down();
        take_place_of(other);
      }
      return *this;
    }
    entry(const entry&) = delete;
    ~entry() { take_down(); }

    // Puts the request on `board` (nothing when null; taken down first when
    // already on one), in phase `phase`.
    void post(request_board* board, request_facts facts, run_phase phase);
    // Off its board; nothing when not on one.
    void take_down() noexcept;
    bool posted() const noexcept { return board_ != nullptr; }
    void set_phase(run_phase p) noexcept {
      if (p == seen_) return;
      seen_ = p;
      phase_.store(p, std::memory_order_relaxed);
    }
    // Copies method and uri into the entry, which may then outlive what they viewed.
    void own_strings();

   private:
    friend class request_board;
    void take_place_of(entry& other) noexcept;

    request_board* board_ = nullptr;
    entry* prev_ = nullptr;
    entry* next_ = nullptr;
    request_facts facts_;
    std::string owned_;  // method + uri, once own_strings() copied them
    std::atomic<run_phase> phase_{run_phase::waiting_for_head};
    run_phase seen_ = run_phase::waiting_for_head;  // the owner's copy: no atomic store unchanged
  };

  request_board() = default;
  request_board(const request_board&) = delete;
  request_board& operator=(const request_board&) = delete;
  // Entries still on it are taken off (their owners outlive it only at exit).
  ~request_board();

  // Every entry now, in the order they were posted.
  std::vector<row> rows() const;
  std::size_t size() const;

 private:
  void link_locked(entry& e);
  void unlink_locked(entry& e);

  mutable std::mutex mu_;
  entry* first_ = nullptr;
  entry* last_ = nullptr;
  std::size_t count_ = 0;
};

// CGI's boards, made once and kept across reloads with the children they
// list (a reload may keep or replace max_children's run_limit; the children
// of the config it replaced are listed as long as they run).
struct cgi_board {
  request_board running;  // children started and not reaped yet (after their response too)
  request_board waiting;  // requests waiting for room under max_children
};

}  // namespace cgihost::host
