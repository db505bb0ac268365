#include "protocol/http_date.hpp"

#include <array>
#include <cstdio>

namespace cgihost::protocol {
namespace {

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
  std::int64_t y;
  unsigned m, d;
};

civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

// A cursor over the input that reads fixed pieces and fails softly.
class scanner {
 public:
  explicit scanner(std::string_view s) : s_(s) {}
  bool done() const { return s_.empty(); }
  bool lit(std::string_view l) {
    if (s_.substr(0, l.size()) != l) return false;
    s_.remove_prefix(l.size());
    return true;
  }
  // Exactly n digits.
  bool digits(std::size_t n, unsigned& out) {
    if (s_.size() < n) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (s_[i] < '0' || s_[i] > '9') return false;
      out = out * 10 + static_cast<unsigned>(s_[i] - '0');
    }
    s_.remove_prefix(n);
    return true;
  }
  template <std::size_t N>
  bool one_of(const std::array<std::string_view, N>& names, unsigned& index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (lit(names[i])) {
        index = static_cast<unsigned>(i);
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view s_;
};

std::optional<unix_seconds> make_time(std::int64_t year, unsigned month0, unsigned day, unsigned h,
                                      unsigned mi, unsigned sec) {
  if (month0 > 11 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  static constexpr unsigned kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kMonthDays[month0]) return std::nullopt;
  std::int64_t days = days_from_civil(year, month0 + 1, day);
  if (civil_from_days(days).m != month0 + 1) return std::nullopt;  // Feb 29 of a common year
  return days * 86400 + h * 3600 + mi * 60 + sec;
}

bool time_of_day(scanner& sc, unsigned& h, unsigned& mi, unsigned& s) {
  return sc.digits(2, h) && sc.lit(":") && sc.digits(2, mi) && sc.lit(":") && sc.digits(2, s);
}

}  // namespace

utc_fields utc_of(unix_seconds t) {
  const std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  const auto secs = static_cast<unsigned>(t - days * 86400);
  const civil c = civil_from_days(days);
  return {c.y, c.m, c.d, secs / 3600, secs / 60 % 60, secs % 60};
}

std::string format_http_date(unix_seconds t) {
  const std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  const utc_fields u = utc_of(t);
  auto weekday = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02u:%02u:%02u GMT", kDays[weekday].data(),
                u.day, kMonths[u.month - 1].data(), static_cast<long long>(u.year), u.hour,
                u.minute, u.second);
  return buf;
}

std::optional<unix_seconds> parse_http_date(std::string_view s) {
  unsigned wd = 0, day = 0, mon = 0, year = 0, h = 0, mi = 0, sec = 0;
  {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    scanner sc(s);
    if (sc.one_of(kDays, wd) && sc.lit(", ") && sc.digits(2, day) && sc.lit(" ") &&
        sc.one_of(kMonths, mon) && sc.lit(" ") && sc.digits(4, year) && sc.lit(" ") &&
        time_of_day(sc, h, mi, sec) && sc.lit(" GMT") && sc.done())
      return make_time(year, mon, day, h, mi, sec);
  }
  {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than
    // 50 years ahead is taken as the past century (RFC 9110 §5.6.7).
    scanner sc(s);
    if (sc.one_of(kLongDays, wd) && sc.lit(", ") && sc.digits(2, day) && sc.lit("-") &&
        sc.one_of(kMonths, mon) && sc.lit("-") && sc.digits(2, year) && sc.lit(" ") &&
        time_of_day(sc, h, mi, sec) && sc.lit(" GMT") && sc.done())
      return make_time(year < 70 ? 2000 + year : 1900 + year, mon, day, h, mi, sec);
  }
  {
    // asctime: "Sun Nov  6 08:49:37 1994"
    scanner sc(s);
    if (sc.one_of(kDays, wd) && sc.lit(" ") && sc.one_of(kMonths, mon) && sc.lit(" ")) {
      bool ok = sc.lit(" ") ? sc.digits(1, day) : sc.digits(2, day);
      if (ok && sc.lit(" ") && time_of_day(sc, h, mi, sec) && sc.lit(" ") && sc.digits(4, year) &&
          sc.done())
        return make_time(year, mon, day, h, mi, sec);
    }
  }
  return std::nullopt;
}

}  // namespace cgihost::protocol
