// The spawn broker's message codec: what one end encodes the other decodes,
// and anything cut short, padded, oversized or of another type is refused.

#include "spawner/broker_wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cgihost::spawner::wire {
namespace {

launch_spec sample_spec() {
  launch_spec s;
  s.program = "/usr/bin/perl";
  s.argv = {"perl", "/srv/www/a.pl", std::string("with\0nul", 8)};
  s.env = {"GATEWAY_INTERFACE=CGI/1.1", "QUERY_STRING=", "PATH=/usr/bin:/bin"};
  s.working_dir = "/srv/www";
  s.limits.address_space = 1ull << 30;
  s.limits.processes = 0;  // set, and zero: not the same as unset
  s.new_process_group = false;
  s.die_with_parent = true;
  s.no_input = true;
  return s;
}

void expect_same(const launch_spec& a, const launch_spec& b) {
  EXPECT_EQ(a.program, b.program);
  EXPECT_EQ(a.argv, b.argv);
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.working_dir, b.working_dir);
  EXPECT_EQ(a.limits.address_space, b.limits.address_space);
  EXPECT_EQ(a.limits.cpu_seconds, b.limits.cpu_seconds);
  EXPECT_EQ(a.limits.open_files, b.limits.open_files);
  EXPECT_EQ(a.limits.processes, b.limits.processes);
  EXPECT_EQ(a.new_process_group, b.new_process_group);
  EXPECT_EQ(a.die_with_parent, b.die_with_parent);
  EXPECT_EQ(a.no_input, b.no_input);
}

TEST(BrokerWire, LaunchRequestRoundTrips) {
  launch_spec spec = sample_spec();
  spec.as = identity{"alice", uid{1001}, gid{1001}, {gid{1001}}, "/home/alice"};
  spec.stdin_fd = 7;
  auto decoded = decode_request(encode(make_launch_request(spec)));
  ASSERT_TRUE(decoded);
  auto* l = std::get_if<launch_request>(&*decoded);
  ASSERT_NE(l, nullptr);
  expect_same(l->spec, spec);
  EXPECT_EQ(l->account, "alice");  // the name only: the broker resolves it
  EXPECT_TRUE(l->has_stdin);
  EXPECT_FALSE(l->spec.as);
  EXPECT_EQ(l->spec.stdin_fd, no_handle);  // descriptors travel beside the message
}

TEST(BrokerWire, LaunchRequestWithoutAccountOrStdin) {
  auto decoded = decode_request(encode(make_launch_request(sample_spec())));
  ASSERT_TRUE(decoded);
  auto& l = std::get<launch_request>(*decoded);
  EXPECT_EQ(l.account, "");
  EXPECT_FALSE(l.has_stdin);
}

// Windows' request: handle values in the front end for the service to
// duplicate out of it, and a forwarded token's value.
TEST(BrokerWire, HandleValuesAndATokenRoundTrip) {
  launch_request r = make_launch_request(sample_spec());
  r.account = "DOMAIN\\alice";
  r.has_stdin = true;
  r.stdin_handle = 0x1a4;
  r.inherit = {0x2c8, 0xffffffffffffff00ull};
  r.token = 0x3e0;
  auto decoded = decode_request(encode(r));
  ASSERT_TRUE(decoded);
  auto& l = std::get<launch_request>(*decoded);
  expect_same(l.spec, r.spec);
  EXPECT_EQ(l.account, "DOMAIN\\alice");
  EXPECT_EQ(l.stdin_handle, 0x1a4u);
  EXPECT_EQ(l.inherit, r.inherit);
  EXPECT_EQ(l.token, 0x3e0u);
  // POSIX: nothing of it (descriptors travel as SCM_RIGHTS).
  auto plain =
      std::get<launch_request>(*decode_request(encode(make_launch_request(sample_spec()))));
  EXPECT_EQ(plain.stdin_handle, 0u);
  EXPECT_TRUE(plain.inherit.empty());
  EXPECT_EQ(plain.token, 0u);
}

