// Any Authorization value: parse_basic_authorization never misbehaves,
// credentials it accepts hold no control character (RFC 7617 §2) and encode
// back to a value it reads the same.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/basic_auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cgihost::protocol;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = parse_basic_authorization(in);
  if (r.credentials) {
    for (char c : r.credentials->user + r.credentials->password)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
    auto again = parse_basic_authorization(
        "Basic " + base64_encode(r.credentials->user + ":" + r.credentials->password));
    if (!again.credentials || again.credentials->user != r.credentials->user ||
        again.credentials->password != r.credentials->password)
      std::abort();
  }
  if (auto d = base64_decode(in)) {
    if (base64_encode(*d) != in) std::abort();  // only canonical base64 is accepted
  }
  return 0;
}
