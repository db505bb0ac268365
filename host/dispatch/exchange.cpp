#include "host/dispatch/exchange.hpp"

#include <algorithm>
#include <memory>

#include "spawner/files.hpp"

namespace cgihost::host {

asio::awaitable<file_read> exchange::write_file(http::response_header<>& head, file_part part,
                                                error_code& ec) {
  ec = {};
  file_read result;
  if (part.length == 0) {
    co_await write_head(head, ec);
    co_return result;
  }
  // Bounded memory whatever the size, no zero-fill of the buffer.
  constexpr std::uint64_t kChunk = 64 * 1024;
  const auto buf_size = static_cast<std::size_t>(std::min(kChunk, part.length));
  auto buf = std::make_unique_for_overwrite<char[]>(buf_size);
  const std::uint64_t end = part.offset + part.length;
  std::uint64_t offset = part.offset;
  bool first = true;
  while (offset < end) {
    const std::size_t n =
        spawner::read_at(part.file, offset, buf.get(),
                         std::min<std::uint64_t>(buf_size, end - offset), result.error);
    if (n == 0) {
      result.failed = true;
      result.offset = offset;
      co_return result;
    }
    auto data = asio::buffer(buf.get(), n);
    if (first)
      co_await write_response(head, data, ec);
    else
      co_await write_body(data, ec);
    if (ec) co_return result;
    first = false;
    offset += n;
  }
  co_return result;
}

}  // namespace cgihost::host
