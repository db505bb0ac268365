// protocol/utf16: UTF-8 <-> UTF-16 for the Windows API, on every platform.
#include "protocol/utf16.hpp"

#include <gtest/gtest.h>

namespace cgihost::protocol {
namespace {

TEST(Utf16, RoundTripsEveryLength) {
  // ASCII, 2-, 3- and 4-byte UTF-8 (the last a surrogate pair in UTF-16).
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
  auto wide = utf8_to_utf16(text);
  ASSERT_TRUE(wide);
  EXPECT_EQ(*wide, (std::u16string{u'a', 0xE9, 0x20AC, 0xD83D, 0xDE00, u'z'}));
  auto back = utf16_to_utf8(*wide);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, text);
  EXPECT_EQ(utf8_to_utf16_lossy(text), *wide);
  EXPECT_EQ(utf16_to_utf8_lossy(*wide), text);
}

TEST(Utf16, EmptyIsEmpty) {
  EXPECT_EQ(*utf8_to_utf16(""), u"");
  EXPECT_EQ(*utf16_to_utf8(u""), "");
}

TEST(Utf16, RefusesInvalidUtf8) {
  const std::string_view bad[] = {
      "\x80",              // a continuation byte alone
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong '/' in three bytes
      "\xED\xA0\x80",      // an encoded surrogate (U+D800)
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF5\x80\x80\x80",  // no such lead byte
      "\xE2\x82",          // truncated
      "ok\xFF",            // 0xFF is never UTF-8
  };
  for (auto s : bad) {
    auto r = utf8_to_utf16(s);
    ASSERT_FALSE(r) << testing::PrintToString(std::string(s));
    EXPECT_EQ(r.error(), utf_error::invalid_utf8);
    EXPECT_EQ(r.error().message(), "not valid UTF-8");
  }
}

TEST(Utf16, LossyReplacesEachMaximalSubpart) {
  // Unicode §3.9's example: one U+FFFD per maximal subpart.
  EXPECT_EQ(utf8_to_utf16_lossy("a\xF1\x80\x80"
                                "b"),
            u"a\uFFFDb");
  EXPECT_EQ(utf8_to_utf16_lossy("\xE1\x80\xE2\xF0\x91\x92\xF1\xBF"
                                "A"),
            u"\uFFFD\uFFFD\uFFFD\uFFFDA");
  EXPECT_EQ(utf8_to_utf16_lossy("\xC0\xAF"), u"\uFFFD\uFFFD");
  EXPECT_EQ(utf8_to_utf16_lossy("\xED\xA0\x80"), u"\uFFFD\uFFFD\uFFFD");
}

TEST(Utf16, RefusesLoneSurrogates) {
  const std::u16string bad[] = {
      {0xD800},                  // a high surrogate at the end
      {0xD800, u'x'},            // a high surrogate before a non-surrogate
      {0xDC00, 0xD800},          // a low one first
      {u'a', 0xDFFF},            // a low one alone
      {0xD83D, 0xD83D, 0xDE00},  // two highs: the first has no partner
  };
  for (const auto& s : bad) {
    auto r = utf16_to_utf8(s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), utf_error::lone_surrogate);
  }
  EXPECT_EQ(utf16_to_utf8_lossy(std::u16string{u'a', 0xD800, u'b'}),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf16_to_utf8_lossy(std::u16string{0xD83D, 0xD83D, 0xDE00}),
            "\xEF\xBF\xBD\xF0\x9F\x98\x80");
}

TEST(Utf16, NulInsideIsKept) {
  const std::string text("a\0b", 3);
  auto wide = utf8_to_utf16(text);
  ASSERT_TRUE(wide);
  EXPECT_EQ(wide->size(), 3u);
  EXPECT_EQ(*utf16_to_utf8(*wide), text);
}

}  // namespace
}  // namespace cgihost::protocol