TEST(BrokerWire, TooManyInheritedHandlesAreRefused) {
  launch_request r = make_launch_request(sample_spec());
  r.inherit.assign(kMaxItems, 8);
  EXPECT_TRUE(decode_request(encode(r)));
  r.inherit.push_back(8);
  EXPECT_FALSE(decode_request(encode(r)));
}

TEST(BrokerWire, SignalRequestRoundTrips) {
  auto decoded = decode_request(encode(signal_request{4242, 17, 15}));
  ASSERT_TRUE(decoded);
  auto& s = std::get<signal_request>(*decoded);
  EXPECT_EQ(s.pid, 4242);
  EXPECT_EQ(s.serial, 17u);
  EXPECT_EQ(s.sig, 15);
}

TEST(BrokerWire, ReopenRequestRoundTripsAndNamesNoPath) {
  const std::string m = encode(reopen_request{});
  EXPECT_EQ(m.size(), 1u);  // the broker opens only the paths it was given at its start
  auto decoded = decode_request(m);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(std::holds_alternative<reopen_request>(*decoded));
  EXPECT_FALSE(decode_request(m + "/etc/shadow"));
}

TEST(BrokerWire, ReopenRepliesRoundTrip) {
  const std::vector<reopened_log> files{{"/var/log/cgihost/error.log", 0},
                                        {"/var/log/cgihost/access.log", 2}};
  EXPECT_EQ(decode_reopen_reply(encode_reopen_reply(files)), files);
  EXPECT_EQ(decode_reopen_reply(encode_reopen_reply({})), std::vector<reopened_log>{});
  // Not another reply, nor a negative errno.
  EXPECT_FALSE(decode_reopen_reply(encode_signal_reply(true)));
  EXPECT_FALSE(decode_launch_reply(encode_reopen_reply(files)));
  EXPECT_FALSE(decode_reopen_reply(encode_reopen_reply({{"/x", -1}})));
}

TEST(BrokerWire, RepliesRoundTrip) {
  auto started = decode_launch_reply(encode(launch_reply{launch_started{99, 3, true}}));
  ASSERT_TRUE(started);
  auto& s = std::get<launch_started>(*started);
  EXPECT_EQ(s.pid, 99);
  EXPECT_EQ(s.serial, 3u);
  EXPECT_TRUE(s.has_stdin);
  EXPECT_EQ(s.stdout_handle, 0u);

  // Windows: the handles the service duplicated into the front end.
  launch_started w{4100, 0, true, 0x10, 0x14, 0x18, 0x1c, 0x20};
  auto ws = decode_launch_reply(encode(launch_reply{w}));
  ASSERT_TRUE(ws);
  auto& got = std::get<launch_started>(*ws);
  EXPECT_EQ(got.pid, w.pid);
  EXPECT_EQ(got.stdin_handle, 0x10u);
  EXPECT_EQ(got.stdout_handle, 0x14u);
  EXPECT_EQ(got.stderr_handle, 0x18u);
  EXPECT_EQ(got.process_handle, 0x1cu);
  EXPECT_EQ(got.job_handle, 0x20u);

  // A failed logon (Windows' service) is told apart from a refusal.
  auto logon = decode_launch_reply(
      encode(launch_reply{launch_failed{launch_step::logon, 1326,
                                        "S4U logon of alice: The user name or password is "
                                        "incorrect. (1326)"}}));
  ASSERT_TRUE(logon);
  EXPECT_EQ(std::get<launch_failed>(*logon).step, launch_step::logon);
  EXPECT_EQ(std::get<launch_failed>(*logon).error, 1326);

  auto failed = decode_launch_reply(
      encode(launch_reply{launch_failed{launch_step::setgid, 1, "account \"x\" is not allowed"}}));
  ASSERT_TRUE(failed);
  auto& f = std::get<launch_failed>(*failed);
  EXPECT_EQ(f.step, launch_step::setgid);
  EXPECT_EQ(f.error, 1);
  EXPECT_EQ(f.detail, "account \"x\" is not allowed");

  EXPECT_EQ(decode_signal_reply(encode_signal_reply(true)), std::optional<bool>(true));
  EXPECT_EQ(decode_signal_reply(encode_signal_reply(false)), std::optional<bool>(false));
}

