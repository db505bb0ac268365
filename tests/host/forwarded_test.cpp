// The forwarded client (host/dispatch/forwarded.hpp): what a trusted proxy's
// X-Forwarded-* and Forwarded fields make of REMOTE_ADDR, REMOTE_PORT, the
// scheme, SERVER_PORT and SERVER_NAME, and that nobody else's fields count.

#include "host/dispatch/forwarded.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cgihost::host {
namespace {

config::proxy_settings trusting(std::vector<std::string> ranges, bool trust_host = false) {
  config::proxy_settings p;
  for (const auto& r : ranges) p.trusted.push_back(std::get<config::cidr>(config::parse_cidr(r)));
  p.trust_host = trust_host;
  return p;
}

// The fields as a front gives them; the strings outlive the views.
struct fields_of {
  explicit fields_of(std::vector<std::pair<std::string, std::string>> f) : kept(std::move(f)) {
    for (const auto& [n, v] : kept) list.add(n, v);
  }
  std::vector<std::pair<std::string, std::string>> kept;
  header_list list;
};

forwarded_result resolve(std::vector<std::pair<std::string, std::string>> fields,
                         const config::proxy_settings& proxy, std::string_view peer = "127.0.0.1") {
  fields_of f(std::move(fields));
  return resolve_client(f.list, peer, 40000, 8080, proxy);
}

const auto kLoopback = trusting({"127.0.0.1/32"});

TEST(Forwarded, WithoutTrustedProxiesTheClientIsThePeer) {
  auto r = resolve({{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}}, {});
  EXPECT_EQ(r.client.address, "127.0.0.1");
  EXPECT_EQ(r.client.port, 40000);
  EXPECT_FALSE(r.client.https);
  EXPECT_EQ(r.client.scheme, "http");
  EXPECT_EQ(r.client.server_port, 8080);
  EXPECT_FALSE(r.client.forwarded);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Forwarded, AnUntrustedPeersFieldsAreIgnoredEvenMalformed) {
  const auto proxy = trusting({"10.0.0.0/8"});
  for (const char* xff : {"203.0.113.9", "garbage", "unknown"}) {
    auto r = resolve({{"X-Forwarded-For", xff},
                      {"X-Forwarded-Proto", "https"},
                      {"X-Forwarded-Port", "443"},
                      {"Forwarded", "for=198.51.100.1;proto=https"}},
                     proxy);
    EXPECT_EQ(r.client.address, "127.0.0.1") << xff;
    EXPECT_FALSE(r.client.https);
    EXPECT_EQ(r.client.server_port, 8080);
    EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  }
}

TEST(Forwarded, XForwardedForFromATrustedPeer) {
  auto r = resolve({{"X-Forwarded-For", "203.0.113.9"}}, kLoopback);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_EQ(r.client.port, 40000);  // the proxy's: none was forwarded (as nginx real_ip)
  EXPECT_FALSE(r.client.https);
  EXPECT_EQ(r.client.server_port, 8080);  // no scheme or port given: ours
  EXPECT_TRUE(r.client.forwarded);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Forwarded, TheRightmostUntrustedAddressWins) {
  const auto proxy = trusting({"127.0.0.1/32", "10.0.0.0/8"});
  // The client claims 1.1.1.1; the proxies appended what they saw.
  auto r = resolve({{"X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.2,10.1.2.3"}}, proxy);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  // Several fields are one list, in order.
  r = resolve({{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "203.0.113.9, 10.0.0.2"}},
              proxy);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  // All trusted: the leftmost.
  r = resolve({{"X-Forwarded-For", "10.0.0.5, 10.0.0.2"}}, proxy);
  EXPECT_EQ(r.client.address, "10.0.0.5");
  // Empty items and spaces do not count.
  r = resolve({{"X-Forwarded-For", " , 203.0.113.9 ,, "}}, proxy);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Forwarded, AddressesWithPortsAndIpv6) {
  auto r = resolve({{"X-Forwarded-For", "203.0.113.9:5123"}}, kLoopback);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_EQ(r.client.port, 5123);
  r = resolve({{"X-Forwarded-For", "2001:DB8::1"}}, kLoopback);
  EXPECT_EQ(r.client.address, "2001:db8::1");  // canonical text
  r = resolve({{"X-Forwarded-For", "[2001:db8::1]:4711"}}, kLoopback);
  EXPECT_EQ(r.client.address, "2001:db8::1");
  EXPECT_EQ(r.client.port, 4711);
  r = resolve({{"X-Forwarded-For", "::ffff:203.0.113.9"}}, kLoopback);
  EXPECT_EQ(r.client.address, "203.0.113.9");  // IPv4-mapped, as the session prints peers
  // An IPv6 proxy.
  r = resolve({{"X-Forwarded-For", "203.0.113.9"}}, trusting({"::1/128"}), "::1");
  EXPECT_EQ(r.client.address, "203.0.113.9");
}

TEST(Forwarded, SchemeAndPort) {
  auto r = resolve({{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "HTTPS"}}, kLoopback);
  EXPECT_TRUE(r.client.https);
  EXPECT_EQ(r.client.scheme, "https");
  EXPECT_EQ(r.client.server_port, 443);  // the scheme's default
  r = resolve({{"X-Forwarded-Proto", "http"}}, kLoopback);
  EXPECT_EQ(r.client.address, "127.0.0.1");  // only the scheme was forwarded
  EXPECT_FALSE(r.client.https);
  EXPECT_EQ(r.client.server_port, 80);
  r = resolve({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Port", "8443"}}, kLoopback);
  EXPECT_TRUE(r.client.https);
  EXPECT_EQ(r.client.server_port, 8443);
  // A list: the last item, the one the nearest proxy set.
  r = resolve({{"X-Forwarded-Proto", "http, https"}}, kLoopback);
  EXPECT_TRUE(r.client.https);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Forwarded, TheHostOnlyWithTrustHost) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "shop.example.org:8443"}};
  auto r = resolve(fields, kLoopback);
  EXPECT_EQ(r.client.server_name, "");  // SERVER_NAME stays the Host field's
  EXPECT_EQ(r.client.server_port, 443);
  r = resolve(fields, trusting({"127.0.0.1"}, true));
  EXPECT_EQ(r.client.server_name, "shop.example.org");
  EXPECT_EQ(r.client.server_port, 8443);  // the host's port
  fields.emplace_back("X-Forwarded-Port", "9443");
  r = resolve(fields, trusting({"127.0.0.1"}, true));
  EXPECT_EQ(r.client.server_port, 9443);  // X-Forwarded-Port wins over the host's
  r = resolve({{"X-Forwarded-Host", "[2001:db8::5]"}}, trusting({"127.0.0.1"}, true));
  EXPECT_EQ(r.client.server_name, "[2001:db8::5]");
  EXPECT_EQ(r.client.server_port, 8080);
}

