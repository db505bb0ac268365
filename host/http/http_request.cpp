#include "host/http/http_request.hpp"

#if defined(_WIN32)
#include <ws2tcpip.h>  // inet_pton, inet_ntop
#else
#include <arpa/inet.h>
#endif

#include <algorithm>
#include <cctype>
#include <utility>

#include "protocol/text.hpp"

namespace cgihost::host {
namespace {

using protocol::iequals;
using protocol::trim;

// Beast keeps a field's offsets in 16 bits: a longer name or value throws
// std::length_error from basic_fields::insert (http/impl/fields.hpp).
constexpr std::size_t kMaxFieldPart = 65535 - 2;
// The read buffer is never smaller than this, so that body bytes arrive in
// reads of a useful size whatever the head limits are.
constexpr std::size_t kMinBuffer = 64 * 1024;
constexpr std::size_t kMaxRead = 64 * 1024;

// boost::system::error_category's destructor is protected and non-virtual by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class request_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "cgihost.request"; }
  std::string message(int ev) const override {
    switch (static_cast<request_error>(ev)) {
      case request_error::field_too_large:
        return "field name or value too large";
      case request_error::too_many_fields:
        return "too many header fields";
      case request_error::trailer_too_large:
        return "trailer section too large";
      case request_error::too_many_trailers:
        return "too many trailer fields";
      case request_error::chunk_line_too_long:
        return "chunk-size line too long";
    }
    return "unknown request error";
  }
};
#pragma GCC diagnostic pop

// True when the request line in `head` is well formed but names an HTTP
// version Beast refuses (anything but 1.0 and 1.1): that is 505, not 400.
// Beast may refuse the version before the line's CRLF has arrived.
bool is_other_http_version(std::string_view head) {
  auto eol = std::min(head.find_first_of("\r\n"), head.size());
  if (eol < 9) return false;
  std::string_view v = head.substr(eol - 8, 8);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  bool ours = v[5] == '1' && (v[7] == '0' || v[7] == '1');  // refused for its line ending
  return v.substr(0, 5) == "HTTP/" && digit(v[5]) && v[6] == '.' && digit(v[7]) && !ours &&
         head[eol - 9] == ' ';
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}
bool is_sub_delim(char c) {
  return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
bool valid_reg_name(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    } else if (!is_unreserved(c) && !is_sub_delim(c)) {
      return false;
    }
  }
  return true;
}

// RFC 3986 §3.2.2: the inside of an IP-literal, IPv6address or IPvFuture.
bool valid_ip_literal(std::string_view s) {
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V')) {
    auto dot = s.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == s.size()) return false;
    for (char c : s.substr(1, dot - 1))
      if (!is_hex(c)) return false;
    for (char c : s.substr(dot + 1))
      if (!is_unreserved(c) && !is_sub_delim(c) && c != ':') return false;
    return true;
  }
  if (s.empty() || s.size() > 45) return false;
  for (char c : s)
    if (!is_hex(c) && c != ':' && c != '.') return false;
  char text[46];
  s.copy(text, s.size());
  text[s.size()] = '\0';
  unsigned char addr[16];
  return ::inet_pton(AF_INET6, text, addr) == 1;
}

}  // namespace

std::string request_line_of(const http::request_header<>& req) {
  std::string line(req.method_string());
  line += ' ';
  line += req.target();
  line += " HTTP/";
  line += std::to_string(req.version() / 10);
  line += '.';
  line += std::to_string(req.version() % 10);
  return line;
}

const boost::system::error_category& request_category() noexcept {
  static const request_category_impl category;
  return category;
}

boost::system::error_code make_error_code(request_error e) noexcept {
  return {static_cast<int>(e), request_category()};
}

request_parser::request_parser(const config::http_settings& limits) : limits_(limits) {}

