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
constexpr auto backup = filter_rule::denied_extension;
constexpr auto hidden = filter_rule::hidden_segment;

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
        filter_case{"/site.old/index.html", std::nullopt},  // only the last segment's ending
        filter_case{"/site.old/", backup, "site.old"},      // the last segment: a folder
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
            "filter.denied_extension: segment \"index.php~\" ends with \"~\" ([filtering] "
            "denied_extensions)");
  filter_rules rules = default_filter_rules();
  rules.hidden_segments = {"node_modules"};
  EXPECT_EQ(filter_path("/a/Node_Modules/x.js", rules)->describe(),
            "filter.hidden_segment: segment \"Node_Modules\" is a hidden segment ([filtering] "
            "hidden_segments)");
  EXPECT_EQ(rule_name(filter_rule::dot_segment), "filter.dot_segment");
  EXPECT_EQ(rule_name(filter_rule::hidden_segment), "filter.hidden_segment");
  EXPECT_EQ(rule_name(filter_rule::denied_extension), "filter.denied_extension");
}

TEST(FilterPath, TheDefaultsAreFilteringSettingsDefaults) {
  const auto& d = default_filter_rules();
  config::filtering_settings s;
  EXPECT_EQ(d.denied_extensions, s.denied_extensions);
  EXPECT_EQ(d.allow_dot_segments, std::vector<std::string>{".well-known"});
  EXPECT_TRUE(d.hidden_segments.empty());
}

TEST(FilterPath, RulesComeFromTheFilteringTable) {
  config::filtering_settings s;
  s.hidden_segments = {"web.config", "App_Data", "vendor"};
  s.denied_extensions = {".inc", ".SQL"};
  s.allow_dot_segments = {".well-known", ".public"};
  const auto rules = filter_rules::from(s);
  struct row {
    const char* path;
    std::optional<filter_rule> rule;
    const char* segment;
  };
  for (const auto& [path, rule, segment] : std::vector<row>{
           {"/web.config", hidden, "web.config"},
           {"/sub/WEB.CONFIG", hidden, "WEB.CONFIG"},  // without regard to case
           {"/app_data/db.mdf", hidden, "app_data"},
           {"/lib/vendor/autoload.php", hidden, "vendor"},
           {"/vendors/x", std::nullopt, ""},  // exact names only
           {"/x.web.config", std::nullopt, ""},
           {"/db.sql", backup, "db.sql"},
           {"/conf/site.INC", backup, "site.INC"},
           {"/x.inc/y", std::nullopt, ""},     // the last segment only
           {"/index.php~", std::nullopt, ""},  // a list given replaces the defaults
           {"/x.bak", std::nullopt, ""},
           {"/.public/x", std::nullopt, ""},
           {"/a/.public/x", std::nullopt, ""},        // a name other than .well-known: anywhere
           {"/a/.well-known/x", dot, ".well-known"},  // RFC 8615: at the root only
           {"/.well-known/x", std::nullopt, ""},
           {"/.git/config", dot, ".git"},
       }) {
    auto refusal = filter_path(path, rules);
    ASSERT_EQ(refusal.has_value(), rule.has_value()) << path;
    if (!refusal) continue;
    EXPECT_EQ(refusal->rule, *rule) << path;
    EXPECT_EQ(refusal->segment, segment) << path;
  }
}

TEST(FilterPath, NothingAllowedGivesEveryDotSegment404) {
  config::filtering_settings s;
  s.allow_dot_segments.clear();
  s.denied_extensions.clear();
  const auto rules = filter_rules::from(s);
  EXPECT_EQ(filter_path("/.well-known/x", rules)->rule, dot);
  EXPECT_FALSE(filter_path("/index.php~", rules));
}

}  // namespace
}  // namespace cgihost::host
