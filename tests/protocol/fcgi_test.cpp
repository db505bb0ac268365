#include "protocol/fcgi.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <sstream>

#include "protocol/cgi_response.hpp"

namespace cgihost::protocol::fcgi {
namespace {

using namespace std::string_literals;

// Feeds `bytes` to a decoder in pieces of `step` bytes (0: all at once) and
// collects every event; stops at the first error.
template <class Decoder, class Event>
std::pair<std::vector<Event>, std::error_code> decode(Decoder& d, std::string_view bytes,
                                                      std::size_t step) {
  std::vector<Event> events;
  std::error_code ec;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view piece = bytes.substr(pos, step ? step : bytes.size());
    // Copy each piece so no event can point into the caller's buffer by luck.
    std::string owned(piece);
    std::string_view rest = owned;
    while (!rest.empty()) {
      Event ev;
      std::size_t n = d.feed(rest, ev, ec);
      if (ec) return {events, ec};
      if (ev.what != Event::kind::none) {
        // Data views are only valid until the next feed: keep a copy.
        events.push_back(ev);
        static std::deque<std::string> kept;  // lives as long as the test binary
        events.back().data = kept.emplace_back(ev.data);
      }
      rest.remove_prefix(n);
    }
    pos += piece.size();
  }
  return {events, ec};
}

std::string stream_of(const std::vector<client_event>& evs, client_event::kind k) {
  std::string out;
  for (const auto& e : evs)
    if (e.what == k) out += e.data;
  return out;
}

TEST(FcgiEncode, BeginRequestIsByteExact) {
  std::string out;
  append_begin_request(out, 1, role::responder, kKeepConn);
  EXPECT_EQ(out,
            "\x01\x01\x00\x01\x00\x08\x00\x00"
            "\x00\x01\x01\x00\x00\x00\x00\x00"s);
}

TEST(FcgiEncode, EndRequestAndAbortAreByteExact) {
  std::string out;
  append_end_request(out, 0x0102, 0x01020304, protocol_status::overloaded);
  append_abort_request(out, 7);
  EXPECT_EQ(out,
            "\x01\x03\x01\x02\x00\x08\x00\x00"
            "\x01\x02\x03\x04\x02\x00\x00\x00"
            "\x01\x02\x00\x07\x00\x00\x00\x00"s);
}

TEST(FcgiEncode, RecordsArePaddedToEightBytes) {
  std::string out;
  append_record(out, static_cast<std::uint8_t>(record_type::stdout_stream), 1, "hello");
  EXPECT_EQ(out, "\x01\x06\x00\x01\x00\x05\x03\x00hello\x00\x00\x00"s);
  EXPECT_EQ(out.size() % 8, 0u);
}

TEST(FcgiEncode, LongStreamsAreSplitIntoRecords) {
  std::string data(70000, 'x');
  std::string out;
  append_stream(out, record_type::stdin_stream, 3, data);
  // 65528 + 4472 content bytes, each record padded to 8.
  ASSERT_EQ(out.size(), 8 + 65528 + 8 + 4472u);
  EXPECT_EQ(static_cast<unsigned char>(out[4]) * 256 + static_cast<unsigned char>(out[5]), 65528);
  EXPECT_EQ(static_cast<unsigned char>(out[6]), 0);
}

TEST(FcgiEncode, NameValueLengthsUseOneOrFourBytes) {
  std::string out;
  append_name_value(out, "AB", std::string(200, 'v'));
  ASSERT_EQ(out.size(), 1 + 4 + 2 + 200u);
  EXPECT_EQ(out.substr(0, 5), "\x02\x80\x00\x00\xc8"s);
  auto back = decode_name_values(out);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at(0).first, "AB");
  EXPECT_EQ(back->at(0).second.size(), 200u);
}