// Every message, cut at every byte and with a byte too many, is refused.
TEST(BrokerWire, TruncatedOrPaddedMessagesAreRefused) {
  launch_spec spec = sample_spec();
  spec.as = identity{"alice", uid{1001}, gid{1001}, {}, ""};
  const std::string launch = encode(make_launch_request(spec));
  launch_request with_handles = make_launch_request(spec);
  with_handles.stdin_handle = 4;
  with_handles.inherit = {8, 12};
  with_handles.token = 16;
  const std::string launch_windows = encode(with_handles);
  const std::string started_windows =
      encode(launch_reply{launch_started{1, 0, true, 1, 2, 3, 4, 5}});
  const std::string signal = encode(signal_request{1, 2, 9});
  const std::string started = encode(launch_reply{launch_started{1, 2, false}});
  const std::string failed = encode(launch_reply{launch_failed{launch_step::exec, 2, "x"}});
  const std::string signalled = encode_signal_reply(true);
  const std::string reopen = encode(reopen_request{});
  const std::string reopened = encode_reopen_reply({{"/var/log/a.log", 0}, {"/b", 13}});
  struct kind {
    const std::string* message;
    bool (*decodes)(std::string_view);
  };
  const std::vector<kind> kinds{
      {&launch, [](std::string_view m) { return decode_request(m).has_value(); }},
      {&launch_windows, [](std::string_view m) { return decode_request(m).has_value(); }},
      {&started_windows, [](std::string_view m) { return decode_launch_reply(m).has_value(); }},
      {&signal, [](std::string_view m) { return decode_request(m).has_value(); }},
      {&started, [](std::string_view m) { return decode_launch_reply(m).has_value(); }},
      {&failed, [](std::string_view m) { return decode_launch_reply(m).has_value(); }},
      {&signalled, [](std::string_view m) { return decode_signal_reply(m).has_value(); }},
      {&reopen, [](std::string_view m) { return decode_request(m).has_value(); }},
      {&reopened, [](std::string_view m) { return decode_reopen_reply(m).has_value(); }},
  };
  for (const auto& k : kinds) {
    const std::string& m = *k.message;
    EXPECT_TRUE(k.decodes(m)) << m.substr(0, 1);
    for (std::size_t cut = 0; cut < m.size(); ++cut)
      EXPECT_FALSE(k.decodes(std::string_view(m).substr(0, cut)))
          << "type " << m[0] << " cut at " << cut;
    EXPECT_FALSE(k.decodes(m + '\0')) << "type " << m[0] << " with a byte too many";
  }
}

TEST(BrokerWire, OtherTypesAreRefused) {
  const std::string signal = encode(signal_request{1, 2, 9});
  EXPECT_FALSE(decode_launch_reply(signal));
  EXPECT_FALSE(decode_signal_reply(signal));
  EXPECT_FALSE(decode_request(encode_signal_reply(true)));
  EXPECT_FALSE(decode_request(encode(launch_reply{launch_started{1, 2, false}})));
  EXPECT_FALSE(decode_request("R"));
  EXPECT_FALSE(decode_request(""));
  // A launch_step beyond the last one.
  std::string failed = encode(launch_reply{launch_failed{launch_step::broker, 1, ""}});
  failed[1] = static_cast<char>(static_cast<int>(launch_step::logon));
  EXPECT_TRUE(decode_launch_reply(failed));
  failed[1] = static_cast<char>(static_cast<int>(launch_step::logon) + 1);
  EXPECT_FALSE(decode_launch_reply(failed));
}

