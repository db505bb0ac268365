// The HTTP front end's request path without sockets: bytes as a client sends
// them, through host::request_reader (Beast's parser with our field checks,
// the bounded read buffer, check_head) and the target normalization, to the
// answer the session would give: a status or "served", request after
// pipelined request, bodies and trailers read through.
//
// Input: byte 0 picks the [http] limits (the defaults, the largest a config
// may set, or tiny ones), byte 1 the size of the pieces the bytes arrive in
// and of the body reads; the rest is the connection's bytes. Never a crash,
// an exception or a buffer past its bound; the answers do not depend on how
// the bytes were split (compared with the bytes in one piece).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "host/http/http_request.hpp"
#include "protocol/uri_path.hpp"

namespace {
using cgihost::host::request_reader;
using step = request_reader::step;

cgihost::config::http_settings limits_for(std::uint8_t pick) {
  cgihost::config::http_settings h;  // the defaults of a config
  switch (pick % 3) {
    case 1:
      h.max_request_line = cgihost::config::http_settings::kMaxRequestLineCap;
      h.max_header_bytes = cgihost::config::http_settings::kMaxHeaderBytesCap;
      h.max_header_count = 10'000;
      break;
    case 2:
      h.max_request_line = 64;
      h.max_header_bytes = 256;
      h.max_header_count = 3;
      h.max_body_size = 100;
      break;
    default:
      break;
  }
  return h;
}

// The answers to the requests on one connection: a status per request
// (0: served) and the body bytes read.
struct answers {
  std::vector<unsigned> statuses;
  std::string bodies;
  bool cut = false;  // the input ended inside a request
};

// Whether two runs over the same bytes answered alike. Beast finds an error
// in a head that came in pieces only once the whole head is there (its
// skip_ optimisation); so the last answer may differ when one run saw the
// input end first (400, incomplete), or the head limit first (414 or 431),
// and the other the error itself. Anything else must be identical.
bool same(const answers& a, const answers& b) {
  if (a.statuses.size() != b.statuses.size()) return false;
  if (a.statuses.empty()) return a.bodies == b.bodies;
  if (!std::equal(a.statuses.begin(), a.statuses.end() - 1, b.statuses.begin())) return false;
  const unsigned x = a.statuses.back(), y = b.statuses.back();
  if (x == y) return a.cut || b.cut || a.bodies == b.bodies;
  if (a.cut || b.cut) return true;
  auto head_size = [](unsigned s) { return s == 414 || s == 431; };
  return x != 0 && y != 0 && (head_size(x) || head_size(y));
}

answers serve(std::string_view in, std::size_t piece, std::size_t read_size,
              const cgihost::config::http_settings& limits) {
  request_reader reader(limits);
  answers out;
  std::size_t pos = 0;
  auto feed = [&]() {
    if (pos == in.size()) return false;
    auto room = reader.prepare();
    if (room.size() == 0) std::abort();  // need_more with no room: the loop would spin
    std::size_t n = std::min({piece, room.size(), in.size() - pos});
    std::memcpy(room.data(), in.data() + pos, n);
    reader.commit(n);
    pos += n;
    if (reader.buffered() > reader.max_buffer()) std::abort();
    return true;
  };
  auto refused = [&](step s) {
    if (s != step::refused) std::abort();
    unsigned status = static_cast<unsigned>(reader.why().status);
    if (status != 400 && status != 413 && status != 414 && status != 431 && status != 501 &&
        status != 505)
      std::abort();
    if (reader.why().reason.empty()) std::abort();
    out.statuses.push_back(status);
    return out;
  };
  std::vector<char> buf(read_size);
  // A connection's requests until it ends: no request, a refusal, or its input.
  while (pos < in.size() || reader.buffered() > 0) {
    reader.start();
    step s = reader.parse_head();
    while (s == step::need_more) {
      if (!feed()) {
        if (!reader.parser().got_some()) return out;  // the client left between requests
        out.cut = true;
        return refused(reader.end_of_input());
      }
      s = reader.parse_head();
    }
    if (s != step::ready) return refused(s);
    const auto& req = reader.parser().get();
    std::size_t fields = 0;
    for (const auto& f : req) {
      ++fields;
      if (f.value().find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        std::abort();
    }
    if (fields > limits.max_header_count) std::abort();
    if (!cgihost::host::valid_host(req[cgihost::host::http::field::host])) std::abort();
    // The session refuses a target it cannot normalize with a 400 and closes.
    if (!cgihost::protocol::normalize_target(req.target())) {
      out.statuses.push_back(400);
      return out;
    }
    std::uint64_t body = 0;
    while (true) {
      std::size_t got = 0;
      s = reader.parse_body(buf.data(), buf.size(), got);
      if (s == step::refused) return refused(s);
      if (got > buf.size()) std::abort();
      if (s == step::ready && got == 0) break;
      if (s == step::ready) {
        out.bodies.append(buf.data(), got);
        body += got;
        continue;
      }
      if (!feed()) {
        out.cut = true;
        return refused(reader.end_of_input());
      }
    }
    if (body > limits.max_body_size) std::abort();
    // Trailers are counted, never merged into the request.
    std::size_t after = 0;
    for (const auto& f : req) {
      (void)f;
      ++after;
    }
    if (after != fields) std::abort();
    out.statuses.push_back(0);
    if (!reader.parser().keep_alive()) return out;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto limits = limits_for(data[0]);
  const std::size_t piece = 1 + data[1] % 64;
  const std::size_t read_size = 1 + (data[1] >> 3);
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  answers split = serve(in, piece, read_size, limits);
  answers whole = serve(in, in.size() ? in.size() : 1, 1 << 16, limits);
  if (!same(split, whole)) std::abort();
  return 0;
}
