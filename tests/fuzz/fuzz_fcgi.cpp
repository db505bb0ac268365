// Any bytes from a FastCGI peer, on either side: typed errors only, and the
// same events whether the bytes come whole or in pieces. Built twice:
// FUZZ_RESPONDER picks the responder side, otherwise the client side.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/fcgi.hpp"

namespace fcgi = cgihost::protocol::fcgi;

namespace {

#ifdef FUZZ_RESPONDER
using decoder = fcgi::responder_decoder;
using event = fcgi::server_event;
std::string summary(const event& e) {
  std::string s =
      std::to_string(static_cast<int>(e.what)) + ":" + std::to_string(e.request_id) + ":";
  s += e.data;
  for (const auto& [n, v] : e.params) s += n + "=" + v + ";";
  for (const auto& n : e.names) s += n + ";";
  return s;
}
void prepare(decoder&) {}
#else
using decoder = fcgi::client_decoder;
using event = fcgi::client_event;
std::string summary(const event& e) {
  std::string s = std::to_string(static_cast<int>(e.what)) + ":" + std::to_string(e.request_id) +
                  ":" + std::to_string(e.app_status) + ":";
  s += e.data;
  for (const auto& [n, v] : e.values) s += n + "=" + v + ";";
  return s;
}
void prepare(decoder& d) {
  d.begin(1);
  d.begin(2);
}
#endif

// Data events are merged: the split of stream bytes into events may differ.
std::vector<std::string> run(std::string_view in, std::size_t step, std::error_code& ec) {
  decoder d(fcgi::limits{4096, 8192});
  prepare(d);
  std::vector<std::string> out;
  std::string stream;
  for (std::size_t pos = 0; pos < in.size() && !ec; pos += step) {
    std::string piece(in.substr(pos, step));
    std::string_view rest = piece;
    while (!rest.empty() && !ec) {
      event ev;
      std::size_t n = d.feed(rest, ev, ec);
      if (n > rest.size() || (n == 0 && !ec)) std::abort();
      rest.remove_prefix(n);
      if (ev.what == event::kind::none) continue;
      if (!ev.data.empty()) {
        stream += std::to_string(ev.request_id) + ":" + std::string(ev.data);
      } else {
        out.push_back(stream);
        stream.clear();
        out.push_back(summary(ev));
      }
    }
  }
  out.push_back(stream);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::error_code ec_whole, ec_split;
  auto whole = run(in, in.size() ? in.size() : 1, ec_whole);
  auto split = run(in, size ? 1 + data[0] % 13 : 1, ec_split);
  if (ec_whole != ec_split) std::abort();
  if (!ec_whole && whole != split) std::abort();
  return 0;
}
