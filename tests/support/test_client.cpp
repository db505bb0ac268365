#include "support/test_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "spawner/reaper.hpp"

extern char** environ;

namespace cgihost::test {
namespace {
using clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int remaining_ms(clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

}  // namespace

std::string http_response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

connection::connection(std::uint16_t port, bool v6) {
  fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd_, 0);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  EXPECT_EQ(rc, 0) << "connect to port " << port << ": " << std::strerror(errno);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

connection::~connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads more into buf_; false on EOF, error or timeout.
bool connection::fill(std::chrono::milliseconds limit) {
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(limit.count()));
  if (rc <= 0) return false;
  char tmp[65536];
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

std::optional<http_response> connection::read_response(bool head) {
  const auto deadline = clock::now() + std::chrono::seconds(10);
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return std::nullopt;
  }
  http_response r;
  std::string head_text = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  std::size_t line_end = head_text.find("\r\n");
  std::string status_line = head_text.substr(0, line_end);
  r.version = status_line.substr(0, status_line.find(' '));
  r.status = std::atoi(status_line.c_str() + r.version.size() + 1);
  std::size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
  while (pos < head_text.size()) {
    std::size_t e = head_text.find("\r\n", pos);
    if (e == std::string::npos) e = head_text.size();
    std::string line = head_text.substr(pos, e - pos);
    auto colon = line.find(':');
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers.emplace(lower(line.substr(0, colon)), value);
    pos = e + 2;
  }
  if (head || r.status == 304 || r.status == 204 || r.status < 200) return r;
  if (r.header("transfer-encoding") == "chunked") {
    // size line, data, CRLF ... "0" CRLF CRLF (no trailers from cgihost)
    while (true) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return std::nullopt;
      std::size_t n = std::stoull(buf_.substr(0, eol), nullptr, 16);
      buf_.erase(0, eol + 2);
      while (buf_.size() < n + 2)
        if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return std::nullopt;
      if (buf_.compare(n, 2, "\r\n") != 0) return std::nullopt;
      r.body.append(buf_, 0, n);
      buf_.erase(0, n + 2);
      if (n == 0) break;
    }
  } else if (r.has("content-length")) {
    std::size_t n = std::stoull(r.header("content-length"));
    while (buf_.size() < n)
      if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return std::nullopt;
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
  } else {
    while (fill(std::chrono::milliseconds(remaining_ms(deadline)))) {
    }
    r.body = std::move(buf_);
    buf_.clear();
  }
  return r;
}

bool connection::read_exact(std::size_t n, std::string& out) {
  const auto deadline = clock::now() + std::chrono::seconds(20);
  while (buf_.size() < n)
    if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return false;
  out.append(buf_, 0, n);
  buf_.erase(0, n);
  return true;
}

bool connection::wait_bytes(std::size_t n) {
  const auto deadline = clock::now() + std::chrono::seconds(10);
  while (buf_.size() < n)
    if (!fill(std::chrono::milliseconds(remaining_ms(deadline)))) return false;
  return true;
}

bool connection::wait_closed(std::chrono::milliseconds limit, std::string* extra) {
  const auto deadline = clock::now() + limit;
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc <= 0) return false;  // still open at the deadline
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return true;
    if (extra) extra->append(tmp, static_cast<std::size_t>(n));
  }
}

std::optional<http_response> fetch(std::uint16_t port, const std::string& target,
                                   const std::string& method, const std::string& extra_headers) {
  connection c(port);
  c.send(method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers +
         "Connection: close\r\n\r\n");
  return c.read_response(method == "HEAD");
}

child_process::child_process(const std::vector<std::string>& argv,
                             const std::vector<int>& pass_fds) {
  int out[2], err[2];
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  // Copies above any target first, so that no dup2 overwrites a source;
  // dup2 leaves the targets without close-on-exec.
  std::vector<int> copies;
  for (int fd : pass_fds) copies.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 64));
  for (std::size_t i = 0; i < copies.size(); ++i)
    posix_spawn_file_actions_adddup2(&fa, copies[i], 3 + static_cast<int>(i));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc;
  {
    // A server of this process without a broker ends children it did not
    // start: this one is declared as started.
    auto hold = spawner::hold_sweeps();
    rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    if (rc == 0) spawner::track_started(pid_);
  }
  posix_spawn_file_actions_destroy(&fa);
  for (int fd : copies) ::close(fd);
  EXPECT_EQ(rc, 0) << "spawn " << argv[0] << ": " << std::strerror(rc);
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  if (rc != 0) pid_ = -1;
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    spawner::track_reaped(pid_);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

