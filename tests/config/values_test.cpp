#include "config/values.hpp"

#if defined(_WIN32)
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif
#include <gtest/gtest.h>

namespace cgihost::config {
namespace {
using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsEveryUnitAndSums) {
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("250ms")), 250ms);
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("30s")), 30s);
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("15m")), 15min);
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("1h")), 1h);
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("1h30m")), 90min);
  EXPECT_EQ(std::get<std::chrono::milliseconds>(parse_duration("0s")), 0ms);
}

TEST(ParseDuration, RefusesEverythingElse) {
  for (const char* bad :
       {"", "15", "15 m", "m", "1.5s", "-1s", "15min", "1d", "s15", "99999999999999h"}) {
    auto r = parse_duration(bad);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << bad;
    EXPECT_NE(std::get<std::string>(r).find(bad), std::string::npos) << std::get<std::string>(r);
  }
}

TEST(ParseSize, AcceptsBytesAndBinarySuffixes) {
  EXPECT_EQ(std::get<std::uint64_t>(parse_size("512")), 512u);
  EXPECT_EQ(std::get<std::uint64_t>(parse_size("64k")), 64u * 1024);
  EXPECT_EQ(std::get<std::uint64_t>(parse_size("16MiB")), 16u * 1024 * 1024);
  EXPECT_EQ(std::get<std::uint64_t>(parse_size("1g")), 1024u * 1024 * 1024);
  for (const char* bad : {"", "k", "1t", "1.5m", "-1", "99999999999999999g"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_size(bad))) << bad;
}

TEST(ParseEndpoint, AcceptsNumericV4AndBracketedV6) {
  auto a = std::get<endpoint>(parse_endpoint("127.0.0.1:8080"));
  EXPECT_EQ(a.address, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_FALSE(a.v6);
  auto b = std::get<endpoint>(parse_endpoint("[::1]:0"));
  EXPECT_EQ(b.address, "::1");
  EXPECT_EQ(b.port, 0);
  EXPECT_TRUE(b.v6);
  EXPECT_EQ(b.to_string(), "[::1]:0");
}

TEST(ParseEndpoint, RefusesNamesMissingPortsAndBadPorts) {
  for (const char* bad :
       {"localhost:80", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "[::1]80",
        "127.0.0.1:65536", "127.0.0.1:-1", "300.0.0.1:80", "127.0.0.1:80x"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_endpoint(bad))) << bad;
}

TEST(ParseCidr, MatchesAddressesInTheRange) {
  auto net = std::get<cidr>(parse_cidr("10.1.0.0/16"));
  std::uint8_t in[4], out[4], mapped[16];
  inet_pton(AF_INET, "10.1.200.3", in);
  inet_pton(AF_INET, "10.2.0.1", out);
  inet_pton(AF_INET6, "::ffff:10.1.2.3", mapped);
  EXPECT_TRUE(net.contains(in, false));
  EXPECT_FALSE(net.contains(out, false));
  EXPECT_TRUE(net.contains(mapped, true));

  auto host = std::get<cidr>(parse_cidr("::1"));
  std::uint8_t loop6[16], other6[16];
  inet_pton(AF_INET6, "::1", loop6);
  inet_pton(AF_INET6, "::2", other6);
  EXPECT_EQ(host.prefix, 128u);
  EXPECT_TRUE(host.contains(loop6, true));
  EXPECT_FALSE(host.contains(other6, true));
  EXPECT_FALSE(host.contains(in, false));

  for (const char* bad : {"10.0.0.0/33", "::1/129", "10.0.0/8", "x/8", "10.0.0.0/"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_cidr(bad))) << bad;
}

TEST(EditDistance, CountsEdits) {
  EXPECT_EQ(edit_distance("max_instance", "max_instances"), 1u);
  EXPECT_EQ(edit_distance("documentroot", "document_root"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

}  // namespace
}  // namespace cgihost::config
