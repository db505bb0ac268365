#pragma once
// What an HTTP session needs of the program that accepted it: the config,
// the logs, the dispatch, and whether the program is stopping.
// Implemented by host/app's server; a test may implement it alone.

#include <cstdint>

#include "config/config.hpp"
#include "host/dispatch/dispatch.hpp"
#include "host/dispatch/error_pages.hpp"
#include "host/dispatch/logging.hpp"

namespace cgihost::host {

class session_host {
 public:
  virtual const config::config& settings() const = 0;
  virtual const logs& log() const = 0;
  // The pages of [errors], read at start-up (error_pages::load).
  virtual const error_pages& custom_error_pages() const = 0;
  // The one dispatch requests go through.
  virtual dispatcher& dispatch() = 0;
  // True once a graceful stop began: no new request is read.
  virtual bool stopping() const = 0;
  // The session `id` ended (called from its destructor, on any thread).
  virtual void session_ended(std::uint64_t id) = 0;

 protected:
  ~session_host() = default;
};

}  // namespace cgihost::host
