// Micro-benchmarks of the protocol parsers, in bytes per second, so later
// changes can be compared on one machine:
//   build/tests/bench/protocol_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <string>

#include "protocol/cgi_env.hpp"
#include "protocol/cgi_response.hpp"
#include "protocol/fcgi.hpp"

namespace {
using namespace cgihost::protocol;

const std::string kHead =
    "Status: 200 OK\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "X-Powered-By: PHP/8.2\r\n"
    "Set-Cookie: PHPSESSID=0123456789abcdef; path=/\r\n"
    "Cache-Control: no-store, no-cache, must-revalidate\r\n"
    "Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n"
    "\r\n";

// A typical 6-header CGI head, parsed whole.
void BM_ResponseHead(benchmark::State& state) {
  for (auto _ : state) {
    cgi::response_parser p;
    benchmark::DoNotOptimize(p.feed(kHead));
    if (p.current() != cgi::response_parser::state::head) state.SkipWithError("not parsed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kHead.size()));
}
BENCHMARK(BM_ResponseHead);

// Body pass-through: once the head is done, the parser does not touch body
// bytes; each 64 KiB piece costs a feed call and a Content-Length check. The
// figure is that overhead spread over the bytes, not a copy rate.
void BM_ResponseBodyPassThrough(benchmark::State& state) {
  const std::string piece(64 * 1024, 'b');
  for (auto _ : state) {
    cgi::response_parser p;
    p.feed(kHead);
    cgi::body_limiter limit(std::nullopt);
    std::size_t passed = 0;
    for (int i = 0; i < 256; ++i) {  // 16 MiB
      std::size_t used = p.feed(piece);
      passed += limit.accept(piece.size() - used);
    }
    benchmark::DoNotOptimize(passed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 256 * piece.size()));
}
BENCHMARK(BM_ResponseBodyPassThrough);

// STDOUT records from an application, decoded, fed in reads of the given
// size. Data of a record whole in one read is handed on in place (no copy);
// records split across reads are gathered, which the 16 KiB case measures.
void BM_FcgiClientDecode(benchmark::State& state) {
  std::string bytes;
  fcgi::append_stream(bytes, fcgi::record_type::stdout_stream, 1,
                      std::string(4 * 1024 * 1024, 'o'));
  fcgi::append_end_request(bytes, 1, 0, fcgi::protocol_status::request_complete);
  const std::size_t read_size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    fcgi::client_decoder d;
    d.begin(1);
    std::string_view rest = bytes;
    std::size_t out = 0;
    while (!rest.empty()) {
      std::string_view piece = rest.substr(0, read_size);
      rest.remove_prefix(piece.size());
      while (!piece.empty()) {
        fcgi::client_event ev;
        std::error_code ec;
        std::size_t n = d.feed(piece, ev, ec);
        out += ev.data.size();
        piece.remove_prefix(n);
      }
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_FcgiClientDecode)->Arg(16 * 1024)->Arg(256 * 1024);

// The PARAMS a php-cgi request carries, encoded.
void BM_BuildEnvAndParams(benchmark::State& state) {
  cgi::request_view r;
  r.method = "GET";
  r.target = "/index.php?page=1";
  r.query = "page=1";
  r.headers = {{"Host", "example.com"},
               {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"},
               {"Accept", "text/html,application/xhtml+xml"},
               {"Accept-Language", "en-US,en;q=0.5"},
               {"Accept-Encoding", "gzip, deflate"},
               {"Cookie", "PHPSESSID=0123456789abcdef"},
               {"Connection", "keep-alive"}};
  r.peer_address = "127.0.0.1";
  r.local_address = "127.0.0.1";
  r.script_name = "/index.php";
  r.script_filename = "/srv/site/index.php";
  r.document_root = "/srv/site";
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string out;
    fcgi::append_params(out, 1, cgi::build_env(r));
    bytes += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_BuildEnvAndParams);

}  // namespace

BENCHMARK_MAIN();