TEST(Forwarded, Rfc7239Forwarded) {
  auto r = resolve({{"Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"}}, kLoopback);
  EXPECT_EQ(r.client.address, "192.0.2.60");
  EXPECT_TRUE(r.client.https);
  EXPECT_EQ(r.client.server_port, 443);
  // Quoted IPv6 with a port, names in any case, spaces around ; and ,.
  r = resolve({{"Forwarded", R"(For="[2001:db8:cafe::17]:4711" ; Proto=http)"}}, kLoopback);
  EXPECT_EQ(r.client.address, "2001:db8:cafe::17");
  EXPECT_EQ(r.client.port, 4711);
  EXPECT_FALSE(r.client.https);
  // An IPv6 node some proxies send unquoted.
  r = resolve({{"Forwarded", "for=[2001:db8::2];proto=https"}}, kLoopback);
  EXPECT_EQ(r.client.address, "2001:db8::2");
  EXPECT_TRUE(r.client.https);
  // Quoted IPv4, a quoted-pair inside.
  r = resolve({{"Forwarded", R"(for="198.51.100.\7")"}}, kLoopback);
  EXPECT_EQ(r.client.address, "198.51.100.7");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Forwarded, SeveralElementsTheRightmostUntrustedWithItsOwnProtoAndHost) {
  const auto proxy = trusting({"127.0.0.1/32", "10.0.0.0/8"}, true);
  auto r =
      resolve({{"Forwarded", "for=1.1.1.1;proto=http, for=203.0.113.9;proto=https;host=a.example"},
               {"Forwarded", "for=10.0.0.2;proto=http;host=inner"}},
              proxy);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_TRUE(r.client.https);
  EXPECT_EQ(r.client.server_name, "a.example");
  EXPECT_TRUE(r.warnings.empty());
  // All trusted: the leftmost element.
  r = resolve({{"Forwarded", "for=10.0.0.9;proto=https, for=10.0.0.2"}}, proxy);
  EXPECT_EQ(r.client.address, "10.0.0.9");
  EXPECT_TRUE(r.client.https);
}

TEST(Forwarded, XForwardedFieldsWinOverForwarded) {
  // nginx sets X-Forwarded-For and passes a client's own Forwarded through.
  auto r = resolve({{"Forwarded", "for=6.6.6.6;proto=https"}, {"X-Forwarded-For", "203.0.113.9"}},
                   kLoopback);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_FALSE(r.client.https);
}

