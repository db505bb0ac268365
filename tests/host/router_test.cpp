#include "host/dispatch/router.hpp"

#include <gtest/gtest.h>

namespace cgihost::host {
namespace {
using namespace std::chrono_literals;

config::handler ext(const char* e, config::module_kind m) {
  config::handler h;
  h.match = std::string("*") + e;
  h.kind = config::handler::match_kind::extension;
  h.value = e;
  h.module = m;
  return h;
}

config::handler prefix(const char* p, config::module_kind m) {
  config::handler h;
  h.match = std::string(p) + "*";
  h.kind = config::handler::match_kind::prefix;
  h.value = p;
  h.module = m;
  return h;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    cfg_.handlers = {ext(".php", config::module_kind::fastcgi),
                     prefix("/cgi-bin/", config::module_kind::cgi),
                     ext(".pl", config::module_kind::cgi)};
    cfg_.cgi.timeout = 15min;
    config::location admin, deep;
    admin.prefix = "/admin/";
    admin.create_process_as_user = false;
    deep.prefix = "/admin/deep/";
    deep.timeout = 30s;
    cfg_.locations = {admin, deep};
  }
  config::config cfg_;
};

TEST_F(RouterTest, ExtensionMatchSplitsScriptAndPathInfo) {
  router r(cfg_);
  auto a = r.resolve("/app/index.php/users/7");
  ASSERT_EQ(a.handler, &cfg_.handlers[0]);
  EXPECT_EQ(a.module, config::module_kind::fastcgi);
  EXPECT_EQ(a.script_name, "/app/index.php");
  EXPECT_EQ(a.path_info, "/users/7");
  auto b = r.resolve("/INDEX.PHP");  // case-insensitive: never serve PHP source as a file
  EXPECT_EQ(b.handler, &cfg_.handlers[0]);
  EXPECT_EQ(b.path_info, "");
  auto c = r.resolve("/a.php.txt");
  EXPECT_EQ(c.handler, nullptr);
  EXPECT_EQ(c.module, config::module_kind::static_files);
}

TEST_F(RouterTest, PrefixMatchTakesTheFirstSegmentAfterThePrefix) {
  router r(cfg_);
  auto a = r.resolve("/cgi-bin/env.pl/x/y");
  // "/cgi-bin/*" comes before "*.pl" in the config: the first match wins.
  ASSERT_EQ(a.handler, &cfg_.handlers[1]);
  EXPECT_EQ(a.script_name, "/cgi-bin/env.pl");
  EXPECT_EQ(a.path_info, "/x/y");
  auto b = r.resolve("/cgi-binary/x");
  EXPECT_EQ(b.handler, nullptr);
}

TEST_F(RouterTest, UnmatchedPathsAreStaticUnlessStaticIsOff) {
  router r(cfg_);
  auto a = r.resolve("/style.css");
  EXPECT_EQ(a.handler, nullptr);
  EXPECT_FALSE(a.not_found);
  EXPECT_EQ(a.script_name, "/style.css");
  cfg_.static_files.enabled = false;
  EXPECT_TRUE(router(cfg_).resolve("/style.css").not_found);
  EXPECT_FALSE(router(cfg_).resolve("/x.php").not_found);
}

TEST_F(RouterTest, FilteredPathsReachNoHandler) {
  router r(cfg_);
  for (const char* path :
       {"/.git/config", "/app/index.php/.env", "/cgi-bin/.probe", "/x.pl~", "/index.php.bak"}) {
    auto a = r.resolve(path);
    EXPECT_NE(a.refused, "") << path;
    EXPECT_EQ(a.handler, nullptr) << path;
    EXPECT_FALSE(a.not_found) << path;
  }
  EXPECT_EQ(r.resolve("/.git/HEAD").refused,
            "filter.dot_segment: segment \".git\" begins with a dot");
  EXPECT_EQ(r.resolve("/.well-known/x").refused, "");
  // The [status] page is the administrator's own path: it is not filtered.
  cfg_.status.path = "/.status";
  EXPECT_TRUE(router(cfg_).resolve("/.status").status);
}

TEST_F(RouterTest, AScriptHandlerIsFoundWhereverItStands) {
  cfg_.handlers.insert(cfg_.handlers.begin(),
                       prefix("/assets/", config::module_kind::static_files));
  router r(cfg_);
  EXPECT_EQ(r.resolve("/assets/x.php").module, config::module_kind::static_files);
  EXPECT_EQ(r.script_handler_for("/assets/x.php"), &cfg_.handlers[1]);  // *.php, after it
  EXPECT_EQ(r.script_handler_for("/assets/X.PL"), &cfg_.handlers[3]);
  EXPECT_EQ(r.script_handler_for("/cgi-bin/anything"), &cfg_.handlers[2]);
  EXPECT_EQ(r.script_handler_for("/assets/x.css"), nullptr);
}

TEST_F(RouterTest, TheLongestLocationOverridesCgiSettings) {
  router r(cfg_);
  auto plain = r.resolve("/x.pl");
  EXPECT_TRUE(plain.create_process_as_user);
  EXPECT_EQ(plain.cgi_timeout, 15min);
  EXPECT_EQ(plain.location, nullptr);
  auto admin = r.resolve("/admin/x.pl");
  EXPECT_FALSE(admin.create_process_as_user);
  EXPECT_EQ(admin.cgi_timeout, 15min);
  auto deep = r.resolve("/admin/deep/x.pl");
  EXPECT_EQ(deep.location, &cfg_.locations[1]);
  EXPECT_FALSE(deep.create_process_as_user);  // inherited from /admin/
  EXPECT_EQ(deep.cgi_timeout, 30s);
}

}  // namespace
}  // namespace cgihost::host
