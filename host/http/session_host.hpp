#pragma once
// What an HTTP session needs of the program that accepted it: the config,
// the logs, the dispatch, and whether the program is stopping.
// Implemented by host/app's server; a test may implement it alone.

#include <chrono>
#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/error_pages.hpp"
#include "host/dispatch/logging.hpp"

namespace cgihost::host {

// One config as requests see it, with what was built from it: the pages of
// [errors] (error_pages::load) and the dispatch requests go through. A
// reload makes a new one; each request holds the one it began under until
// it ends, so it finishes under the config it started with.
struct served {
  const config::config& settings;
  const error_pages& pages;
  dispatcher& dispatch;
};

// At a graceful stop, a connection accepted before it that has not sent
// its first request yet gets this long for it (then it is served and
// closed): a client that just connected, or one that was waiting in the
// listen backlog of a restart under socket activation, is not cut off. A
// connection that already served a request and idles is closed at once.
inline constexpr std::chrono::seconds kFirstRequestAtStop{1};

class session_host {
 public:
  // What a request beginning now is served with.
  virtual std::shared_ptr<const served> current() const = 0;
  virtual const logs& log() const = 0;
  // True once a graceful stop began: no new request is read (but the first
  // of a new connection, kFirstRequestAtStop).
  virtual bool stopping() const = 0;
  // The session `id` ended (called from its destructor, on any thread).
  virtual void session_ended(std::uint64_t id) = 0;

 protected:
  ~session_host() = default;
};

}  // namespace cgihost::host