void request_parser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                   boost::beast::string_view value, boost::system::error_code& ec) {
  if (!is_header_done()) {
    if (name_string.size() > kMaxFieldPart || value.size() > kMaxFieldPart) {
      ec = request_error::field_too_large;
      return;
    }
    if (++fields_ > limits_.max_header_count) {
      ec = request_error::too_many_fields;
      return;
    }
    get().insert(name, name_string, value);
    return;
  }
  // A trailer field: counted against the head's limits, then dropped.
  trailer_bytes_ += name_string.size() + value.size() + 4;
  if (++trailers_ > limits_.max_header_count) {
    ec = request_error::too_many_trailers;
    return;
  }
  if (trailer_bytes_ > limits_.max_header_bytes) ec = request_error::trailer_too_large;
}

std::optional<head_refusal> check_head(const http::request_header<>& req, std::size_t head_bytes,
                                       const config::http_settings& limits) {
  const std::string request_line = request_line_of(req);
  if (req.version() != 10 && req.version() != 11)
    return head_refusal{http::status::http_version_not_supported,
                        "HTTP version " + request_line.substr(request_line.rfind(' ') + 1)};
  if (request_line.size() > limits.max_request_line)
    return head_refusal{http::status::uri_too_long,
                        "request line longer than http.max_request_line (" +
                            std::to_string(limits.max_request_line) + " bytes)"};
  if (head_bytes > request_line.size() + 2 + limits.max_header_bytes)
    return head_refusal{http::status::request_header_fields_too_large,
                        "request head larger than http.max_header_bytes (" +
                            std::to_string(limits.max_header_bytes) + " bytes)"};
  std::size_t hosts = 0;
  std::string_view host;
  for (const auto& f : req)
    if (f.name() == http::field::host) {
      ++hosts;
      host = f.value();
    }
  if (hosts > 1 || (req.version() == 11 && hosts == 0))
    return head_refusal{http::status::bad_request,
                        hosts ? "several Host fields" : "HTTP/1.1 request without Host"};
  if (hosts == 1 && !valid_host(host)) {
    // Quoted shortly and without control bytes: it goes to the log.
    std::string shown;
    for (char c : host.substr(0, 100))
      shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"') ? '?' : c;
    return head_refusal{http::status::bad_request, "invalid Host \"" + shown + "\""};
  }
  if (auto te = req.find(http::field::transfer_encoding); te != req.end()) {
    // HTTP/1.0 has no transfer codings: such a message is faulty (RFC 9112 §6.1).
    if (req.version() == 10)
      return head_refusal{http::status::bad_request, "Transfer-Encoding in an HTTP/1.0 request"};
    // Only "chunked" alone is framed the same way by every hop; anything else
    // could be read differently by a proxy in front of us (request smuggling).
    std::string_view v = trim(te->value());
    if (!iequals(v, "chunked")) {
      auto comma = v.rfind(',');
      bool has_chunked =
          comma != std::string_view::npos && iequals(trim(v.substr(comma + 1)), "chunked");
      return head_refusal{has_chunked ? http::status::not_implemented : http::status::bad_request,
                          "unsupported Transfer-Encoding \"" + std::string(v) + "\""};
    }
  }
  return std::nullopt;
}

bool valid_host(std::string_view h) {
  if (h.empty()) return true;
  std::string_view host = h;
  std::optional<std::string_view> port;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    if (!valid_ip_literal(h.substr(1, close - 1))) return false;
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    if (auto colon = h.find(':'); colon != std::string_view::npos) {
      host = h.substr(0, colon);
      port = h.substr(colon + 1);
    }
    // An http URI has a host (RFC 9110 §4.2.1): ":80" alone is not one.
    if (host.empty() || !valid_reg_name(host)) return false;
  }
  if (port) {
    if (port->size() > 5) return false;
    unsigned value = 0;
    for (char c : *port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return false;
  }
  return true;
}

request_reader::request_reader(const config::http_settings& limits)
    : limits_(limits),
      header_limit_(std::min<std::uint64_t>(limits.max_request_line + limits.max_header_bytes + 4,
                                            0xffffffffu)),
      max_buffer_(static_cast<std::size_t>(std::max<std::uint64_t>(header_limit_, kMinBuffer))),
      buffer_(max_buffer_) {}

