#pragma once
// FastCGI 1.0 (the Open Market specification): records, name-value pairs,
// and incremental decoders for both sides of a connection. Pure: bytes in,
// bytes or events out.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "protocol/result.hpp"

namespace cgihost::protocol::fcgi {

inline constexpr std::uint8_t kVersion1 = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxContent = 65535;
inline constexpr std::uint8_t kKeepConn = 1;  // FCGI_KEEP_CONN in BEGIN_REQUEST flags

enum class record_type : std::uint8_t {
  begin_request = 1,
  abort_request = 2,
  end_request = 3,
  params = 4,
  stdin_stream = 5,
  stdout_stream = 6,
  stderr_stream = 7,
  data = 8,
  get_values = 9,
  get_values_result = 10,
  unknown_type = 11,
};

enum class role : std::uint16_t { responder = 1, authorizer = 2, filter = 3 };

enum class protocol_status : std::uint8_t {
  request_complete = 0,
  cant_mpx_conn = 1,
  overloaded = 2,
  unknown_role = 3,
};

using name_values = std::vector<std::pair<std::string, std::string>>;

// What a peer did wrong. Every value is a reason to drop the connection.
enum class error {
  unsupported_version = 1,  // version byte other than 1
  record_too_long,          // content longer than the configured limit
  unknown_request_id,       // a record for a request that is not active
  end_request_twice,        // END_REQUEST for a request that already ended
  stream_after_end,         // stream bytes after that stream's empty record
  bad_record_body,          // a fixed-size body (BEGIN/END_REQUEST) of the wrong size
  name_value_past_record,   // a name-value length past the end of its record or stream
  unexpected_record_type,   // a type this side never receives (or unknown with a request id)
  request_id_in_use,        // BEGIN_REQUEST for a request that is still active
  params_too_large,         // PARAMS stream past the configured limit
};

const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

struct header {
  std::uint8_t version = kVersion1;
  std::uint8_t type = 0;
  std::uint16_t request_id = 0;
  std::uint16_t content_length = 0;
  std::uint8_t padding_length = 0;
};

// ---- encoding: each appends whole records to `out` ------------------------

// One record; content at most kMaxContent bytes, padded to a multiple of 8.
void append_record(std::string& out, std::uint8_t type, std::uint16_t request_id,
                   std::string_view content);
// A stream's bytes, split into records of at most kMaxContent. No terminator.
void append_stream(std::string& out, record_type type, std::uint16_t request_id,
                   std::string_view data);
// The empty record that ends a stream.
void append_stream_end(std::string& out, record_type type, std::uint16_t request_id);
void append_begin_request(std::string& out, std::uint16_t request_id, role r, std::uint8_t flags);
void append_abort_request(std::string& out, std::uint16_t request_id);
void append_end_request(std::string& out, std::uint16_t request_id, std::uint32_t app_status,
                        protocol_status status);
// The whole PARAMS stream: the pairs, split across records, then the empty record.
void append_params(std::string& out, std::uint16_t request_id, const name_values& params);
void append_get_values(std::string& out, const std::vector<std::string>& names);
void append_get_values_result(std::string& out, const name_values& values);
void append_unknown_type(std::string& out, std::uint8_t type);

// One name-value pair's bytes (1-byte lengths below 128, else 4-byte).
void append_name_value(std::string& out, std::string_view name, std::string_view value);
// All pairs in `body`; name_value_past_record when a length runs past its end.
[[nodiscard]] result<name_values> decode_name_values(std::string_view body);

struct limits {
  std::size_t max_content = kMaxContent;   // longer records: record_too_long
  std::size_t max_params_bytes = 1 << 20;  // a longer PARAMS stream: params_too_large
};

// Framing: gathers one record at a time from input of any split.
class record_reader {
 public:
  explicit record_reader(limits l = {}) : limits_(l) {}
  // Consumes bytes up to the end of one record. When ready(), header() and
  // content() describe it; content() is valid until the next feed and, when
  // the record was whole in `in`, points into `in`.
  std::size_t feed(std::string_view in, std::error_code& ec);
  bool ready() const noexcept { return ready_; }
  const header& hdr() const noexcept { return header_; }
  std::string_view content() const noexcept { return content_; }

 private:
  limits limits_;
  std::string buf_;
  header header_;
  std::string_view content_;
  bool have_header_ = false;
  bool ready_ = false;
};

// ---- the client side: cgihost reading an application's records -----------

struct client_event {
  enum class kind {
    none,
    stdout_data,
    stdout_end,
    stderr_data,
    stderr_end,
    end_request,
    get_values_result,
    unknown_type
  };
  kind what = kind::none;
  std::uint16_t request_id = 0;
  std::string_view data;  // stdout/stderr bytes, valid until the next feed
  std::uint32_t app_status = 0;
  protocol_status status = protocol_status::request_complete;
  name_values values;             // get_values_result
  std::uint8_t unknown_type = 0;  // unknown_type: the type the application did not know
};

class client_decoder {
 public:
  explicit client_decoder(limits l = {}) : reader_(l) {}
  // A request we sent BEGIN_REQUEST for; records for others are errors.
  void begin(std::uint16_t request_id);
  // Consumes bytes; at most one event per call (ev.what == none: need more).
  // A protocol error is reported in ec and the connection must be dropped.
  std::size_t feed(std::string_view in, client_event& ev, std::error_code& ec);
  bool active(std::uint16_t request_id) const { return active_.contains(request_id); }

 private:
  struct request_state {
    bool stdout_ended = false;
    bool stderr_ended = false;
  };
  record_reader reader_;
  std::map<std::uint16_t, request_state> active_;
  std::set<std::uint16_t> ended_;
};

// ---- the responder side: an application reading a web server's records ---

struct server_event {
  enum class kind {
    none,
    begin_request,
    abort_request,
    params,
    stdin_data,
    stdin_end,
    data,
    data_end,
    get_values,
    unknown_type
  };
  kind what = kind::none;
  std::uint16_t request_id = 0;
  fcgi::role role = fcgi::role::responder;
  std::uint16_t raw_role = 0;  // as sent, for UNKNOWN_ROLE answers
  std::uint8_t flags = 0;
  std::string_view data;           // stdin/data bytes, valid until the next feed
  name_values params;              // params: the whole stream, decoded
  std::vector<std::string> names;  // get_values: the names asked for
  std::uint8_t unknown_type = 0;   // unknown_type: answer with UNKNOWN_TYPE
};

class responder_decoder {
 public:
  explicit responder_decoder(limits l = {}) : limits_(l), reader_(l) {}
  std::size_t feed(std::string_view in, server_event& ev, std::error_code& ec);
  // The application sent END_REQUEST: the id may be used again.
  void end(std::uint16_t request_id) { active_.erase(request_id); }
  std::size_t active_requests() const { return active_.size(); }

 private:
  struct request_state {
    std::string params;
    bool params_ended = false;
    bool stdin_ended = false;
    bool data_ended = false;
  };
  limits limits_;
  record_reader reader_;
  std::map<std::uint16_t, request_state> active_;
};

// The answer to GET_VALUES for a responder: each asked-for variable we know
// (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS), unknown names left out.
name_values answer_get_values(const std::vector<std::string>& names, unsigned max_conns,
                              unsigned max_reqs, bool mpxs_conns);

}  // namespace cgihost::protocol::fcgi

template <>
struct std::is_error_code_enum<cgihost::protocol::fcgi::error> : std::true_type {};
