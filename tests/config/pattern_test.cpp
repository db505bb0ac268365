#include "config/pattern.hpp"

#include <gtest/gtest.h>

namespace cgihost::config {
namespace {

TEST(Pattern, MatchesAndCaptures) {
  std::string error;
  std::size_t offset = 0;
  auto p = pattern::compile("^/_media/(.*)$", error, offset);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->capture_count(), 1u);
  std::vector<std::string> caps;
  ASSERT_TRUE(p->match("/_media/wiki:logo.png", caps));
  ASSERT_EQ(caps.size(), 2u);
  EXPECT_EQ(caps[0], "/_media/wiki:logo.png");
  EXPECT_EQ(caps[1], "wiki:logo.png");
  EXPECT_FALSE(p->match("/media/x", caps));
}

TEST(Pattern, AGroupThatTookNoPartIsEmpty) {
  std::string error;
  std::size_t offset = 0;
  auto p = pattern::compile("^/(a)?(b)$", error, offset);
  ASSERT_TRUE(p) << error;
  std::vector<std::string> caps;
  ASSERT_TRUE(p->match("/b", caps));
  ASSERT_EQ(caps.size(), 3u);
  EXPECT_EQ(caps[1], "");
  EXPECT_EQ(caps[2], "b");
}

TEST(Pattern, ABadExpressionSaysWhatAndWhere) {
  std::string error;
  std::size_t offset = 0;
  EXPECT_FALSE(pattern::compile("^/(abc$", error, offset));
#if defined(_WIN32)
  // std::regex (ECMAScript) says what, not where.
  EXPECT_NE(error.find("Mismatched '(' and ')'"), std::string::npos) << error;
  EXPECT_EQ(offset, 0u);
#else
  EXPECT_NE(error.find("parenthesis"), std::string::npos) << error;
  EXPECT_EQ(offset, 7u);
#endif
}

TEST(Pattern, ExpandReplacesReferences) {
  const std::vector<std::string> caps = {"/x/1/2", "1", "2"};
  EXPECT_EQ(expand("/a.php?id=$1&b=$2", caps), "/a.php?id=1&b=2");
  EXPECT_EQ(expand("/p$9$$ $x $", caps), "/p$ $x $");
  EXPECT_EQ(expand("$0", caps), "/x/1/2");
  EXPECT_EQ(highest_reference("/a?$1&$3$$5"), 3u);
  EXPECT_EQ(highest_reference("/plain"), 0u);
}

}  // namespace
}  // namespace cgihost::config