TEST(FcgiEncode, NameValueLengthPastTheRecordIsAnError) {
  EXPECT_EQ(decode_name_values("\x05\x01"
                               "abc"s)
                .error(),
            make_error_code(error::name_value_past_record));
  EXPECT_EQ(decode_name_values("\x80\x00"s).error(),
            make_error_code(error::name_value_past_record));
  EXPECT_EQ(decode_name_values("\x01\x80\x00\x00\x10"
                               "a"s)
                .error(),
            make_error_code(error::name_value_past_record));
  auto empty = decode_name_values("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// What cgihost sends to an application, decoded by the responder side.
std::string client_request(std::uint16_t id, const name_values& params, const std::string& body) {
  std::string out;
  append_begin_request(out, id, role::responder, kKeepConn);
  append_params(out, id, params);
  append_stream(out, record_type::stdin_stream, id, body);
  append_stream_end(out, record_type::stdin_stream, id);
  return out;
}

class FcgiRoundTrip : public ::testing::TestWithParam<std::size_t> {};

TEST_P(FcgiRoundTrip, ResponderDecodesWhatTheClientEncodes) {
  name_values params = {
      {"SCRIPT_FILENAME", "/srv/x.php"}, {"QUERY_STRING", ""}, {std::string(300, 'N'), "long"}};
  for (int i = 0; i < 3000; ++i)
    params.emplace_back("VAR" + std::to_string(i), std::string(i % 50, 'v'));
  std::string body(100000, 'b');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 31);
  std::string bytes = client_request(5, params, body);

  responder_decoder d;
  auto [events, ec] = decode<responder_decoder, server_event>(d, bytes, GetParam());
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[0].what, server_event::kind::begin_request);
  EXPECT_EQ(events[0].request_id, 5);
  EXPECT_EQ(events[0].role, role::responder);
  EXPECT_EQ(events[0].flags, kKeepConn);
  EXPECT_EQ(events[1].what, server_event::kind::params);
  EXPECT_EQ(events[1].params, params);
  std::string got;
  for (std::size_t i = 2; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].what, server_event::kind::stdin_data);
    got += events[i].data;
  }
  EXPECT_EQ(events.back().what, server_event::kind::stdin_end);
  EXPECT_TRUE(got == body);
}

TEST_P(FcgiRoundTrip, ClientDecodesWhatTheResponderEncodes) {
  std::string out_data = "Content-Type: text/plain\r\n\r\n" + std::string(150000, 'o');
  std::string bytes;
  append_stream(bytes, record_type::stderr_stream, 9, "warning: x\n");
  append_stream(bytes, record_type::stdout_stream, 9, out_data);
  append_stream_end(bytes, record_type::stdout_stream, 9);
  append_stream_end(bytes, record_type::stderr_stream, 9);
  append_end_request(bytes, 9, 3, protocol_status::request_complete);

  client_decoder d;
  d.begin(9);
  auto [events, ec] = decode<client_decoder, client_event>(d, bytes, GetParam());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(stream_of(events, client_event::kind::stdout_data), out_data);
  EXPECT_EQ(stream_of(events, client_event::kind::stderr_data), "warning: x\n");
  ASSERT_EQ(events.back().what, client_event::kind::end_request);
  EXPECT_EQ(events.back().app_status, 3u);
  EXPECT_EQ(events.back().status, protocol_status::request_complete);
  EXPECT_FALSE(d.active(9));
}

INSTANTIATE_TEST_SUITE_P(Splits, FcgiRoundTrip, ::testing::Values(0, 1, 7, 8, 9, 4096));

TEST(FcgiClient, MultiplexedRequestsKeepTheirIds) {
  std::string bytes;
  append_stream(bytes, record_type::stdout_stream, 1, "one-a ");
  append_stream(bytes, record_type::stdout_stream, 2, "two-a ");
  append_stream(bytes, record_type::stdout_stream, 1, "one-b");
  append_end_request(bytes, 2, 0, protocol_status::request_complete);
  append_stream(bytes, record_type::stdout_stream, 1, "!");
  append_end_request(bytes, 1, 0, protocol_status::request_complete);
  client_decoder d;
  d.begin(1);
  d.begin(2);
  auto [events, ec] = decode<client_decoder, client_event>(d, bytes, 3);
  ASSERT_FALSE(ec);
  std::string one, two;
  for (auto& e : events)
    if (e.what == client_event::kind::stdout_data) (e.request_id == 1 ? one : two) += e.data;
  EXPECT_EQ(one, "one-a one-b!");
  EXPECT_EQ(two, "two-a ");
}