TEST(BrokerWire, OversizedMessagesAreRefused) {
  launch_spec spec = sample_spec();
  spec.env.push_back("BIG=" + std::string(kMaxMessage, 'x'));
  const std::string big = encode(make_launch_request(spec));
  ASSERT_GT(big.size(), kMaxMessage);  // the sender checks this and refuses to send (E2BIG)
  EXPECT_FALSE(decode_request(big));
}

TEST(BrokerWire, TooManyItemsAreRefused) {
  launch_spec spec = sample_spec();
  spec.env.assign(kMaxItems, "A=b");
  EXPECT_TRUE(decode_request(encode(make_launch_request(spec))));
  spec.env.push_back("A=b");
  EXPECT_FALSE(decode_request(encode(make_launch_request(spec))));
}

TEST(BrokerWire, WellFormed) {
  struct row {
    const char* what;
    void (*change)(launch_spec&);
    bool ok;
  };
  const std::vector<row> rows{
      {"as sampled", [](launch_spec&) {}, true},
      {"relative program", [](launch_spec& s) { s.program = "perl"; }, false},
      {"NUL in program", [](launch_spec& s) { s.program = std::string("/bin/x\0y", 8); }, false},
      {"empty argv", [](launch_spec& s) { s.argv.clear(); }, false},
      {"relative working dir", [](launch_spec& s) { s.working_dir = "www"; }, false},
      {"no working dir", [](launch_spec& s) { s.working_dir.clear(); }, true},
      {"env without =", [](launch_spec& s) { s.env.push_back("NAME"); }, false},
      {"env with empty name", [](launch_spec& s) { s.env.push_back("=v"); }, false},
      {"env with NUL", [](launch_spec& s) { s.env.push_back(std::string("A=\0", 3)); }, false},
  };
  for (const auto& r : rows) {
    launch_spec s = sample_spec();
    s.argv.pop_back();  // the sample's NUL argument
    r.change(s);
    EXPECT_EQ(well_formed(s), r.ok) << r.what;
  }
}

// The spawner service's token request (Windows) and its two replies; the
// launch decoder refuses a token request (the POSIX broker knows none).
TEST(BrokerWire, TokenRequestsAndRepliesRoundTrip) {
  auto request = decode_token_request(encode(token_request{"NT AUTHORITY\\IUSR"}));
  ASSERT_TRUE(request);
  EXPECT_EQ(request->account, "NT AUTHORITY\\IUSR");
  EXPECT_FALSE(decode_request(encode(token_request{"x"})));
  auto granted = decode_token_reply(encode(token_reply{token_granted{0x1a4}}));
  ASSERT_TRUE(granted);
  ASSERT_TRUE(std::holds_alternative<token_granted>(*granted));
  EXPECT_EQ(std::get<token_granted>(*granted).token_handle, 0x1a4u);
  auto failed = decode_token_reply(
      encode(token_reply{launch_failed{launch_step::logon, 1326, "logon of IUSR: no"}}));
  ASSERT_TRUE(failed);
  ASSERT_TRUE(std::holds_alternative<launch_failed>(*failed));
  EXPECT_EQ(std::get<launch_failed>(*failed).step, launch_step::logon);
  EXPECT_EQ(std::get<launch_failed>(*failed).detail, "logon of IUSR: no");
  // No handle, a launch's reply, bytes left over, cut short: refused.
  EXPECT_FALSE(decode_token_reply(encode(token_reply{token_granted{0}})));
  launch_started started;
  started.process_handle = 4;
  EXPECT_FALSE(decode_token_reply(encode(launch_reply{started})));
  const std::string whole = encode(token_reply{token_granted{8}});
  EXPECT_FALSE(decode_token_reply(whole + "x"));
  EXPECT_FALSE(decode_token_reply(whole.substr(0, whole.size() - 1)));
  EXPECT_FALSE(decode_token_request(encode(token_request{"x"}) + "y"));
}

}  // namespace
}  // namespace cgihost::spawner::wire
