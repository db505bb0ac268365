// Any header value: parse_http_date never misbehaves, and whatever it accepts
// formats back to a date it accepts as the same instant.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/http_date.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto t = cgihost::protocol::parse_http_date(in);
  if (!t) return 0;
  auto back = cgihost::protocol::parse_http_date(cgihost::protocol::format_http_date(*t));
  if (!back || *back != *t) std::abort();
  return 0;
}