void request_reader::start() {
  parser_.emplace(limits_);
  parser_->header_limit(static_cast<std::uint32_t>(header_limit_));
  parser_->body_limit(limits_.max_body_size);
  head_bytes_ = 0;
  pending_ = {};
  starved_ = false;
  version_pending_ = false;
  why_ = {};
  error_ = {};
}

boost::asio::mutable_buffer request_reader::prepare() {
  std::size_t room = max_buffer_ - std::min(buffer_.size(), max_buffer_);
  return buffer_.prepare(std::min(room, kMaxRead));
}

void request_reader::commit(std::size_t n) { buffer_.commit(n); }

request_reader::step request_reader::parse_head() {
  auto& p = *parser_;
  if (version_pending_) {
    if (!line_end_or_full()) return step::need_more;
    version_pending_ = false;
    return refuse(http::error::bad_version);
  }
  while (!p.is_header_done()) {
    if (buffer_.size() == 0) return step::need_more;
    boost::system::error_code ec;
    std::size_t used = p.put(buffer_.data(), ec);
    buffer_.consume(used);
    head_bytes_ += used;
    if (ec == http::error::need_more || (!ec && used == 0)) {
      if (buffer_.size() >= max_buffer_) return refuse_full();
      return step::need_more;
    }
    if (ec == http::error::bad_version && !line_end_or_full()) {
      version_pending_ = true;
      return step::need_more;
    }
    if (ec) return refuse(ec);
  }
  if (auto r = check_head(p.get(), head_bytes_, limits_)) {
    why_ = std::move(*r);
    return step::refused;
  }
  return step::ready;
}

request_reader::step request_reader::parse_body(void* data, std::size_t size, std::size_t& got) {
  got = 0;
  if (pending_) return refuse(std::exchange(pending_, {}));
  auto& p = *parser_;
  auto& body = p.get().body();
  while (!p.is_done()) {
    if (buffer_.size() == 0) return got > 0 ? step::ready : step::need_more;
    // Beast asserts (BOOST_ASSERT, debug builds) that a last chunk it had to
    // wait for comes back with at least 5 bytes; the rest of any chunked
    // body is never shorter ("0\r\n\r\n"), so waiting for them costs nothing.
    if (starved_ && p.chunked() && buffer_.size() < 5)
      return got > 0 ? step::ready : step::need_more;
    body.data = static_cast<char*>(data) + got;
    body.size = size - got;
    body.more = true;
    boost::system::error_code ec;
    std::size_t used = p.put(buffer_.data(), ec);
    buffer_.consume(used);
    got = size - body.size;
    body.data = nullptr;
    starved_ = ec == http::error::need_more;
    if (ec == http::error::need_buffer) return step::ready;
    if (ec == http::error::need_more || (!ec && used == 0)) {
      if (got > 0) return step::ready;
      if (buffer_.size() >= max_buffer_) return refuse_full();
      return step::need_more;
    }
    if (ec && got > 0) {
      // The bytes before the error are the body's: they go first.
      pending_ = ec;
      return step::ready;
    }
    if (ec) return refuse(ec);
  }
  return step::ready;
}

request_reader::step request_reader::end_of_input() {
  version_pending_ = false;
  return refuse(http::error::partial_message);
}

