// Byte ranges of a static file (RFC 9110 §14): one range or the whole.

#include "protocol/http_range.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cgihost::protocol {
namespace {

using kind = range_answer::kind;

struct range_case {
  const char* name;
  std::string header;
  std::uint64_t size;
  kind what;
  std::uint64_t first = 0, last = 0;
};

void PrintTo(const range_case& c, std::ostream* os) { *os << c.name; }

class Ranges : public ::testing::TestWithParam<range_case> {};

TEST_P(Ranges, Answer) {
  const auto& c = GetParam();
  const range_answer a = answer_range(c.header, c.size);
  EXPECT_EQ(a.what, c.what);
  if (c.what == kind::part) {
    EXPECT_EQ(a.first, c.first);
    EXPECT_EQ(a.last, c.last);
    EXPECT_EQ(a.length(), c.last - c.first + 1);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, Ranges,
    ::testing::Values(range_case{"first_to_last", "bytes=0-4", 10, kind::part, 0, 4},
                      range_case{"middle", "bytes=3-6", 10, kind::part, 3, 6},
                      range_case{"last_byte", "bytes=9-9", 10, kind::part, 9, 9},
                      range_case{"end_past_size_is_cut", "bytes=5-100", 10, kind::part, 5, 9},
                      range_case{"open_end", "bytes=7-", 10, kind::part, 7, 9},
                      range_case{"suffix", "bytes=-3", 10, kind::part, 7, 9},
                      range_case{"suffix_longer_than_file", "bytes=-30", 10, kind::part, 0, 9},
                      range_case{"unit_case_and_spaces", " Bytes = 1-2 ", 10, kind::part, 1, 2},
                      range_case{"start_at_size", "bytes=10-", 10, kind::unsatisfiable},
                      range_case{"start_past_size", "bytes=20-30", 10, kind::unsatisfiable},
                      range_case{"suffix_zero", "bytes=-0", 10, kind::unsatisfiable},
                      range_case{"empty_file", "bytes=0-", 0, kind::unsatisfiable},
                      range_case{"empty_file_suffix", "bytes=-5", 0, kind::unsatisfiable},
                      range_case{"several_ranges_whole", "bytes=0-1,4-5", 10, kind::whole},
                      range_case{"other_unit", "items=0-1", 10, kind::whole},
                      range_case{"no_unit", "0-1", 10, kind::whole},
                      range_case{"reversed", "bytes=5-2", 10, kind::whole},
                      range_case{"no_dash", "bytes=5", 10, kind::whole},
                      range_case{"just_dash", "bytes=-", 10, kind::whole},
                      range_case{"letters", "bytes=a-b", 10, kind::whole},
                      range_case{"negative", "bytes=--1", 10, kind::whole},
                      range_case{"overflow", "bytes=99999999999999999999-", 10, kind::whole},
                      range_case{"empty", "", 10, kind::whole}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace cgihost::protocol