// Moves whatever is readable from the pipes into out_/err_.
void child_process::pump(int timeout_ms) {
  pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (::poll(p, 2, timeout_ms) <= 0) return;
  for (int i = 0; i < 2; ++i) {
    if (p[i].revents & (POLLIN | POLLHUP)) {
      int& fd = i == 0 ? out_fd_ : err_fd_;
      read_some(fd);
      if (fd < 0) return;
    }
  }
}

void child_process::read_some(int& fd) {
  char tmp[8192];
  ssize_t n = ::read(fd, tmp, sizeof tmp);
  if (n < 0 && errno == EINTR) return;
  if (n > 0) {
    (&fd == &out_fd_ ? out_ : err_).append(tmp, static_cast<std::size_t>(n));
    return;
  }
  ::close(fd);
  fd = -1;
}

std::optional<std::string> child_process::wait_stderr_line(const std::string& needle,
                                                           std::chrono::milliseconds limit) {
  const auto deadline = clock::now() + limit;
  std::size_t scanned = 0;
  while (true) {
    std::size_t nl;
    while ((nl = err_.find('\n', scanned)) != std::string::npos) {
      std::string line = err_.substr(scanned, nl - scanned);
      scanned = nl + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    if (clock::now() >= deadline || (out_fd_ < 0 && err_fd_ < 0)) return std::nullopt;
    if (out_fd_ < 0 || err_fd_ < 0) {
      // One pipe closed: poll the other alone.
      int& fd = out_fd_ >= 0 ? out_fd_ : err_fd_;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) > 0) read_some(fd);
    } else {
      pump(remaining_ms(deadline));
    }
  }
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds limit) {
  if (status_) return status_;
  const auto deadline = clock::now() + limit;
  while (true) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      spawner::track_reaped(pid_);
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (clock::now() >= deadline) return std::nullopt;
    // Drain the pipes while waiting, so the child never blocks on a full one;
    // when both are closed, wait on the child itself in short steps.
    if (out_fd_ >= 0 && err_fd_ >= 0)
      pump(std::min(remaining_ms(deadline), 20));
    else {
      int& fd = out_fd_ >= 0 ? out_fd_ : err_fd_;
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, p.fd >= 0 ? 1 : 0, std::min(remaining_ms(deadline), 20));
      if (p.fd >= 0 && (p.revents & (POLLIN | POLLHUP))) read_some(fd);
    }
  }
  // Collect what is left in the pipes.
  for (int i = 0; i < 100 && (out_fd_ >= 0 || err_fd_ >= 0); ++i) {
    for (int* fd : {&out_fd_, &err_fd_}) {
      if (*fd < 0) continue;
      pollfd p{*fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) read_some(*fd);
    }
  }
  return status_;
}

const std::string& child_process::out() { return out_; }
const std::string& child_process::err() { return err_; }

bool child_process::signal(int sig) { return pid_ > 0 && !status_ && ::kill(pid_, sig) == 0; }

run_result run(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  child_process p(argv);
  run_result r;
  auto code = p.wait_exit(limit);
  EXPECT_TRUE(code.has_value()) << argv[0] << " did not finish in time";
  r.exit_code = code.value_or(-1);
  r.out = p.out();
  r.err = p.err();
  return r;
}

std::uint16_t port_from_line(const std::string& line) {
  auto p = line.find("http://");
  if (p == std::string::npos) return 0;
  auto slash = line.find('/', p + 7);
  auto colon = line.rfind(':', slash);
  return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1, slash - colon - 1)));
}

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/cgihost-test-XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl), nullptr);
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void temp_dir::write(const std::string& name, const std::string& content) const {
  std::filesystem::path p = std::filesystem::path(path_) / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string unix_socket_exchange(const std::string& path, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    if (fd >= 0) ::close(fd);
    return {};
  }
  std::string got;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 20'000) > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

}  // namespace cgihost::test
