// Any request target: normalize_target either refuses it or returns a path
// that cannot leave the document root.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/uri_path.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = cgihost::protocol::normalize_target(in);
  if (!r) return 0;
  const std::string& p = r->path;
  bool bad = p.empty() || p.front() != '/' || p.find('\0') != std::string::npos ||
             p.find("//") != std::string::npos || p.find("/../") != std::string::npos ||
             p.find("/./") != std::string::npos || p.ends_with("/..") || p.ends_with("/.") ||
             p.find('\\') != std::string::npos;
  if (bad) std::abort();
  // Normalizing a normalized path changes nothing (unless decoding made
  // characters that mean something in a target: '%', '?', '#').
  if (p.find_first_of("%?#") == std::string::npos) {
    auto again = cgihost::protocol::normalize_target(p);
    if (!again || again->path != p) std::abort();
  }
  return 0;
}
