#include "host/dispatch/request_filter.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace cgihost::host {
namespace {

struct filter_case {
  const char* path;
  std::optional<filter_rule> rule;  // nullopt: allowed
  const char* segment = "";
};

void PrintTo(const filter_case& c, std::ostream* os) { *os << c.path; }

class FilterPath : public ::testing::TestWithParam<filter_case> {};

TEST_P(FilterPath, RefusesByTheRuleItBreaks) {
  const auto& c = GetParam();
  auto refusal = filter_path(c.path);
  ASSERT_EQ(refusal.has_value(), c.rule.has_value()) << (refusal ? refusal->describe() : "");
  if (!refusal) return;
  EXPECT_EQ(refusal->rule, *c.rule);
  EXPECT_EQ(refusal->segment, c.segment);
}

constexpr auto dot = filter_rule::dot_segment;
constexpr auto backup = filter_rule::backup_name;

INSTANTIATE_TEST_SUITE_P(
    Defaults, FilterPath,
    ::testing::Values(
        filter_case{"/", std::nullopt}, filter_case{"/index.html", std::nullopt},
        filter_case{"/sub/", std::nullopt}, filter_case{"/a.b/c.d.e", std::nullopt},
        filter_case{"/~user/page", std::nullopt},       // "~" only counts at the end
        filter_case{"/x.bak.txt", std::nullopt},        // the suffix is the end of the name
        filter_case{"/folder.oldish/x", std::nullopt},  // likewise
        filter_case{"/app.php/x.y", std::nullopt},
        filter_case{"/.well-known/acme-challenge/t0k3n", std::nullopt},
        filter_case{"/.well-known/", std::nullopt}, filter_case{"/.git/config", dot, ".git"},
        filter_case{"/.git/HEAD", dot, ".git"}, filter_case{"/.git/", dot, ".git"},
        filter_case{"/.env", dot, ".env"}, filter_case{"/.htpasswd", dot, ".htpasswd"},
        filter_case{"/.htaccess", dot, ".htaccess"}, filter_case{"/sub/.svn/entries", dot, ".svn"},
        filter_case{"/sub/.well-known/x", dot, ".well-known"},  // at the root only
        filter_case{"/.well-known/.secret", dot, ".secret"},
        filter_case{"/app.php/.git/config", dot, ".git"},  // PATH_INFO counts too
        filter_case{"/...", dot, "..."}, filter_case{"/.index.php.swp", dot, ".index.php.swp"},
        filter_case{"/index.php~", backup, "index.php~"},
        filter_case{"/index.php.bak", backup, "index.php.bak"},
        filter_case{"/INDEX.PHP.BAK", backup, "INDEX.PHP.BAK"},  // whatever the case
        filter_case{"/x.swp", backup, "x.swp"}, filter_case{"/x.orig", backup, "x.orig"},
        filter_case{"/x.old", backup, "x.old"}, filter_case{"/~", backup, "~"},
        filter_case{"/site.old/index.html", backup, "site.old"},  // a folder too
        filter_case{"/.well-known/x.bak", backup, "x.bak"}),
    [](const auto& p) {
      std::string name;
      for (char c : std::string(p.param.path))
        name += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return name + "_" + std::to_string(p.index);
    });

TEST(FilterPath, TheLogTextNamesTheRuleAndTheSegment) {
  EXPECT_EQ(filter_path("/a/.git/config")->describe(),
            "filter.dot_segment: segment \".git\" begins with a dot");
  EXPECT_EQ(filter_path("/index.php~")->describe(),
            "filter.backup_name: segment \"index.php~\" ends with \"~\" (an editor's backup or "
            "leftover)");
  EXPECT_EQ(rule_name(filter_rule::backup_name), "filter.backup_name");
}

TEST(FilterPath, RulesCanBeTurnedOffOrExtended) {
  filter_rules none;
  none.hidden_segments = false;
  none.backup_suffixes.clear();
  EXPECT_FALSE(filter_path("/.git/config", none));
  EXPECT_FALSE(filter_path("/index.php~", none));
  filter_rules more;
  more.allowed_hidden_roots.push_back(".public");
  more.backup_suffixes.push_back(".tmp");
  EXPECT_FALSE(filter_path("/.public/x", more));
  EXPECT_EQ(filter_path("/x.TMP", more)->rule, filter_rule::backup_name);
}

}  // namespace
}  // namespace cgihost::host
