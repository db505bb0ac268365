// The decision table: handler kind x setting x authenticated/anonymous ->
// the account that runs the code, and the refusals that never bend.

#include "host/dispatch/identity_choice.hpp"

#include <gtest/gtest.h>

namespace cgihost::host {
namespace {

config::config table_config() {
  config::config c;
  c.identity.process = {"www-data", 33, 33, "/var/www"};
  c.identity.anonymous = {"nobody", 65534, 65534, "/nonexistent"};
  c.accounts["alice"] = {"alice", 1001, 1001, "/home/alice"};
  return c;
}

struct row {
  config::module_kind module;
  bool setting;  // create_process_as_user for CGI, impersonate for FastCGI
  bool authenticated;
  const char* account;
  const char* why;
};

class DecisionTable : public ::testing::TestWithParam<row> {};

TEST_P(DecisionTable, PicksTheAccountAnIisAdministratorExpects) {
  const row& r = GetParam();
  auto cfg = table_config();
  std::optional<std::string> user;
  if (r.authenticated) user = "alice";
  bool cgi = r.module == config::module_kind::cgi;
  auto c =
      choose_identity(cfg, r.module, cgi ? r.setting : true, cgi ? false : r.setting, user, true);
  ASSERT_EQ(c.refused_status, 0) << c.refusal;
  ASSERT_TRUE(c.account);
  EXPECT_EQ(c.account->name, r.account);
  EXPECT_EQ(c.why, r.why);
  EXPECT_EQ(c.anonymous, std::string(r.account) == "nobody");
}

using config::module_kind;
INSTANTIATE_TEST_SUITE_P(
    Table, DecisionTable,
    ::testing::Values(
        row{module_kind::cgi, true, true, "alice",
            "cgi create_process_as_user=true, authenticated alice -> account alice uid 1001 gid "
            "1001"},
        row{module_kind::cgi, true, false, "nobody",
            "cgi create_process_as_user=true, anonymous -> identity.anonymous -> account nobody "
            "uid 65534 gid 65534"},
        row{module_kind::cgi, false, true, "www-data",
            "cgi create_process_as_user=false -> the process identity -> account www-data uid 33 "
            "gid 33"},
        row{module_kind::cgi, false, false, "www-data",
            "cgi create_process_as_user=false -> the process identity -> account www-data uid 33 "
            "gid 33"},
        row{module_kind::fastcgi, false, true, "www-data",
            "fastcgi impersonate=false -> the process identity -> account www-data uid 33 gid 33"},
        row{module_kind::fastcgi, false, false, "www-data",
            "fastcgi impersonate=false -> the process identity -> account www-data uid 33 gid 33"},
        row{module_kind::fastcgi, true, true, "alice",
            "fastcgi impersonate=true, authenticated alice -> account alice uid 1001 gid 1001"},
        row{module_kind::fastcgi, true, false, "nobody",
            "fastcgi impersonate=true, anonymous -> identity.anonymous -> account nobody uid 65534 "
            "gid 65534"},
        // A static file is read for the request's account, whatever the settings say.
        row{module_kind::static_files, false, true, "alice",
            "static file, authenticated alice -> account alice uid 1001 gid 1001"},
        row{module_kind::static_files, false, false, "nobody",
            "static file, anonymous -> identity.anonymous -> account nobody uid 65534 gid 65534"}));

TEST(IdentityChoice, AnAuthenticatedNameWithoutAnAccountIs403) {
  auto cfg = table_config();
  auto c = choose_identity(cfg, config::module_kind::cgi, true, false, std::string("bob"), true);
  EXPECT_EQ(c.refused_status, 403);
  EXPECT_FALSE(c.account);
  EXPECT_EQ(c.refusal, "authenticated as \"bob\", but [accounts] maps that name to no OS account");
  // With the process identity chosen, the name needs no account.
  auto p = choose_identity(cfg, config::module_kind::cgi, false, false, std::string("bob"), true);
  EXPECT_EQ(p.refused_status, 0);
  EXPECT_EQ(p.account->name, "www-data");
}

TEST(IdentityChoice, RootOrAnAccountBelowTheMinimumIsNeverUsed) {
  auto cfg = table_config();
  cfg.accounts["toor"] = {"toor", 0, 0,
                          "/root"};  // the loader refuses this; a request that still reaches it:
  auto root =
      choose_identity(cfg, config::module_kind::cgi, true, false, std::string("toor"), true);
  EXPECT_EQ(root.refused_status, 500);
  EXPECT_NE(root.refusal.find("is root: children never run as root"), std::string::npos);
  cfg.identity.min_uid = 1000;
  auto low = choose_identity(cfg, config::module_kind::fastcgi, false, false, std::nullopt, true);
  EXPECT_EQ(low.refused_status, 500);
  EXPECT_EQ(low.refusal, "account www-data uid 33 gid 33 is below identity.min_uid 1000");
  EXPECT_EQ(choose_identity(cfg, config::module_kind::cgi, true, false, std::string("alice"), true)
                .refused_status,
            0);
}

TEST(IdentityChoice, WithoutRootEverythingRunsAsCgihostItself) {
  auto cfg = table_config();
  auto c = choose_identity(cfg, config::module_kind::cgi, true, false, std::string("alice"), false);
  EXPECT_EQ(c.refused_status, 0);
  EXPECT_FALSE(c.account);
  EXPECT_NE(c.why.find("cgihost's own account"), std::string::npos) << c.why;
}

}  // namespace
}  // namespace cgihost::host
