// The physical floor of CGI: WORKERS threads each start PROGRAM with
// posix_spawn, read its stdout to the end and reap it, for SECONDS.
// Usage: spawn_loop PROGRAM WORKERS SECONDS
//   -> prints "spawns/s N failures F cpu_us_per_spawn_self S children C": the
//   loop's own CPU (user + system) per spawn, and that of the reaped children.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

extern char** environ;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: spawn_loop PROGRAM WORKERS SECONDS\n");
    return 2;
  }
  const char* program = argv[1];
  int workers = std::atoi(argv[2]);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[3]));
  std::atomic<long> spawns{0}, failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      char* args[] = {const_cast<char*>(program), nullptr};
      char* env[] = {const_cast<char*>("GATEWAY_INTERFACE=CGI/1.1"),
                     const_cast<char*>("REQUEST_METHOD=GET"), const_cast<char*>("QUERY_STRING="),
                     nullptr};
      char buf[4096];
      while (std::chrono::steady_clock::now() < until) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) break;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        pid_t pid;
        int rc = ::posix_spawn(&pid, program, &fa, nullptr, args, env);
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        if (rc != 0) {
          ::close(out[0]);
          ++failures;
          continue;
        }
        while (::read(out[0], buf, sizeof buf) > 0) {
        }
        ::close(out[0]);
        int st;
        ::waitpid(pid, &st, 0);
        ++spawns;
      }
    });
  }
  auto start = std::chrono::steady_clock::now();
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto cpu_us = [](int who) {
    rusage ru{};
    ::getrusage(who, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
  };
  long n = spawns.load() > 0 ? spawns.load() : 1;
  std::printf("spawns/s %.0f failures %ld cpu_us_per_spawn_self %.1f children %.1f\n",
              spawns.load() / secs, failures.load(), cpu_us(RUSAGE_SELF) / n,
              cpu_us(RUSAGE_CHILDREN) / n);
  return 0;
}
