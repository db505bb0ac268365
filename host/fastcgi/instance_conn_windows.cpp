// host/fastcgi/instance_conn.hpp on Windows: a socket or a named pipe's
// client end.
#include <winsock2.h>
// after winsock2
#include <windows.h>

#include "host/fastcgi/instance_conn.hpp"

namespace cgihost::host {

void instance_conn::assign_pipe(pipe::native_handle_type h, boost::system::error_code& ec) {
  boost::system::error_code ignored;
  if (socket_.is_open()) socket_.close(ignored);
  pipe_.emplace(socket_.get_executor());
  pipe_->assign(h, ec);
  if (ec) {
    ::CloseHandle(h);
    pipe_.reset();
  }
}

std::size_t write_now(instance_conn& c, asio::const_buffer b, boost::system::error_code& ec) {
  if (c.as_pipe()) return 0;
  auto& s = c.as_socket();
  std::size_t done = 0;
  if (!s.non_blocking()) s.non_blocking(true, ec);  // kept with the connection
  if (!ec) done = s.write_some(b, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  return done;
}

bool still_open(instance_conn& c) {
  if (auto* p = c.as_pipe()) {
    DWORD avail = 0;
    return ::PeekNamedPipe(p->native_handle(), nullptr, 0, nullptr, &avail, nullptr) && avail == 0;
  }
  auto& s = c.as_socket();
  char byte;
  boost::system::error_code ec;
  if (!s.non_blocking()) s.non_blocking(true, ec);
  if (ec) return false;
  s.receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, ec);
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

void move_conn(std::unique_ptr<instance_conn>& c, const asio::any_io_executor& here,
               const asio::generic::stream_protocol& proto) {
  boost::system::error_code ec;
  if (auto* p = c->as_pipe()) {
    HANDLE h = p->release(ec);
    c = std::make_unique<instance_conn>(here);
    if (!ec) c->assign_pipe(h, ec);
    if (ec) c.reset();
    return;
  }
  auto s = c->as_socket().release(ec);
  c = std::make_unique<instance_conn>(here);
  if (!ec) c->as_socket().assign(proto, s, ec);
  if (ec) c.reset();
}

}  // namespace cgihost::host
