#include "protocol/fcgi.hpp"

#include <algorithm>
#include <cassert>
#include <optional>

namespace cgihost::protocol::fcgi {
namespace {

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cgihost.fcgi"; }
  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::unsupported_version:
        return "FastCGI record with an unsupported version";
      case error::record_too_long:
        return "FastCGI record longer than the limit";
      case error::unknown_request_id:
        return "FastCGI record for a request that is not active";
      case error::end_request_twice:
        return "END_REQUEST for a request that already ended";
      case error::stream_after_end:
        return "FastCGI stream data after the end of the stream";
      case error::bad_record_body:
        return "FastCGI record body of the wrong size";
      case error::name_value_past_record:
        return "FastCGI name-value length past the end of its record";
      case error::unexpected_record_type:
        return "FastCGI record of a type this side does not receive";
      case error::request_id_in_use:
        return "BEGIN_REQUEST for a request id already in use";
      case error::params_too_large:
        return "FastCGI PARAMS larger than the limit";
    }
    return "unknown FastCGI error";
  }
};

void put_header(std::string& out, std::uint8_t type, std::uint16_t id, std::size_t length,
                std::uint8_t padding) {
  char h[kHeaderSize] = {static_cast<char>(kVersion1),
                         static_cast<char>(type),
                         static_cast<char>(id >> 8),
                         static_cast<char>(id & 0xff),
                         static_cast<char>((length >> 8) & 0xff),
                         static_cast<char>(length & 0xff),
                         static_cast<char>(padding),
                         0};
  out.append(h, kHeaderSize);
}

std::uint32_t read_length(std::string_view s, std::size_t& pos, bool& ok) {
  if (pos >= s.size()) {
    ok = false;
    return 0;
  }
  auto b0 = static_cast<unsigned char>(s[pos]);
  if ((b0 & 0x80) == 0) {
    ++pos;
    return b0;
  }
  if (pos + 4 > s.size()) {
    ok = false;
    return 0;
  }
  std::uint32_t n = (static_cast<std::uint32_t>(b0 & 0x7f) << 24) |
                    (static_cast<std::uint32_t>(static_cast<unsigned char>(s[pos + 1])) << 16) |
                    (static_cast<std::uint32_t>(static_cast<unsigned char>(s[pos + 2])) << 8) |
                    static_cast<std::uint32_t>(static_cast<unsigned char>(s[pos + 3]));
  pos += 4;
  return n;
}

void append_length(std::string& out, std::size_t n) {
  if (n < 128) {
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(((n >> 24) & 0x7f) | 0x80));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  }
}

// One whole record from the reader, when `in` completes one.
struct record {
  header h;
  std::string_view content;
  record_type type() const { return static_cast<record_type>(h.type); }
};

std::optional<record> next_record(record_reader& reader, std::string_view in, std::size_t& used,
                                  std::error_code& ec) {
  used = reader.feed(in, ec);
  if (ec || !reader.ready()) return std::nullopt;
  return record{reader.hdr(), reader.content()};
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

void append_record(std::string& out, std::uint8_t type, std::uint16_t request_id,
                   std::string_view content) {
  assert(content.size() <= kMaxContent);
  auto padding = static_cast<std::uint8_t>((8 - content.size() % 8) % 8);
  put_header(out, type, request_id, content.size(), padding);
  out.append(content);
  out.append(padding, '\0');
}

void append_stream(std::string& out, record_type type, std::uint16_t request_id,
                   std::string_view data) {
  // 65528 keeps every full record a multiple of 8: no padding between them.
  constexpr std::size_t kChunk = kMaxContent - kMaxContent % 8;
  while (!data.empty()) {
    std::size_t n = std::min(kChunk, data.size());
    append_record(out, static_cast<std::uint8_t>(type), request_id, data.substr(0, n));
    data.remove_prefix(n);
  }
}

void append_stream_end(std::string& out, record_type type, std::uint16_t request_id) {
  append_record(out, static_cast<std::uint8_t>(type), request_id, {});
}

void append_begin_request(std::string& out, std::uint16_t request_id, role r, std::uint8_t flags) {
  auto rv = static_cast<std::uint16_t>(r);
  char body[8] = {static_cast<char>(rv >> 8),
                  static_cast<char>(rv & 0xff),
                  static_cast<char>(flags),
                  0,
                  0,
                  0,
                  0,
                  0};
  append_record(out, static_cast<std::uint8_t>(record_type::begin_request), request_id,
                std::string_view(body, 8));
}

void append_abort_request(std::string& out, std::uint16_t request_id) {
  append_record(out, static_cast<std::uint8_t>(record_type::abort_request), request_id, {});
}

void append_end_request(std::string& out, std::uint16_t request_id, std::uint32_t app_status,
                        protocol_status status) {
  char body[8] = {static_cast<char>(app_status >> 24),
                  static_cast<char>((app_status >> 16) & 0xff),
                  static_cast<char>((app_status >> 8) & 0xff),
                  static_cast<char>(app_status & 0xff),
                  static_cast<char>(status),
                  0,
                  0,
                  0};
  append_record(out, static_cast<std::uint8_t>(record_type::end_request), request_id,
                std::string_view(body, 8));
}

void append_name_value(std::string& out, std::string_view name, std::string_view value) {
  append_length(out, name.size());
  append_length(out, value.size());
  out.append(name);
  out.append(value);
}

void append_params(std::string& out, std::uint16_t request_id, const name_values& params) {
  std::string body;
  for (const auto& [n, v] : params) append_name_value(body, n, v);
  append_stream(out, record_type::params, request_id, body);
  append_stream_end(out, record_type::params, request_id);
}

void append_get_values(std::string& out, const std::vector<std::string>& names) {
  std::string body;
  for (const auto& n : names) append_name_value(body, n, "");
  append_record(out, static_cast<std::uint8_t>(record_type::get_values), 0, body);
}

void append_get_values_result(std::string& out, const name_values& values) {
  std::string body;
  for (const auto& [n, v] : values) append_name_value(body, n, v);
  append_record(out, static_cast<std::uint8_t>(record_type::get_values_result), 0, body);
}

void append_unknown_type(std::string& out, std::uint8_t type) {
  char body[8] = {static_cast<char>(type), 0, 0, 0, 0, 0, 0, 0};
  append_record(out, static_cast<std::uint8_t>(record_type::unknown_type), 0,
                std::string_view(body, 8));
}

result<name_values> decode_name_values(std::string_view body) {
  name_values out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    bool ok = true;
    std::uint32_t nl = read_length(body, pos, ok);
    std::uint32_t vl = ok ? read_length(body, pos, ok) : 0;
    if (!ok || nl > body.size() - pos || vl > body.size() - pos - nl)
      return error::name_value_past_record;
    out.emplace_back(std::string(body.substr(pos, nl)), std::string(body.substr(pos + nl, vl)));
    pos += nl + vl;
  }
  return out;
}