bool request_reader::line_end_or_full() const {
  std::string_view seen(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  return seen.find('\n') != std::string_view::npos || buffer_.size() >= max_buffer_;
}

// The buffer is full and the parser still needs more: which part of the
// message does not fit decides the answer.
request_reader::step request_reader::refuse_full() {
  const auto& p = *parser_;
  if (!p.is_header_done()) return refuse(http::error::header_limit);
  if (!p.chunked()) return refuse(http::error::buffer_overflow);
  // Beast parses the last chunk's line and the trailer section only once they
  // are whole: a complete line of zeros means the trailers are what is too big.
  std::string_view rest(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  if (rest.substr(0, 2) == "\r\n") rest.remove_prefix(2);
  std::size_t zeros = 0;
  while (zeros < rest.size() && rest[zeros] == '0') ++zeros;
  bool last_chunk = zeros > 0 && (zeros == rest.size() || !is_hex(rest[zeros])) &&
                    rest.find("\r\n") != std::string_view::npos;
  return refuse(last_chunk ? request_error::trailer_too_large : request_error::chunk_line_too_long);
}

request_reader::step request_reader::refuse(boost::system::error_code ec) {
  error_ = ec;
  const auto& p = *parser_;
  if (!p.is_header_done()) {
    if (ec == http::error::header_limit) {
      // Which limit: the request line alone, or the header fields? Beast
      // parses the request line as soon as it is whole if it came in one
      // piece; else it waits for the whole head, and the line is still buffered.
      const auto& partial = p.get();
      std::string_view seen(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      auto eol = seen.find("\r\n");
      bool line_too_long = partial.target().empty()
                               ? eol == std::string_view::npos || eol > limits_.max_request_line
                               : request_line_of(partial).size() > limits_.max_request_line;
      why_ = line_too_long ? head_refusal{http::status::uri_too_long,
                                          "request line longer than http.max_request_line (" +
                                              std::to_string(limits_.max_request_line) + " bytes)"}
                           : head_refusal{http::status::request_header_fields_too_large,
                                          "request head larger than http.max_header_bytes (" +
                                              std::to_string(limits_.max_header_bytes) + " bytes)"};
    } else if (ec == request_error::field_too_large) {
      why_ = {
          http::status::request_header_fields_too_large,
          "a header field name or value longer than " + std::to_string(kMaxFieldPart) + " bytes"};
    } else if (ec == request_error::too_many_fields) {
      why_ = {http::status::request_header_fields_too_large,
              "more header fields than http.max_header_count (" +
                  std::to_string(limits_.max_header_count) + ")"};
    } else if (ec == http::error::bad_version &&
               is_other_http_version(std::string_view(
                   static_cast<const char*>(buffer_.data().data()), buffer_.size()))) {
      why_ = {http::status::http_version_not_supported, "HTTP version other than 1.0 and 1.1"};
    } else if (ec == http::error::body_limit) {
      why_ = {http::status::payload_too_large, "Content-Length above http.max_body_size (" +
                                                   std::to_string(limits_.max_body_size) +
                                                   " bytes)"};
    } else {
      why_ = {http::status::bad_request, "malformed request head: " + ec.message()};
    }
    return step::refused;
  }
  if (ec == http::error::body_limit) {
    why_ = {http::status::payload_too_large, "request body larger than http.max_body_size (" +
                                                 std::to_string(limits_.max_body_size) + " bytes)"};
  } else if (ec == request_error::too_many_trailers) {
    why_ = {http::status::request_header_fields_too_large,
            "more trailer fields than http.max_header_count (" +
                std::to_string(limits_.max_header_count) + ")"};
  } else if (ec == request_error::trailer_too_large || ec == http::error::header_limit) {
    why_ = {http::status::request_header_fields_too_large,
            "trailer section larger than http.max_header_bytes (" +
                std::to_string(limits_.max_header_bytes) + " bytes)"};
  } else if (ec == request_error::chunk_line_too_long) {
    why_ = {http::status::bad_request, "chunk-size line with extensions longer than " +
                                           std::to_string(max_buffer_) + " bytes"};
  } else if (ec == http::error::partial_message) {
    why_ = {http::status::bad_request, "request body incomplete: the client closed its side"};
  } else {
    why_ = {http::status::bad_request, "malformed request body: " + ec.message()};
  }
  return step::refused;
}

std::variant<protocol::normalized_target, head_refusal> validate_head(
    request_reader::step step, const request_reader& reader) {
  if (step == request_reader::step::refused) return reader.why();
  auto normalized = protocol::normalize_target(reader.parser().get().target());
  if (!normalized)
    return head_refusal{http::status::bad_request,
                        "request target refused: " + normalized.error().message()};
  return std::move(*normalized);
}

}  // namespace cgihost::host
