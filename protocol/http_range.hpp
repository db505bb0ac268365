#pragma once
// Byte ranges of a static representation (RFC 9110 §14): the Range header of
// a GET, as one range or none. Pure.

#include <cstdint>
#include <string_view>

namespace cgihost::protocol {

struct range_answer {
  enum class kind {
    whole,          // no usable single range (absent, not "bytes", invalid, several): 200
    part,           // 206 with bytes first..last (inclusive) of the size
    unsatisfiable,  // 416 with Content-Range: bytes */size
  };
  kind what = kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const noexcept { return last - first + 1; }
};

// The answer to `range` (the Range header's value) for a representation of
// `size` bytes: "bytes=a-b", "bytes=a-" and the suffix "bytes=-n", with an end
// past the size cut to it. A header that is invalid (RFC 9110 §14.2 lets a
// server ignore it), or names several ranges (answered whole, as a server
// may), gives `whole`.
[[nodiscard]] range_answer answer_range(std::string_view range, std::uint64_t size);

}  // namespace cgihost::protocol
