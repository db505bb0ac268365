// The X-IIS-WindowsAuthToken header: the hexadecimal handle value IIS's
// HttpPlatformHandler sends (formatted by _ui64toa_s with radix 16).

#include "protocol/iis_token.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cgihost::protocol::iis {
namespace {

TEST(IisToken, ReadsTheHandleAsHttpPlatformHandlerPrintsIt) {
  const std::pair<const char*, std::uint64_t> cases[] = {
      {"2f4", 0x2f4},        {"2F4", 0x2f4}, {"4", 4},
      {"1a2b0", 0x1a2b0},    {"000008", 8},  {"fffffffc", 0xfffffffcu},
      {"ABCDEF0", 0xabcdef0}};
  for (auto [text, value] : cases) {
    auto r = parse_token_handle(text);
    ASSERT_TRUE(r) << text << ": " << r.error().message();
    EXPECT_EQ(*r, value) << text;
  }
}

TEST(IisToken, RefusesAnEmptyValue) {
  auto r = parse_token_handle("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), token_error::empty);
  EXPECT_EQ(r.error().message(), "empty token handle");
}

TEST(IisToken, RefusesWhatIsNotPlainHex) {
  for (const char* bad : {"0x2f4", "2f4h", "-4", "+4", " 2f4", "2f4 ", "2f 4", "g", "2f4\r",
                          "\xef\xbc\x94", "1e3.0", "2f4,2f8"}) {
    auto r = parse_token_handle(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), token_error::not_hex) << bad;
  }
  using namespace std::string_literals;
  const std::string nul = "2f\0004"s;
  ASSERT_EQ(nul.size(), 4u);
  auto r = parse_token_handle(nul);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), token_error::not_hex);
}

TEST(IisToken, RefusesMoreThanSixteenDigits) {
  auto r = parse_token_handle("00000000000000004");  // 17 digits, whatever their value
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), token_error::too_long);
  auto huge = parse_token_handle(std::string(4096, 'f'));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error(), token_error::too_long);
  EXPECT_TRUE(parse_token_handle("0000000000000004"));  // 16 digits: still a handle
}

TEST(IisToken, RefusesZero) {
  for (const char* zero : {"0", "00", "0000000000000000"}) {
    auto r = parse_token_handle(zero);
    ASSERT_FALSE(r) << zero;
    EXPECT_EQ(r.error(), token_error::zero) << zero;
  }
}

TEST(IisToken, RefusesValuesNoDuplicatedHandleHas) {
  // INVALID_HANDLE_VALUE and the pseudo-handles of the current process and
  // thread (-1, -2), 64-bit or 32-bit; tag bits; anything above 32 bits.
  for (const char* bad : {"ffffffffffffffff", "fffffffffffffffe", "ffffffff", "fffffffe", "2f5",
                          "2f6", "2f7", "1", "100000000", "100000004"}) {
    auto r = parse_token_handle(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), token_error::not_a_handle) << bad;
  }
}

}  // namespace
}  // namespace cgihost::protocol::iis
