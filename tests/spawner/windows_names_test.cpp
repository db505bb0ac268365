// The Windows name rules (spawner/windows_names.hpp), pure: the classic IIS
// source-disclosure forms, tested on every platform (this file is part of
// spawner_tests on Linux and of spawner_windows_tests under Wine).

#include "spawner/windows_names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cgihost::spawner {
namespace {

TEST(WindowsNames, PlainNamesPass) {
  for (const char* name : {"index.php", "a", "web.config", ".htaccess", "x.tar.gz", "..a", "a..b",
                           " leading", "con-tent.php", "console.php", "COM10", "LPT", "nul_",
                           "coma.txt", "~user", "a~b", "\xC3\xA9t\xC3\xA9.html", "", "."})
    EXPECT_EQ(windows_name_refusal(name), std::nullopt) << name;
}

TEST(WindowsNames, SourceDisclosureFormsAreRefused) {
  struct row {
    std::string name;
    const char* reason;  // a word of the reason
  };
  const row rows[] = {
      {"index.php::$DATA", "data stream"},  // the file's unnamed data stream
      {"index.php:$DATA", "data stream"},
      {"index.php:stream", "data stream"},
      {"sub::$INDEX_ALLOCATION", "data stream"},  // a folder's index, as a name
      {"C:", "drive"},
      {"index.php.", "trailing"},  // Win32 drops trailing dots ...
      {"index.php..", "trailing"},
      {"index.php ", "trailing"},  // ... and spaces (%20)
      {"index.php. . .", "trailing"},
      {"...", "trailing"},
      {" ", "trailing"},
      {"..", "parent"},
      {"index.php\\", "backslash"},  // %5C: a separator the URL did not show
      {"..\\web.config", "backslash"},
      {"sub\\..\\..\\secret", "backslash"},
      {"index.p*", "wildcard"},
      {"index.ph?", "wildcard"},
      {"index.ph<", "wildcard"},  // DOS_STAR, DOS_QM, DOS_DOT of the NT name matcher
      {"index.ph>", "wildcard"},
      {"index\".php", "wildcard"},
      {"a|b", "'|'"},
      {std::string("index.php\0.txt", 14), "control"},  // %00
      {"a\tb", "control"},
      {"CON", "device"},
      {"con", "device"},
      {"nul.txt", "device"},
      {"NUL.php", "device"},
      {"aux.tar.gz", "device"},
      {"prn", "device"},
      {"COM1", "device"},
      {"com9.asp", "device"},
      {"COM0", "device"},
      {"LPT1.php", "device"},
      {"lpt9", "device"},
      {"nul .txt", "device"},  // spaces before the dot do not save it
      {"CONIN$", "device"},
      {"conout$.x", "device"},
      {"COM\xC2\xB9", "device"},  // COM¹
      {"lpt\xC2\xB3.php", "device"},
  };
  for (const auto& r : rows) {
    auto why = windows_name_refusal(r.name);
    ASSERT_TRUE(why) << r.name;
    EXPECT_NE(std::string(*why).find(r.reason), std::string::npos) << r.name << ": " << *why;
  }
}

TEST(WindowsNames, ShortNameShapes) {
  for (const char* name :
       {"PROGRA~1", "INDEX~1.PHP", "index~1.php", "LONG~DBZ.PHP", "A~1", "ABCDEF~1.TXT", "~1"})
    EXPECT_TRUE(may_be_short_name(name)) << name;
  for (const char* name : {"index.php", "ABCDEFGH~1", "longname~1.php", "INDEX~1.PHPX", "a.b~1",
                           "A~1.B.C", "A.", "a~b.tar.gz"})
    EXPECT_FALSE(may_be_short_name(name)) << name;
}

TEST(WindowsNames, PathsAreJudgedComponentByComponent) {
  EXPECT_EQ(windows_path_refusal("index.php"), std::nullopt);
  EXPECT_EQ(windows_path_refusal("sub/dir/index.php"), std::nullopt);
  EXPECT_EQ(windows_path_refusal("sub/"), std::nullopt);
  EXPECT_EQ(windows_path_refusal("."), std::nullopt);
  EXPECT_EQ(windows_path_refusal("sub/index.php::$DATA"),
            std::optional<std::string>("index.php::$DATA: a ':' (an alternate data stream or a "
                                       "drive)"));
  EXPECT_EQ(windows_path_refusal("sub./index.php"),
            std::optional<std::string>(
                "sub.: a trailing dot or space (Windows drops them: another file's name)"));
  EXPECT_TRUE(windows_path_refusal("a/../b"));
  EXPECT_TRUE(windows_path_refusal("aux/index.php"));
  EXPECT_TRUE(windows_path_refusal("sub::$INDEX_ALLOCATION/index.php"));
  EXPECT_EQ(windows_path_refusal("/etc/passwd"),
            std::optional<std::string>("/etc/passwd: an absolute path"));
  EXPECT_TRUE(windows_path_refusal("\\\\host\\share"));
  EXPECT_TRUE(windows_path_refusal("C:/Windows/win.ini"));
}

using parts = std::vector<std::string>;

TEST(WindowsNames, SplitBeneath) {
  EXPECT_EQ(split_beneath("sub/./b.txt").parts, (parts{"sub", "b.txt"}));
  EXPECT_EQ(split_beneath("sub//b.txt").parts, (parts{"sub", "b.txt"}));
  EXPECT_TRUE(split_beneath("sub/").folder);
  EXPECT_FALSE(split_beneath("sub").folder);
  EXPECT_TRUE(split_beneath(".").parts.empty());
  EXPECT_TRUE(split_beneath("sub/../a.txt").escapes);  // a request's ".." never climbs
  EXPECT_TRUE(split_beneath("../a.txt").escapes);
  EXPECT_TRUE(split_beneath("/a.txt").escapes);
  EXPECT_TRUE(split_beneath("\\a.txt").escapes);
  EXPECT_TRUE(split_beneath("").refused);
  EXPECT_TRUE(split_beneath("a.php::$DATA").refused);
  EXPECT_TRUE(split_beneath("sub\\b.txt").refused);
  EXPECT_FALSE(split_beneath("sub/b.txt").refused || split_beneath("sub/b.txt").escapes);
}

// A relative symbolic link's target spliced into the path, as the walk
// follows it: never above the root, never a refused name.
TEST(WindowsNames, SpliceLink) {
  const beneath_path in_sub = split_beneath("sub/in/x.txt");
  struct row {
    const char* target;
    parts expect;
    bool escapes, refused;
  };
  const row rows[] = {
      {"b", {"sub", "b", "x.txt"}, false, false},
      {"d\\e", {"sub", "d", "e", "x.txt"}, false, false},
      {".\\d\\.\\e", {"sub", "d", "e", "x.txt"}, false, false},
      {"..\\other", {"other", "x.txt"}, false, false},  // climbs, stays beneath
      {"..\\..\\outside", {}, true, false},             // above the root
      {"..\\..\\root\\sub", {}, true, false},           // even when it comes back
      {"\\Windows", {}, true, false},                   // relative to the drive's root
      {"", {}, true, false},
      {"C:\\Windows", {}, false, true},  // a drive
      {"a.php::$DATA", {}, false, true},
      {"a.php.", {}, false, true},
      {"NUL", {}, false, true},
      {"d/e", {}, false, true},  // '/' is no separator in a reparse target
  };
  for (const auto& r : rows) {
    const beneath_path out = splice_link(in_sub, 1, r.target);
    EXPECT_EQ(out.escapes, r.escapes) << r.target;
    EXPECT_EQ(out.refused, r.refused) << r.target;
    if (!r.escapes && !r.refused) {
      EXPECT_EQ(out.parts, r.expect) << r.target;
    }
  }
  EXPECT_EQ(splice_link(split_beneath("in"), 0, "sub\\b.txt").parts, (parts{"sub", "b.txt"}));
  EXPECT_TRUE(splice_link(split_beneath("sub/"), 0, "d").folder);
}

}  // namespace
}  // namespace cgihost::spawner
