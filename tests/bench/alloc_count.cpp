// A counting allocator for tests/bench/profile.sh, loaded with LD_PRELOAD.
// It counts, with relaxed atomics, the calls to malloc, calloc, realloc, the
// aligned allocators (aligned_alloc, posix_memalign, memalign) and free; C++'s
// operator new and delete go through malloc and free, so they are counted
// there. The counts live in a file ALLOC_COUNT_DIR/PID, mapped shared, that a
// script reads at any time: five unsigned 64-bit integers in the machine's
// order (malloc, calloc, realloc, aligned, free). A child forked without exec
// (cgihost's spawner) gets its own file; LD_PRELOAD is taken out of the
// environment at load, so the programs cgihost starts run without it. The
// allocations are glibc's own (__libc_malloc...): only the counting is added.
// Without ALLOC_COUNT_DIR nothing is counted to a file.
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {

enum counter { c_malloc, c_calloc, c_realloc, c_aligned, c_free, counters };

std::uint64_t unmapped[counters];  // before the file is mapped, or without one
std::uint64_t* counts = unmapped;
char dir[3072];  // ALLOC_COUNT_DIR, kept: the program may clear its environment

void count(counter c) {
  std::atomic_ref<std::uint64_t>(counts[c]).fetch_add(1, std::memory_order_relaxed);
}

// Maps DIR/PID as the counters; only system calls (also runs in a fork child).
void map_counts() {
  if (dir[0] == '\0') return;
  char path[sizeof dir + 24];
  std::size_t n = std::strlen(dir);
  std::memcpy(path, dir, n);
  path[n++] = '/';
  char digits[24];
  int d = 0;
  for (unsigned long pid = static_cast<unsigned long>(::getpid()); pid > 0 || d == 0; pid /= 10)
    digits[d++] = static_cast<char>('0' + pid % 10);
  while (d > 0) path[n++] = digits[--d];
  path[n] = '\0';
  int fd = ::open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  void* page = MAP_FAILED;
  if (::ftruncate(fd, 4096) == 0)
    page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  counts = page == MAP_FAILED ? unmapped : static_cast<std::uint64_t*>(page);
}

void in_fork_child() {
  for (auto& c : unmapped) c = 0;
  counts = unmapped;
  map_counts();
}

__attribute__((constructor)) void start() {
  if (const char* d = std::getenv("ALLOC_COUNT_DIR"); d && std::strlen(d) < sizeof dir)
    std::strcpy(dir, d);
  map_counts();
  ::pthread_atfork(nullptr, nullptr, in_fork_child);
  ::unsetenv("LD_PRELOAD");
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  count(c_malloc);
  return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept {
  count(c_calloc);
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) noexcept {
  count(c_realloc);
  return __libc_realloc(p, size);
}

void free(void* p) noexcept {
  if (p) count(c_free);
  __libc_free(p);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count(c_aligned);
  return __libc_memalign(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count(c_aligned);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  count(c_aligned);
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