std::size_t record_reader::feed(std::string_view in, std::error_code& ec) {
  ec = {};
  if (ready_) {
    ready_ = false;
    have_header_ = false;
    buf_.clear();
    content_ = {};
  }
  std::size_t used = 0;
  if (!have_header_) {
    // Fast path: a whole record at the start of `in` is used in place.
    std::size_t need = kHeaderSize - buf_.size();
    std::size_t take = std::min(need, in.size());
    std::string_view hbytes;
    if (buf_.empty() && in.size() >= kHeaderSize) {
      hbytes = in.substr(0, kHeaderSize);
    } else {
      buf_.append(in.substr(0, take));
      if (buf_.size() < kHeaderSize) return take;
      hbytes = buf_;
    }
    used = take;
    auto u = [&](std::size_t i) { return static_cast<unsigned char>(hbytes[i]); };
    header_.version = u(0);
    header_.type = u(1);
    header_.request_id = static_cast<std::uint16_t>((u(2) << 8) | u(3));
    header_.content_length = static_cast<std::uint16_t>((u(4) << 8) | u(5));
    header_.padding_length = u(6);
    have_header_ = true;
    buf_.clear();
    if (header_.version != kVersion1) {
      ec = error::unsupported_version;
      return used;
    }
    if (header_.content_length > limits_.max_content) {
      ec = error::record_too_long;
      return used;
    }
    std::size_t body = std::size_t{header_.content_length} + header_.padding_length;
    if (in.size() - used >= body) {
      content_ = in.substr(used, header_.content_length);
      ready_ = true;
      return used + body;
    }
  }
  std::size_t body = std::size_t{header_.content_length} + header_.padding_length;
  std::size_t take = std::min(body - buf_.size(), in.size() - used);
  buf_.append(in.substr(used, take));
  used += take;
  if (buf_.size() == body) {
    content_ = std::string_view(buf_).substr(0, header_.content_length);
    ready_ = true;
  }
  return used;
}

void client_decoder::begin(std::uint16_t request_id) {
  active_[request_id] = {};
  ended_.erase(request_id);
}