// A malformed field from a trusted peer: ignored whole, with a warning; the
// client stays the peer (never part of an address).
void expect_ignored(std::vector<std::pair<std::string, std::string>> fields,
                    const std::string& expected_in_warning) {
  auto r = resolve(fields, kLoopback);
  EXPECT_EQ(r.client.address, "127.0.0.1") << fields[0].second;
  EXPECT_EQ(r.client.port, 40000);
  EXPECT_FALSE(r.client.https);
  ASSERT_EQ(r.warnings.size(), 1u) << fields[0].second;
  EXPECT_NE(r.warnings[0].find(expected_in_warning), std::string::npos) << r.warnings[0];
}

TEST(Forwarded, MalformedXForwardedForIsIgnoredWithAWarning) {
  expect_ignored({{"X-Forwarded-For", "garbage"}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", "203.0.113.999"}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", "203.0.113"}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", "unknown"}}, "obfuscated");
  expect_ignored({{"X-Forwarded-For", "_hidden"}}, "obfuscated");
  expect_ignored({{"X-Forwarded-For", "203.0.113.9:0"}}, "bad port");
  expect_ignored({{"X-Forwarded-For", "203.0.113.9:99999"}}, "bad port");
  expect_ignored({{"X-Forwarded-For", "203.0.113.9:"}}, "empty port");
  expect_ignored({{"X-Forwarded-For", "[2001:db8::1"}}, "no closing ]");
  expect_ignored({{"X-Forwarded-For", "[2001:db8::1]x"}}, "text after ]");
  expect_ignored({{"X-Forwarded-For", "[203.0.113.9]"}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", "fe80::1%eth0"}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", std::string(300, '1')}}, "is not an IP address");
  expect_ignored({{"X-Forwarded-For", "203.0.113.9 extra"}}, "is not an IP address");
  // The rightmost untrusted is garbage: not the one left of it either.
  expect_ignored({{"X-Forwarded-For", "203.0.113.9, nonsense"}}, "nonsense");
}

TEST(Forwarded, MalformedForwardedIsIgnoredWithAWarning) {
  expect_ignored({{"Forwarded", "for=unknown"}}, "obfuscated");
  expect_ignored({{"Forwarded", "for=_hidden;proto=https"}}, "obfuscated");
  expect_ignored({{"Forwarded", R"(for="_gazonk")"}}, "obfuscated");
  expect_ignored({{"Forwarded", R"(for="[2001:db8::1")"}}, "no closing ]");
  expect_ignored({{"Forwarded", "for=2001:db8::1"}}, "without brackets");
  expect_ignored({{"Forwarded", R"(for="203.0.113.9)"}}, "unterminated");
  expect_ignored({{"Forwarded", "for=203.0.113.9;for=1.2.3.4"}}, "twice");
  expect_ignored({{"Forwarded", "for = 203.0.113.9"}}, "name=value");
  expect_ignored({{"Forwarded", "203.0.113.9"}}, "name=value");
  expect_ignored({{"Forwarded", "for="}}, "empty value");
  expect_ignored({{"Forwarded", "for=203.0.113.9 junk"}}, "unexpected");
  expect_ignored({{"Forwarded", "proto=https"}}, "without for=");
  expect_ignored({{"Forwarded", "for=203.0.113.9, proto=https"}}, "without for=");
  expect_ignored({{"Forwarded", std::string("for=\"1.2.3.4\x01\"")}}, "control");
}

TEST(Forwarded, MalformedSchemePortOrHostIsIgnoredAloneWithAWarning) {
  const auto proxy = trusting({"127.0.0.1"}, true);
  auto r = resolve({{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "gopher"}}, proxy);
  EXPECT_EQ(r.client.address, "203.0.113.9");
  EXPECT_FALSE(r.client.https);
  EXPECT_EQ(r.client.server_port, 8080);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("X-Forwarded-Proto \"gopher\" ignored"), std::string::npos);

  r = resolve({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Port", "443x"}}, proxy);
  EXPECT_TRUE(r.client.https);
  EXPECT_EQ(r.client.server_port, 443);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("X-Forwarded-Port"), std::string::npos);

  for (const char* host : {"bad host", "a.example:", "a.example:70000", "[::1", "<script>"}) {
    r = resolve({{"X-Forwarded-Host", host}}, proxy);
    EXPECT_EQ(r.client.server_name, "") << host;
    EXPECT_EQ(r.client.server_port, 8080) << host;
    EXPECT_EQ(r.warnings.size(), 1u) << host;
  }
}

TEST(Forwarded, AWarningShowsTheValueSafely) {
  auto r = resolve({{"X-Forwarded-For", std::string("evil\r\nline") + std::string(200, 'x')}},
                   kLoopback);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].find('\r'), std::string::npos);
  EXPECT_EQ(r.warnings[0].find('\n'), std::string::npos);
  EXPECT_LT(r.warnings[0].size(), 300u);
}

}  // namespace
}  // namespace cgihost::host
