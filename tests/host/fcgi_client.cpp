#include "fcgi_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cgihost::test {

unsigned fcgi_answer::http_status() const {
  const auto h = head();
  auto at = h.find("Status: ");
  if (at == std::string::npos || (at != 0 && h[at - 1] != '\n')) return ended ? 200 : 0;
  return static_cast<unsigned>(std::strtoul(h.c_str() + at + 8, nullptr, 10));
}

std::string fcgi_answer::head() const {
  auto end = out.find("\r\n\r\n");
  return end == std::string::npos ? out : out.substr(0, end + 2);
}

std::string fcgi_answer::body() const {
  auto end = out.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : out.substr(end + 4);
}

fcgi_client fcgi_client::tcp(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fcgi_client(fd);
}

fcgi_client fcgi_client::local(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fcgi_client(fd);
}

fcgi_client::~fcgi_client() {
  if (fd_ >= 0) ::close(fd_);
}

bool fcgi_client::send(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t fcgi_client::send_until_stalled(const std::string& bytes,
                                            std::chrono::milliseconds quiet) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

bool fcgi_client::begin(std::uint16_t id, const fcgi::name_values& params, bool keep,
                        fcgi::role r) {
  std::string out;
  fcgi::append_begin_request(out, id, r, keep ? fcgi::kKeepConn : 0);
  fcgi::append_params(out, id, params);
  decoder_.begin(id);
  answers_.erase(id);
  return send(out);
}

bool fcgi_client::stdin_data(std::uint16_t id, const std::string& body, bool end) {
  std::string out;
  if (!body.empty()) fcgi::append_stream(out, fcgi::record_type::stdin_stream, id, body);
  if (end) fcgi::append_stream_end(out, fcgi::record_type::stdin_stream, id);
  return send(out);
}

bool fcgi_client::request(std::uint16_t id, const fcgi::name_values& params,
                          const std::string& body, bool keep) {
  return begin(id, params, keep) && stdin_data(id, body, true);
}

bool fcgi_client::read_some(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

bool fcgi_client::decode() {
  std::string_view in(buf_);
  while (!in.empty()) {
    fcgi::client_event ev;
    std::error_code ec;
    const std::size_t used = decoder_.feed(in, ev, ec);
    if (ec) return false;
    in.remove_prefix(used);
    using kind = fcgi::client_event::kind;
    auto& a = answers_[ev.request_id];
    if (ev.what == kind::stdout_data) a.out.append(ev.data);
    if (ev.what == kind::stderr_data) a.err.append(ev.data);
    if (ev.what == kind::end_request) {
      a.ended = true;
      a.status = ev.status;
    }
    if (ev.what == kind::get_values_result) values_ = ev.values;
    if (used == 0 && ev.what == kind::none) break;
  }
  buf_.erase(0, buf_.size() - in.size());
  return true;
}

std::optional<fcgi_answer> fcgi_client::wait(std::uint16_t id, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!decode()) return std::nullopt;
    if (auto it = answers_.find(id); it != answers_.end() && it->second.ended) {
      auto a = std::move(it->second);
      answers_.erase(it);
      return a;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left)) return std::nullopt;
  }
}

std::optional<fcgi::name_values> fcgi_client::get_values(const std::vector<std::string>& names) {
  std::string out;
  fcgi::append_get_values(out, names);
  if (!send(out)) return std::nullopt;
  values_.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!values_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left) || !decode()) return std::nullopt;
  }
  return values_;
}

bool fcgi_client::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    if (::recv(fd_, chunk, sizeof chunk, 0) <= 0) return true;
  }
}

void fcgi_client::shutdown_send() { ::shutdown(fd_, SHUT_WR); }

fcgi::name_values nginx_params(const std::string& uri, const std::string& document_root,
                               const fcgi::name_values& extra) {
  const auto q = uri.find('?');
  const std::string path = uri.substr(0, q);
  const std::string query = q == std::string::npos ? "" : uri.substr(q + 1);
  fcgi::name_values p = {{"QUERY_STRING", query},
                         {"REQUEST_METHOD", "GET"},
                         {"CONTENT_TYPE", ""},
                         {"CONTENT_LENGTH", ""},
                         {"SCRIPT_NAME", path},
                         {"REQUEST_URI", uri},
                         {"DOCUMENT_URI", path},
                         {"DOCUMENT_ROOT", document_root},
                         {"SERVER_PROTOCOL", "HTTP/1.1"},
                         {"REQUEST_SCHEME", "http"},
                         {"GATEWAY_INTERFACE", "CGI/1.1"},
                         {"SERVER_SOFTWARE", "nginx/1.22.1"},
                         {"REMOTE_ADDR", "192.0.2.7"},
                         {"REMOTE_PORT", "50123"},
                         {"REMOTE_USER", ""},
                         {"SERVER_ADDR", "127.0.0.1"},
                         {"SERVER_PORT", "80"},
                         {"SERVER_NAME", "example.test"},
                         {"REDIRECT_STATUS", "200"},
                         {"SCRIPT_FILENAME", document_root + path},
                         {"HTTP_HOST", "example.test"},
                         {"HTTP_USER_AGENT", "fcgi-test"}};
  for (const auto& [n, v] : extra) {
    bool replaced = false;
    for (auto& [pn, pv] : p)
      if (pn == n) {
        pv = v;
        replaced = true;
      }
    if (!replaced) p.emplace_back(n, v);
  }
  return p;
}

}  // namespace cgihost::test