struct bad_input {
  const char* name;
  std::string bytes;
  error expected;
};

std::string rec(record_type t, std::uint16_t id, std::string_view content) {
  std::string out;
  append_record(out, static_cast<std::uint8_t>(t), id, content);
  return out;
}

std::string end_req(std::uint16_t id) {
  std::string out;
  append_end_request(out, id, 0, protocol_status::request_complete);
  return out;
}

void PrintTo(const bad_input& c, std::ostream* os) { *os << c.name; }

class FcgiClientRejects : public ::testing::TestWithParam<bad_input> {};

TEST_P(FcgiClientRejects, WithATypedError) {
  for (std::size_t step : {0, 1}) {
    client_decoder d(limits{1000, 1 << 20});
    d.begin(1);
    auto [events, ec] = decode<client_decoder, client_event>(d, GetParam().bytes, step);
    EXPECT_EQ(ec, make_error_code(GetParam().expected)) << "step " << step << ": " << ec.message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Peer, FcgiClientRejects,
    ::testing::Values(
        bad_input{"unknown_version", "\x02\x06\x00\x01\x00\x00\x00\x00"s,
                  error::unsupported_version},
        bad_input{"unknown_request_id", rec(record_type::stdout_stream, 2, "x"),
                  error::unknown_request_id},
        bad_input{"end_twice", end_req(1) + end_req(1), error::end_request_twice},
        bad_input{
            "stdout_after_end",
            rec(record_type::stdout_stream, 1, "") + rec(record_type::stdout_stream, 1, "late"),
            error::stream_after_end},
        bad_input{
            "stderr_after_end",
            rec(record_type::stderr_stream, 1, "") + rec(record_type::stderr_stream, 1, "late"),
            error::stream_after_end},
        bad_input{"record_too_long", rec(record_type::stdout_stream, 1, std::string(1001, 'x')),
                  error::record_too_long},
        bad_input{"short_end_request", rec(record_type::end_request, 1, "\x00\x00"s),
                  error::bad_record_body},
        bad_input{"begin_to_client", rec(record_type::begin_request, 1, std::string(8, '\0')),
                  error::unexpected_record_type},
        bad_input{"bad_values_result",
                  rec(record_type::get_values_result, 0,
                      "\x09\x01"
                      "AB"s),
                  error::name_value_past_record}),
    [](const auto& p) { return std::string(p.param.name); });

class FcgiResponderRejects : public ::testing::TestWithParam<bad_input> {};

TEST_P(FcgiResponderRejects, WithATypedError) {
  for (std::size_t step : {0, 1}) {
    responder_decoder d(limits{65535, 64});
    auto [events, ec] = decode<responder_decoder, server_event>(d, GetParam().bytes, step);
    EXPECT_EQ(ec, make_error_code(GetParam().expected)) << "step " << step << ": " << ec.message();
  }
}

std::string begin(std::uint16_t id) {
  std::string out;
  append_begin_request(out, id, role::responder, 0);
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Peer, FcgiResponderRejects,
    ::testing::Values(bad_input{"stdin_for_unknown_id", rec(record_type::stdin_stream, 4, "x"),
                                error::unknown_request_id},
                      bad_input{"begin_twice", begin(1) + begin(1), error::request_id_in_use},
                      bad_input{"params_after_end",
                                begin(1) + rec(record_type::params, 1, "") +
                                    rec(record_type::params, 1,
                                        "\x01\x01"
                                        "ab"s),
                                error::stream_after_end},
                      bad_input{"stdin_after_end",
                                begin(1) + rec(record_type::stdin_stream, 1, "") +
                                    rec(record_type::stdin_stream, 1, "x"),
                                error::stream_after_end},
                      bad_input{"params_past_record",
                                begin(1) +
                                    rec(record_type::params, 1,
                                        "\x04\x04"
                                        "abc"s) +
                                    rec(record_type::params, 1, ""),
                                error::name_value_past_record},
                      bad_input{"params_too_large",
                                begin(1) + rec(record_type::params, 1, std::string(65, 'p')),
                                error::params_too_large},
                      bad_input{"short_begin", rec(record_type::begin_request, 1, "\x00\x01"s),
                                error::bad_record_body},
                      bad_input{"stdout_to_responder",
                                begin(1) + rec(record_type::stdout_stream, 1, "x"),
                                error::unexpected_record_type}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(FcgiResponder, AbortForAnEndedRequestIsIgnored) {
  std::string bytes = begin(1);
  append_abort_request(bytes, 1);
  append_abort_request(bytes, 2);  // crossed our END_REQUEST on the wire
  responder_decoder d;
  auto [events, ec] = decode<responder_decoder, server_event>(d, bytes, 0);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].what, server_event::kind::abort_request);
  EXPECT_EQ(events[1].request_id, 1);
}

TEST(FcgiResponder, EndFreesTheIdForReuse) {
  responder_decoder d;
  auto [e1, ec1] = decode<responder_decoder, server_event>(d, begin(1), 0);
  ASSERT_FALSE(ec1);
  d.end(1);
  auto [e2, ec2] = decode<responder_decoder, server_event>(d, begin(1), 0);
  EXPECT_FALSE(ec2) << ec2.message();
}

TEST(FcgiManagement, GetValuesIsAskedAndAnswered) {
  std::string ask;
  append_get_values(ask, {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS", "OTHER"});
  responder_decoder r;
  auto [asked, ec] = decode<responder_decoder, server_event>(r, ask, 0);
  ASSERT_FALSE(ec);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].what, server_event::kind::get_values);
  EXPECT_EQ(asked[0].names.size(), 4u);

  std::string answer;
  append_get_values_result(answer, answer_get_values(asked[0].names, 10, 50, true));
  client_decoder c;
  auto [got, ec2] = decode<client_decoder, client_event>(c, answer, 1);
  ASSERT_FALSE(ec2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].what, client_event::kind::get_values_result);
  EXPECT_EQ(
      got[0].values,
      (name_values{{"FCGI_MAX_CONNS", "10"}, {"FCGI_MAX_REQS", "50"}, {"FCGI_MPXS_CONNS", "1"}}));
}

