#pragma once
// Test helpers: a raw HTTP/1.x client over a blocking socket (so tests can
// send exactly the bytes they mean, malformed ones included), and a child
// process runner for the cgihost binary. Every wait is bounded.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cgihost::test {

struct http_response {
  int status = 0;
  std::string version;                              // "HTTP/1.1"
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;  // "" when absent
  bool has(const std::string& name) const { return headers.count(name) > 0; }
};

class connection {
 public:
  // Connects to 127.0.0.1:port (or ::1 with v6); fails the test on error.
  explicit connection(std::uint16_t port, bool v6 = false);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool send(std::string_view bytes);
  // Reads one response. For a HEAD request pass head = true (no body follows).
  // nullopt when the connection ends before a whole response.
  std::optional<http_response> read_response(bool head = false);
  // True when the server closes the connection (EOF or reset) within `limit`
  // without sending anything more than what `extra` collects.
  bool wait_closed(std::chrono::milliseconds limit, std::string* extra = nullptr);
  // Reads exactly n body bytes (for streaming tests). False on EOF or timeout.
  bool read_exact(std::size_t n, std::string& out);
  // Waits until at least n bytes arrived, without consuming them.
  bool wait_bytes(std::size_t n);
  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::milliseconds limit);
  int fd_ = -1;
  std::string buf_;
};

// `request` sent on a fresh connection to the Unix socket `path`, then what
// the server sends until it closes the connection (each read within 20 s);
// "" when nothing could connect.
std::string unix_socket_exchange(const std::string& path, const std::string& request);

// One request, one response, on a fresh connection.
std::optional<http_response> fetch(std::uint16_t port, const std::string& target,
                                   const std::string& method = "GET",
                                   const std::string& extra_headers = "");

// A child process with its stdout and stderr captured. The destructor kills
// (SIGKILL, by pid) and reaps it if it is still running.
class child_process {
 public:
  // `pass_fds` become the child's fds 3, 4, ... (as systemd passes sockets).
  explicit child_process(const std::vector<std::string>& argv,
                         const std::vector<int>& pass_fds = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  // Waits until stderr has a line containing `needle`; returns that line.
  std::optional<std::string> wait_stderr_line(const std::string& needle,
                                              std::chrono::milliseconds limit);
  // Waits for exit; the exit code, 128+signal for a signal, nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);
  // Reads what is left of stdout/stderr after exit.
  const std::string& out();
  const std::string& err();
  bool signal(int sig);

 private:
  void pump(int timeout_ms);
  // One read from `fd` (out_fd_ or err_fd_) into its buffer; at its end (or
  // on an error) the pipe is closed and `fd` set to -1.
  void read_some(int& fd);
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  std::optional<int> status_;
};

// Runs a command to its end (bounded by `limit`); exit code and output.
struct run_result {
  int exit_code = -1;
  std::string out, err;
};
run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds limit = std::chrono::seconds(20));

// The port in a "listening on http://ADDR:PORT/" log line.
std::uint16_t port_from_line(const std::string& line);

// A scratch folder removed at destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace cgihost::test
