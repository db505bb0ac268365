#pragma once
// A FastCGI client for the listener's tests: what a web server sends
// (BEGIN_REQUEST, PARAMS, STDIN, ABORT_REQUEST, GET_VALUES) over a blocking
// socket, built by protocol/'s encoders, and the records it gets back read by
// protocol/'s client decoder, each wait bounded.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "protocol/fcgi.hpp"

namespace cgihost::test {

namespace fcgi = protocol::fcgi;

struct fcgi_answer {
  std::string out;  // STDOUT bytes
  std::string err;  // STDERR bytes
  bool ended = false;
  fcgi::protocol_status status = fcgi::protocol_status::request_complete;
  // The CGI response in `out`: its status (200 without a Status field), head and body.
  unsigned http_status() const;
  std::string head() const;
  std::string body() const;
};

class fcgi_client {
 public:
  // Connects to 127.0.0.1:port, or to the Unix socket `path`; connected() says whether it did.
  static fcgi_client tcp(std::uint16_t port);
  static fcgi_client local(const std::string& path);
  fcgi_client(fcgi_client&& o) noexcept : fd_(o.fd_), decoder_(std::move(o.decoder_)) {
    o.fd_ = -1;
  }
  ~fcgi_client();
  bool connected() const { return fd_ >= 0; }

  bool send(const std::string& bytes);
  // Sends `bytes` until done or until the server takes nothing for `quiet`
  // (it stopped reading): how many bytes went.
  std::size_t send_until_stalled(const std::string& bytes, std::chrono::milliseconds quiet);
  // BEGIN_REQUEST (with FCGI_KEEP_CONN when `keep`) and the whole PARAMS stream.
  bool begin(std::uint16_t id, const fcgi::name_values& params, bool keep = true,
             fcgi::role r = fcgi::role::responder);
  // STDIN bytes; with `end`, the empty record after them.
  bool stdin_data(std::uint16_t id, const std::string& body, bool end = true);
  // A whole request: begin, then the body and its end.
  bool request(std::uint16_t id, const fcgi::name_values& params, const std::string& body = {},
               bool keep = true);

  // Reads until request `id` ended (END_REQUEST); nullopt when the
  // connection closed or nothing came within `timeout`.
  std::optional<fcgi_answer> wait(std::uint16_t id,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Reads until a GET_VALUES_RESULT.
  std::optional<fcgi::name_values> get_values(const std::vector<std::string>& names);
  // True when the server closed the connection within `timeout` (what it
  // sent first is read and dropped).
  bool closed_within(std::chrono::milliseconds timeout);
  // Ends our sending side (the web server is done sending), keeps reading.
  void shutdown_send();

 private:
  explicit fcgi_client(int fd) : fd_(fd) {}
  // One read; false at the end, an error, or after `timeout`.
  bool read_some(std::chrono::milliseconds timeout);
  // Decodes what `buf_` holds into answers_; false on a protocol error.
  bool decode();

  int fd_ = -1;
  fcgi::client_decoder decoder_;
  std::string buf_;
  std::map<std::uint16_t, fcgi_answer> answers_;
  std::optional<fcgi::name_values> values_;
};

// The params nginx's fastcgi_params sends for a GET of `uri` (path and
// query), SCRIPT_NAME being its path; `extra` added or replacing.
fcgi::name_values nginx_params(const std::string& uri, const std::string& document_root,
                               const fcgi::name_values& extra = {});

}  // namespace cgihost::test
