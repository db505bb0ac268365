#pragma once
// The connection to a pool's instance, as lease, fcgi_exchange and the pool
// use it: read and write asynchronously, a first write that does not wait,
// a check that a kept one is still open, a move to another io thread.
//
// POSIX: exactly a stream socket (a Unix socket, or TCP to a remote server),
// with the helpers below inline: nothing between a request and its socket.
// Windows: either a socket (a remote server, or transport = "tcp") or the
// client end of the instance's named pipe (transport = "pipe",
// asio::windows::stream_handle); instance_conn_windows.cpp.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <utility>

#if defined(_WIN32)
#include <boost/asio/windows/stream_handle.hpp>
#include <optional>
#endif

namespace cgihost::host {

namespace asio = boost::asio;

#if !defined(_WIN32)

using instance_conn = asio::generic::stream_protocol::socket;

// The connection as a socket (a remote pool's connect and options).
inline asio::generic::stream_protocol::socket& socket_of(instance_conn& c) { return c; }

// Writes what the socket takes now, without waiting (nearly always all of a
// request's first records): the bytes written; `ec` only for a real error.
inline std::size_t write_now(instance_conn& c, asio::const_buffer b,
                             boost::system::error_code& ec) {
  std::size_t done = 0;
  if (!c.non_blocking()) c.non_blocking(true, ec);  // kept with the connection
  if (!ec) done = c.write_some(b, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  return done;
}

// False: a kept connection to an instance cgihost started is used as is.
inline constexpr bool is_pipe(const instance_conn&) { return false; }

// A kept connection the server has not closed (nothing to read, no EOF).
inline bool still_open(instance_conn& c) {
  char byte;
  boost::system::error_code ec;
  if (!c.non_blocking()) c.non_blocking(true, ec);
  if (ec) return false;
  c.receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, ec);
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// `c` re-opened on `here` (another io thread) with `proto`; reset on failure.
inline void move_conn(std::unique_ptr<instance_conn>& c, const asio::any_io_executor& here,
                      const asio::generic::stream_protocol& proto) {
  boost::system::error_code ec;
  auto fd = c->release(ec);
  c = std::make_unique<instance_conn>(here);
  if (!ec) c->assign(proto, fd, ec);
  if (ec) c.reset();
}

#else

class instance_conn {
 public:
  using executor_type = asio::any_io_executor;
  using socket = asio::generic::stream_protocol::socket;
  using pipe = asio::windows::stream_handle;

  explicit instance_conn(const executor_type& ex) : socket_(ex) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // The socket (connect, options); unused once a pipe is assigned.
  socket& as_socket() noexcept { return socket_; }
  // The pipe, when this is one (else nullptr).
  pipe* as_pipe() noexcept { return pipe_ ? &*pipe_ : nullptr; }
  bool is_pipe() const noexcept { return pipe_.has_value(); }
  // Makes this the client end `h` of a named pipe (opened overlapped); ours
  // to close from now on, even when `ec` says it could not be registered.
  void assign_pipe(pipe::native_handle_type h, boost::system::error_code& ec);

  bool is_open() const { return pipe_ ? pipe_->is_open() : socket_.is_open(); }
  void close(boost::system::error_code& ec) {
    if (pipe_) pipe_->close(ec);
    if (socket_.is_open()) socket_.close(ec);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    if (pipe_) return pipe_->async_read_some(b, std::forward<Token>(token));
    return socket_.async_read_some(b, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    if (pipe_) return pipe_->async_write_some(b, std::forward<Token>(token));
    return socket_.async_write_some(b, std::forward<Token>(token));
  }

 private:
  socket socket_;
  std::optional<pipe> pipe_;
};

inline asio::generic::stream_protocol::socket& socket_of(instance_conn& c) { return c.as_socket(); }
// A pipe's kept connection is checked before it is used (still_open): the
// instance may have disconnected it (php-cgi.exe without FCGI_KEEP_CONN).
inline bool is_pipe(const instance_conn& c) { return c.is_pipe(); }
// As on POSIX. A pipe has no write that does not wait: 0, and the caller's
// async_write sends it all.
std::size_t write_now(instance_conn& c, asio::const_buffer b, boost::system::error_code& ec);
// A pipe: PeekNamedPipe (a broken pipe is closed; bytes nobody asked for
// make it unusable too).
bool still_open(instance_conn& c);
// A socket or a pipe re-registered on `here`'s io_context (Windows 8.1's
// FileReplaceCompletionInformation, through Asio's release); reset on failure.
void move_conn(std::unique_ptr<instance_conn>& c, const asio::any_io_executor& here,
               const asio::generic::stream_protocol& proto);

#endif

}  // namespace cgihost::host
