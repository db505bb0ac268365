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

// A location's process_identity is the process identity under its prefix,
// wherever the table says "process identity"; the why names the location.
config::config with_location() {
  auto cfg = table_config();
  config::location app;
  app.prefix = "/app/";
  app.process_identity = config::account{"appuser", 1500, 1500, "/srv/app"};
  config::location deeper;
  deeper.prefix = "/app/admin/";
  deeper.process_identity = config::account{"admin", 1600, 1600, "/srv/admin"};
  cfg.locations = {app, deeper};
  return cfg;
}

route routed(const config::config& cfg, const std::string& script, const std::string& name) {
  route r;
  r.script_name = script;
  for (const auto& loc : cfg.locations)
    if (loc.process_identity && loc.process_identity->name == name)
      r.process_identity = loc.process_identity;
  return r;
}

struct location_row {
  config::module_kind module;
  bool setting;  // create_process_as_user for CGI, impersonate for FastCGI
  bool authenticated;
  const char* script;
  const char* location_account;  // the route's merged process_identity ("" none)
  const char* account;
  const char* why;
};

class LocationProcessIdentity : public ::testing::TestWithParam<location_row> {};

TEST_P(LocationProcessIdentity, IsTheProcessIdentityUnderItsPrefix) {
  const auto& w = GetParam();
  auto cfg = with_location();
  const route r = routed(cfg, w.script, w.location_account);
  std::optional<std::string> user;
  if (w.authenticated) user = "alice";
  const bool cgi = w.module == config::module_kind::cgi;
  auto c = choose_identity(cfg, w.module, cgi ? w.setting : true, cgi ? false : w.setting, user,
                           true, process_identity_of(cfg, r));
  ASSERT_EQ(c.refused_status, 0) << c.refusal;
  ASSERT_TRUE(c.account);
  EXPECT_EQ(c.account->name, w.account);
  EXPECT_EQ(c.why, w.why);
}

INSTANTIATE_TEST_SUITE_P(
    Table, LocationProcessIdentity,
    ::testing::Values(
        location_row{module_kind::cgi, false, false, "/app/x.pl", "appuser", "appuser",
                     "cgi create_process_as_user=false -> the process identity: location /app/ "
                     "process_identity = appuser -> account appuser uid 1500 gid 1500"},
        location_row{module_kind::fastcgi, false, true, "/app/index.php", "appuser", "appuser",
                     "fastcgi impersonate=false -> the process identity: location /app/ "
                     "process_identity = appuser -> account appuser uid 1500 gid 1500"},
        location_row{module_kind::fastcgi, false, false, "/app/admin/i.php", "admin", "admin",
                     "fastcgi impersonate=false -> the process identity: location /app/admin/ "
                     "process_identity = admin -> account admin uid 1600 gid 1600"},
        // Outside every such location: identity.process.
        location_row{module_kind::fastcgi, false, false, "/other.php", "", "www-data",
                     "fastcgi impersonate=false -> the process identity -> account www-data uid "
                     "33 gid 33"},
        // Where the table does not say "process identity", a location's changes nothing.
        location_row{module_kind::cgi, true, true, "/app/x.pl", "appuser", "alice",
                     "cgi create_process_as_user=true, authenticated alice -> account alice uid "
                     "1001 gid 1001"},
        location_row{module_kind::fastcgi, true, false, "/app/i.php", "appuser", "nobody",
                     "fastcgi impersonate=true, anonymous -> identity.anonymous -> account nobody "
                     "uid 65534 gid 65534"},
        location_row{module_kind::static_files, false, false, "/app/a.css", "appuser", "nobody",
                     "static file, anonymous -> identity.anonymous -> account nobody uid 65534 gid "
                     "65534"}));

TEST(IdentityChoice, ALocationsProcessIdentityHasTheSameChecks) {
  auto cfg = with_location();
  cfg.identity.min_uid = 1550;
  const route r = routed(cfg, "/app/x.php", "appuser");
  auto low = choose_identity(cfg, config::module_kind::fastcgi, true, false, std::nullopt, true,
                             process_identity_of(cfg, r));
  EXPECT_EQ(low.refused_status, 500);
  EXPECT_EQ(low.refusal, "account appuser uid 1500 gid 1500 is below identity.min_uid 1550");
  cfg.locations[0].process_identity = config::account{"toor", 0, 0, "/root"};
  const route root = routed(cfg, "/app/x.php", "toor");
  auto never = choose_identity(cfg, config::module_kind::cgi, false, false, std::nullopt, true,
                               process_identity_of(cfg, root));
  EXPECT_EQ(never.refused_status, 500);
  EXPECT_NE(never.refusal.find("is root: children never run as root"), std::string::npos);
  // Without root nothing switches; the why still says where the identity came from.
  auto self = choose_identity(cfg, config::module_kind::cgi, false, false, std::nullopt, false,
                              process_identity_of(cfg, root));
  EXPECT_FALSE(self.account);
  EXPECT_NE(self.why.find("location /app/ process_identity = toor"), std::string::npos) << self.why;
}

// A name from the token IIS forwarded (Windows, iis_token) is its token's own
// user, in no [accounts] mapping; the process identity stays where the
// table says so, and root stays refused.
TEST(IdentityChoice, AnIisTokenIsItsOwnUserWithoutAnAccountsMapping) {
  auto cfg = table_config();
  auto token = std::make_shared<spawner::identity>();
  token->name = "CORP\\bob";
  token->uid = spawner::uid{1107};
  token->gid = spawner::gid{1107};
  token->sid = "S-1-5-21-1-2-3-1107";
  const std::optional<std::string> user = "CORP\\bob";
  auto c = choose_identity(cfg, config::module_kind::cgi, true, false, user, true, {}, token);
  ASSERT_EQ(c.refused_status, 0) << c.refusal;
  ASSERT_TRUE(c.account);
  EXPECT_EQ(c.account->name, "CORP\\bob");
  EXPECT_EQ(c.account->sid, token->sid);
  EXPECT_EQ(c.token, token);
  EXPECT_NE(c.why.find("by the token IIS forwarded"), std::string::npos) << c.why;
  // create_process_as_user = false: the process identity, not the token.
  auto p = choose_identity(cfg, config::module_kind::cgi, false, false, user, true, {}, token);
  ASSERT_TRUE(p.account);
  EXPECT_EQ(p.account->name, "www-data");
  EXPECT_FALSE(p.token);
  // Without the right to switch, cgihost runs it as itself, and says so.
  auto self = choose_identity(cfg, config::module_kind::cgi, true, false, user, false, {}, token);
  EXPECT_FALSE(self.account);
  EXPECT_NE(self.why.find("cannot switch"), std::string::npos) << self.why;
  // A token of an administrator (uid 0 here) is never used.
  token->uid = spawner::uid{0};
  auto root = choose_identity(cfg, config::module_kind::cgi, true, false, user, true, {}, token);
  EXPECT_EQ(root.refused_status, 500);
}

}  // namespace
}  // namespace cgihost::host
