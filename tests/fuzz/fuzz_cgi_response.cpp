// Any child output: the strict parser never misbehaves, and its result does
// not depend on how the output is split (whole vs. the split chosen by the
// first byte, vs. one byte at a time for short inputs).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/cgi_response.hpp"

namespace {
using cgihost::protocol::cgi::response_parser;

struct outcome {
  response_parser::state state;
  unsigned status = 0;
  std::size_t headers = 0;
  std::uint64_t offset = 0;
  int code = 0;
  std::string body;
};

outcome run(std::string_view in, std::size_t step) {
  response_parser p({512, 20});
  outcome o;
  for (std::size_t pos = 0; pos < in.size(); pos += step) {
    std::string_view piece = in.substr(pos, step);
    std::size_t n = p.feed(piece);
    if (n > piece.size()) std::abort();
    if (p.current() == response_parser::state::head) o.body.append(piece.substr(n));
  }
  p.finish();
  o.state = p.current();
  if (o.state == response_parser::state::head) {
    o.status = p.head().status;
    o.headers = p.head().headers.size();
    if (o.status < 200 || o.status > 599) std::abort();  // never an interim (1xx) head
    for (const auto& [n, v] : p.head().headers)
      if (n.empty() || v.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        std::abort();
  } else {
    o.offset = p.error().offset;
    o.code = static_cast<int>(p.error().code);
    if (o.offset > in.size() || p.error().excerpt.size() > 83) std::abort();
  }
  return o;
}

bool same(const outcome& a, const outcome& b) {
  return a.state == b.state && a.status == b.status && a.headers == b.headers &&
         a.offset == b.offset && a.code == b.code && a.body == b.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  outcome whole = run(in, in.size() ? in.size() : 1);
  std::size_t step = size ? 1 + data[0] % 17 : 1;
  if (!same(whole, run(in, step))) std::abort();
  if (size < 256 && !same(whole, run(in, 1))) std::abort();
  return 0;
}
