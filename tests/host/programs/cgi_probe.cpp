// A CGI program whose behaviour the test picks with QUERY_STRING (after
// lighttpd's fcgi-responder): mode=NAME, and for some modes n=NUMBER and
// pidfile=PATH (the probe writes its pid there first); ignore_term=1 makes it
// ignore SIGTERM (its children too). Plain POSIX I/O only.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

std::string param(const char* name) {
  const char* q = std::getenv("QUERY_STRING");
  if (!q) return "";
  std::string qs(q), key = std::string(name) + "=";
  std::size_t pos = 0;
  while (pos <= qs.size()) {
    std::size_t end = qs.find('&', pos);
    if (end == std::string::npos) end = qs.size();
    if (qs.compare(pos, key.size(), key) == 0)
      return qs.substr(pos + key.size(), end - pos - key.size());
    pos = end + 1;
  }
  return "";
}

void out(const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(1, s.data() + done, s.size() - done);
    if (n <= 0) std::_Exit(3);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

int main() {
  std::string mode = param("mode");
  long n = std::atol(param("n").c_str());
  if (param("ignore_term") == "1") ::signal(SIGTERM, SIG_IGN);
  if (std::string pidfile = param("pidfile"); !pidfile.empty()) {
    FILE* f = std::fopen(pidfile.c_str(), "w");
    if (f) {
      std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
      std::fclose(f);
    }
  }
  if (mode.empty() || mode == "tiny") {
    out("Content-Type: text/plain\r\n\r\nhello\n");
  } else if (mode == "status") {
    out("Status: 404 Not Here\r\nContent-Type: text/plain\r\n\r\nmissing\n");
  } else if (mode == "nocontent") {
    out("Status: 204\r\n\r\n");
  } else if (mode == "cookies") {
    out("Content-Type: text/plain\nSet-Cookie: a=1\nX-Between: y\nSet-Cookie: b=2\n\n");
  } else if (mode == "local") {
    out("Location: /cgi-bin/probe?mode=tiny\n\n");
  } else if (mode == "local_dotfile") {
    out("Location: /.env\n\n");
  } else if (mode == "loop") {
    out("Location: /cgi-bin/probe?mode=loop\n\n");
  } else if (mode == "client") {
    out("Location: http://example.com/there\n\n");
  } else if (mode == "nocolon") {
    out("Content-Type: text/plain\nthis is not a header\n\n");
  } else if (mode == "noblank") {
    out("Content-Type: text/plain\n");
  } else if (mode == "badstatus") {
    out("Status: 2000\nContent-Type: text/plain\n\n");
  } else if (mode == "notype") {
    out("X-Only: 1\n\nbody\n");
  } else if (mode == "silent") {
    // no output at all
  } else if (mode == "interim") {
    out("Status: 100 Continue\r\n\r\n");
  } else if (mode == "upgrade") {
    out("Status: 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  } else if (mode == "hints") {
    out("Status: 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Type: "
        "text/plain\r\n\r\nbody\n");
  } else if (mode == "fold") {
    out("Content-Type: text/plain\nX-Long: a\n  b\n\n");
  } else if (mode == "big") {
    // n MiB of a known pattern, with Content-Length.
    std::string chunk(1 << 20, '\0');
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>('a' + i % 26);
    out("Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(n << 20) +
        "\r\n\r\n");
    for (long i = 0; i < n; ++i) out(chunk);
  } else if (mode == "stream") {
    // n MiB without a length: chunked to HTTP/1.1 clients.
    std::string chunk(1 << 20, 'z');
    out("Content-Type: application/octet-stream\r\n\r\n");
    for (long i = 0; i < n; ++i) out(chunk);
  } else if (mode == "echo") {
    long len = std::atol(std::getenv("CONTENT_LENGTH") ? std::getenv("CONTENT_LENGTH") : "0");
    out("Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(len) +
        "\r\n\r\n");
    char buf[65536];
    long left = len;
    while (left > 0) {
      ssize_t r = ::read(0, buf, sizeof buf);
      if (r <= 0) break;
      out(std::string(buf, static_cast<std::size_t>(r)));
      left -= r;
    }
  } else if (mode == "sink") {
    // Reads the whole body, keeps nothing, says how much it read.
    char buf[65536];
    long long total = 0;
    for (ssize_t r; (r = ::read(0, buf, sizeof buf)) > 0;) total += r;
    out("Content-Type: text/plain\r\n\r\nread " + std::to_string(total) + "\n");
  } else if (mode == "sleep") {
    ::sleep(static_cast<unsigned>(n ? n : 60));
    out("Content-Type: text/plain\r\n\r\nwoke\n");
  } else if (mode == "trickle") {
    out("Content-Type: text/plain\r\n\r\n");
    for (int i = 0; i < 6000; ++i) {
      out("tick\n");
      ::usleep(10000);
    }
  } else if (mode == "die") {
    out("Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly ten..");
    ::raise(SIGKILL);
  } else if (mode == "short") {
    out("Content-Type: text/plain\r\nContent-Length: 100\r\n\r\nshort");
  } else if (mode == "long") {
    out("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nfive and more");
  } else if (mode == "stderr") {
    for (long i = 0; i < n; ++i) std::fprintf(stderr, "line %ld of stderr\n", i);
    out("Content-Type: text/plain\r\n\r\nok\n");
  } else if (mode == "stderr_first") {
    // A stderr line, then (300 ms later) the response.
    std::fprintf(stderr, "warned by the probe\n");
    ::usleep(300000);
    out("Content-Type: text/plain\r\n\r\nok\n");
  } else if (mode == "stderr_late") {
    // The response begins, then a stderr line, then the rest of the body.
    out("Content-Type: text/plain\r\n\r\npart1 ");
    ::usleep(300000);
    std::fprintf(stderr, "late warning\n");
    ::usleep(100000);
    out("part2\n");
  } else if (mode == "pause") {
    // The head and a first piece, then n seconds of silence, then the rest.
    out("Content-Type: text/plain\r\n\r\npart1 ");
    ::sleep(static_cast<unsigned>(n ? n : 5));
    out("part2\n");
  } else if (mode == "nph") {
    out("HTTP/1.1 299 Odd\r\nX-Raw: yes\r\n\r\nraw");
  } else if (mode == "hopbyhop") {
    out("Content-Type: text/plain\r\nConnection: keep-alive\r\nTransfer-Encoding: "
        "chunked\r\n\r\nplain\n");
  } else {
    out("Status: 400\r\nContent-Type: text/plain\r\n\r\nunknown mode\n");
  }
  return 0;
}
