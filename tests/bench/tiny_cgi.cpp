// The compiled CGI program of tests/bench/fcgi_front_bench.sh: what a C CGI
// program is — a head and a 6-byte body with write(2), nothing but libc
// loaded (linked --as-needed: no libstdc++ to map and relocate at each exec).
#include <unistd.h>

int main() {
  static const char out[] = "Content-Type: text/plain\r\n\r\nhello\n";
  return write(1, out, sizeof out - 1) == static_cast<ssize_t>(sizeof out - 1) ? 0 : 1;
}