TEST(FcgiManagement, UnknownManagementTypesAreReportedForAnAnswer) {
  std::string bytes = rec(static_cast<record_type>(42), 0, "");
  responder_decoder r;
  auto [events, ec] = decode<responder_decoder, server_event>(r, bytes, 0);
  ASSERT_FALSE(ec);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, server_event::kind::unknown_type);
  EXPECT_EQ(events[0].unknown_type, 42);

  std::string answer;
  append_unknown_type(answer, 42);
  client_decoder c;
  auto [got, ec2] = decode<client_decoder, client_event>(c, answer, 0);
  ASSERT_FALSE(ec2);
  EXPECT_EQ(got.at(0).what, client_event::kind::unknown_type);
  EXPECT_EQ(got.at(0).unknown_type, 42);
}

// Bytes php-cgi 8.2 really sent (tests/data/record_php_cgi.py records them).
TEST(FcgiCaptured, PhpCgiAnswerDecodesAndParses) {
  std::ifstream in(std::string(CGIHOST_SOURCE_DIR) + "/tests/data/php-cgi-hello.fcgi",
                   std::ios::binary);
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  for (std::size_t step : {0, 1, 5}) {
    client_decoder d;
    d.begin(1);
    auto [events, ec] = decode<client_decoder, client_event>(d, bytes, step);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(stream_of(events, client_event::kind::stderr_data), "a line on stderr\n");
    std::string out = stream_of(events, client_event::kind::stdout_data);
    ASSERT_EQ(events.back().what, client_event::kind::end_request);
    EXPECT_EQ(events.back().app_status, 0u);

    cgi::response_parser p;
    std::size_t n = p.feed(out);
    ASSERT_EQ(p.current(), cgi::response_parser::state::head);
    EXPECT_EQ(p.head().status, 200u);
    EXPECT_EQ(p.head().headers,
              (name_values{{"X-Test", "captured"}, {"Content-type", "text/html; charset=UTF-8"}}));
    EXPECT_EQ(out.substr(n), "hello from php x=1\n");
  }
}

}  // namespace
}  // namespace cgihost::protocol::fcgi
