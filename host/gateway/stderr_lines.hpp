#pragma once
// An application's stderr (or any text stream it writes outside the
// protocol), cut into lines for the log: the one splitter of the CGI child's
// stderr, FastCGI STDERR records and a pool instance's own pipes. Pure: each
// site keeps its own limits, counts and log format.

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace cgihost::host {

class stderr_lines {
 public:
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  // `bound`: an unfinished line that has reached this many bytes (after a
  // feed) is handed on as a cut piece rather than held without bound.
  explicit stderr_lines(std::size_t bound = unbounded) : bound_(bound) {}

  // Appends `bytes`; calls `on_line(line, cut)` for each line they complete
  // (without its '\n'; a '\r' before it is kept), then once with cut = true
  // for what is left of an unfinished line that reached the bound. `line`
  // is valid only during the call.
  template <class F>
  void feed(std::string_view bytes, F&& on_line) {
    partial_.append(bytes);
    std::size_t start = 0, nl;
    while ((nl = partial_.find('\n', start)) != std::string::npos) {
      on_line(std::string_view(partial_).substr(start, nl - start), false);
      start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() >= bound_) {
      on_line(std::string_view(partial_), true);
      partial_.clear();
    }
  }

  // The unfinished last line (empty when the stream ended with '\n'); the
  // splitter is empty afterwards.
  std::string take_rest() {
    std::string rest;
    rest.swap(partial_);
    return rest;
  }

  bool empty() const noexcept { return partial_.empty(); }

 private:
  std::size_t bound_;
  std::string partial_;
};

}  // namespace cgihost::host
