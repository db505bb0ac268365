#pragma once
// HTTP-date (RFC 9110 §5.6.7): formatting and the three parse forms.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cgihost::protocol {

// Seconds since 1970-01-01T00:00:00Z.
using unix_seconds = std::int64_t;

// A time's calendar fields in UTC (proleptic Gregorian; month and day from 1):
// what logs print, without the C library's gmtime_r / gmtime_s.
struct utc_fields {
  std::int64_t year;
  unsigned month, day, hour, minute, second;
};
[[nodiscard]] utc_fields utc_of(unix_seconds t);

// Formats as IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
[[nodiscard]] std::string format_http_date(unix_seconds t);

// Parses IMF-fixdate, the obsolete RFC 850 form and asctime's form, as a
// recipient must (RFC 9110 §5.6.7). nullopt for anything else.
[[nodiscard]] std::optional<unix_seconds> parse_http_date(std::string_view s);

}  // namespace cgihost::protocol
