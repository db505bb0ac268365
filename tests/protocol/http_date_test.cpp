#include "protocol/http_date.hpp"

#include <gtest/gtest.h>

namespace cgihost::protocol {
namespace {

// RFC 9110 §5.6.7's example instant.
constexpr unix_seconds kExample = 784111777;

TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(format_http_date(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

TEST(HttpDate, UtcFieldsAreTheCalendarsInUtc) {
  const utc_fields u = utc_of(kExample);
  EXPECT_EQ(u.year, 1994);
  EXPECT_EQ(u.month, 11u);
  EXPECT_EQ(u.day, 6u);
  EXPECT_EQ(u.hour, 8u);
  EXPECT_EQ(u.minute, 49u);
  EXPECT_EQ(u.second, 37u);
  const utc_fields before = utc_of(-1);
  EXPECT_EQ(before.year, 1969);
  EXPECT_EQ(before.month, 12u);
  EXPECT_EQ(before.day, 31u);
  EXPECT_EQ(before.second, 59u);
}

TEST(HttpDate, ParsesAllThreeForms) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kExample);
}

TEST(HttpDate, RoundTripsOverManyInstants) {
  for (unix_seconds t = 0; t < 4'000'000'000; t += 86'399 * 37 + 13) {
    auto s = format_http_date(t);
    ASSERT_EQ(parse_http_date(s), t) << s;
  }
}

TEST(HttpDate, RefusesMalformedDates) {
  for (const char* bad :
       {"", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 29 Feb 2001 00:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing", "yesterday"}) {
    EXPECT_FALSE(parse_http_date(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace cgihost::protocol