std::size_t client_decoder::feed(std::string_view in, client_event& ev, std::error_code& ec) {
  ev = {};
  std::size_t used = 0;
  auto rec = next_record(reader_, in, used, ec);
  if (!rec) return used;
  const header& h = rec->h;
  const std::string_view content = rec->content;
  const record_type type = rec->type();
  ev.request_id = h.request_id;

  if (h.request_id == 0) {
    if (type == record_type::get_values_result) {
      auto nv = decode_name_values(content);
      if (!nv) {
        ec = nv.error();
        return used;
      }
      ev.what = client_event::kind::get_values_result;
      ev.values = std::move(*nv);
    } else if (type == record_type::unknown_type) {
      if (content.size() != 8) {
        ec = error::bad_record_body;
        return used;
      }
      ev.what = client_event::kind::unknown_type;
      ev.unknown_type = static_cast<std::uint8_t>(content[0]);
    } else {
      ec = error::unexpected_record_type;
    }
    return used;
  }

  if (type != record_type::stdout_stream && type != record_type::stderr_stream &&
      type != record_type::end_request) {
    ec = error::unexpected_record_type;
    return used;
  }
  auto it = active_.find(h.request_id);
  if (it == active_.end()) {
    ec = (type == record_type::end_request && ended_.contains(h.request_id))
             ? error::end_request_twice
             : error::unknown_request_id;
    return used;
  }
  request_state& st = it->second;
  switch (type) {
    case record_type::stdout_stream:
    case record_type::stderr_stream: {
      bool out = type == record_type::stdout_stream;
      bool& ended = out ? st.stdout_ended : st.stderr_ended;
      if (ended) {
        ec = error::stream_after_end;
        return used;
      }
      if (content.empty()) {
        ended = true;
        ev.what = out ? client_event::kind::stdout_end : client_event::kind::stderr_end;
      } else {
        ev.what = out ? client_event::kind::stdout_data : client_event::kind::stderr_data;
        ev.data = content;
      }
      break;
    }
    case record_type::end_request: {
      if (content.size() != 8) {
        ec = error::bad_record_body;
        return used;
      }
      auto u = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(content[i]));
      };
      ev.what = client_event::kind::end_request;
      ev.app_status = (u(0) << 24) | (u(1) << 16) | (u(2) << 8) | u(3);
      ev.status = static_cast<protocol_status>(u(4));
      active_.erase(it);
      ended_.insert(h.request_id);
      break;
    }
    default:
      break;
  }
  return used;
}

std::size_t responder_decoder::feed(std::string_view in, server_event& ev, std::error_code& ec) {
  ev = {};
  std::size_t used = 0;
  auto rec = next_record(reader_, in, used, ec);
  if (!rec) return used;
  const header& h = rec->h;
  const std::string_view content = rec->content;
  const record_type type = rec->type();
  ev.request_id = h.request_id;

  if (h.request_id == 0) {
    // Management records (spec §4.2 and §4.3).
    if (type == record_type::get_values) {
      auto nv = decode_name_values(content);
      if (!nv) {
        ec = nv.error();
        return used;
      }
      ev.what = server_event::kind::get_values;
      for (auto& [n, v] : *nv) ev.names.push_back(std::move(n));
    } else {
      ev.what = server_event::kind::unknown_type;
      ev.unknown_type = h.type;
    }
    return used;
  }

  if (type == record_type::begin_request) {
    if (content.size() != 8) {
      ec = error::bad_record_body;
      return used;
    }
    if (active_.contains(h.request_id)) {
      ec = error::request_id_in_use;
      return used;
    }
    active_[h.request_id] = {};
    ev.what = server_event::kind::begin_request;
    ev.raw_role = static_cast<std::uint16_t>((static_cast<unsigned char>(content[0]) << 8) |
                                             static_cast<unsigned char>(content[1]));
    ev.role = static_cast<fcgi::role>(ev.raw_role);
    ev.flags = static_cast<std::uint8_t>(content[2]);
    return used;
  }

  auto it = active_.find(h.request_id);
  if (it == active_.end()) {
    // An abort may cross our END_REQUEST on the wire: that one is not an error.
    if (type != record_type::abort_request) ec = error::unknown_request_id;
    return used;
  }
  request_state& st = it->second;
  switch (type) {
    case record_type::abort_request:
      ev.what = server_event::kind::abort_request;
      break;
    case record_type::params:
      if (st.params_ended) {
        ec = error::stream_after_end;
        break;
      }
      if (!content.empty()) {
        if (st.params.size() + content.size() > limits_.max_params_bytes) {
          ec = error::params_too_large;
          break;
        }
        st.params.append(content);
        break;  // the pairs are delivered whole, at the end of the stream
      } else {
        st.params_ended = true;
        auto nv = decode_name_values(st.params);
        std::string().swap(st.params);
        if (!nv) {
          ec = nv.error();
          break;
        }
        ev.what = server_event::kind::params;
        ev.params = std::move(*nv);
      }
      break;
    case record_type::stdin_stream:
    case record_type::data: {
      bool is_stdin = type == record_type::stdin_stream;
      bool& ended = is_stdin ? st.stdin_ended : st.data_ended;
      if (ended) {
        ec = error::stream_after_end;
        break;
      }
      if (content.empty()) {
        ended = true;
        ev.what = is_stdin ? server_event::kind::stdin_end : server_event::kind::data_end;
      } else {
        ev.what = is_stdin ? server_event::kind::stdin_data : server_event::kind::data;
        ev.data = content;
      }
      break;
    }
    default:
      ec = error::unexpected_record_type;
      break;
  }
  return used;
}

name_values answer_get_values(const std::vector<std::string>& names, unsigned max_conns,
                              unsigned max_reqs, bool mpxs_conns) {
  name_values out;
  for (const auto& n : names) {
    if (n == "FCGI_MAX_CONNS")
      out.emplace_back(n, std::to_string(max_conns));
    else if (n == "FCGI_MAX_REQS")
      out.emplace_back(n, std::to_string(max_reqs));
    else if (n == "FCGI_MPXS_CONNS")
      out.emplace_back(n, mpxs_conns ? "1" : "0");
  }
  return out;
}

}  // namespace cgihost::protocol::fcgi
