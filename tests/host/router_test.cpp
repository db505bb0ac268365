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

TEST_F(RouterTest, FilteringComesFromTheConfig) {
  cfg_.filtering.hidden_segments = {"node_modules"};
  cfg_.filtering.denied_extensions = {".inc"};
  router r(cfg_);
  auto a = r.resolve("/app/NODE_MODULES/x.js");
  EXPECT_EQ(a.refused_code, "filter.hidden_segment");
  EXPECT_EQ(r.resolve("/conf/db.inc").refused_code, "filter.denied_extension");
  EXPECT_EQ(r.resolve("/x.pl~").refused, "");  // a list given replaces the defaults
  EXPECT_EQ(r.resolve("/x.pl~").handler, nullptr);
}

TEST_F(RouterTest, ADeniedLocationRefusesEverythingUnderIt) {
  config::location data;
  data.prefix = "/data/";
  data.deny = true;
  cfg_.locations.push_back(data);
  router r(cfg_);
  for (const char* path : {"/data/pages/start.txt", "/data/", "/data", "/data/x.php"}) {
    auto a = r.resolve(path);
    EXPECT_EQ(a.refused, "location /data/ deny = true") << path;
    EXPECT_EQ(a.refused_code, "location.deny") << path;
    EXPECT_EQ(a.handler, nullptr) << path;
  }
  EXPECT_EQ(r.resolve("/database/x").refused, "");
}

TEST_F(RouterTest, ScriptsOffForbidsWhatAHandlerWouldRunAndServesTheRest) {
  config::location uploads, allowed;
  uploads.prefix = "/uploads/";
  uploads.scripts = false;
  allowed.prefix = "/uploads/run/";
  allowed.scripts = true;
  cfg_.locations.push_back(uploads);
  cfg_.locations.push_back(allowed);
  router r(cfg_);
  auto evil = r.resolve("/uploads/evil.php");
  EXPECT_EQ(evil.forbidden,
            "location /uploads/ scripts = false: handler \"*.php\" would run /uploads/evil.php");
  EXPECT_EQ(evil.handler, nullptr);
  EXPECT_EQ(evil.module, config::module_kind::static_files);
  EXPECT_EQ(r.resolve("/uploads/EVIL.PL/x").forbidden.empty(), false);
  auto text = r.resolve("/uploads/a.txt");
  EXPECT_EQ(text.forbidden, "");
  EXPECT_EQ(text.handler, nullptr);
  EXPECT_EQ(text.script_name, "/uploads/a.txt");
  auto deeper = r.resolve("/uploads/run/ok.php");  // the deeper location wins
  EXPECT_EQ(deeper.forbidden, "");
  EXPECT_EQ(deeper.handler, &cfg_.handlers[0]);
}

TEST_F(RouterTest, ARootMapsThePrefixToItsFolder) {
  config::location css, deeper;
  css.prefix = "/cgit-css/";
  css.root = "/usr/share/cgit";
  cfg_.locations.push_back(css);
  router r(cfg_);
  auto a = r.resolve("/cgit-css/cgit.css");
  EXPECT_EQ(a.root_location, &cfg_.locations.back());
  EXPECT_EQ(a.document_root, "/usr/share/cgit");
  EXPECT_EQ(relative_to_root(a, "/cgit-css/cgit.css"), "cgit.css");
  EXPECT_EQ(relative_to_root(a, "/cgit-css/sub/x.png"), "sub/x.png");
  EXPECT_EQ(relative_to_root(a, "/cgit-css/"), ".");
  auto plain = r.resolve("/x/y.css");
  EXPECT_EQ(plain.root_location, nullptr);
  EXPECT_EQ(plain.document_root, "");
  EXPECT_EQ(relative_to_root(plain, "/x/y.css"), "x/y.css");
  EXPECT_EQ(relative_to_root(plain, "/"), ".");
}

TEST_F(RouterTest, AScriptLocationRunsItsProgramForEverythingUnderIt) {
  config::location cgit, php, pl;
  cgit.prefix = "/cgit/";
  cgit.script = "/usr/lib/cgit/cgit.cgi";
  php.prefix = "/app/";
  php.script = "/srv/app/front.php";
  pl.prefix = "/gitweb/";
  pl.script = "/usr/share/gitweb/gitweb.cgi";
  cfg_.locations = {cgit, php, pl};
  router r(cfg_);
  struct row {
    const char* path;
    const char* script_name;
    const char* path_info;
  };
  for (const auto& [path, script_name, path_info] : std::vector<row>{
           {"/cgit/repo/log", "/cgit", "/repo/log"},
           {"/cgit/", "/cgit", "/"},
           {"/cgit", "/cgit", ""},
           {"/cgit/x.php", "/cgit", "/x.php"},
       }) {
    auto a = r.resolve(path);
    EXPECT_EQ(a.script_name, script_name) << path;
    EXPECT_EQ(a.path_info, path_info) << path;
    EXPECT_EQ(a.program, "/usr/lib/cgit/cgit.cgi") << path;
    EXPECT_EQ(a.document_root, "/usr/lib/cgit") << path;
    // No handler takes "cgit.cgi": CGI executing the program itself.
    EXPECT_EQ(a.handler, &program_handler()) << path;
    EXPECT_EQ(a.module, config::module_kind::cgi) << path;
  }
  EXPECT_TRUE(program_handler().interpreter.empty());
  auto front = r.resolve("/app/users/7");  // a *.php handler takes the program's name
  EXPECT_EQ(front.handler, &cfg_.handlers[0]);
  EXPECT_EQ(front.module, config::module_kind::fastcgi);
  EXPECT_EQ(front.script_name, "/app");
  cfg_.handlers.push_back(ext(".cgi", config::module_kind::cgi));
  auto gitweb = router(cfg_).resolve("/gitweb/?p=x");
  EXPECT_EQ(gitweb.handler, &cfg_.handlers.back());  // its interpreter, if it has one
  EXPECT_EQ(r.resolve("/cgitx").program, "");
}

TEST_F(RouterTest, LocationSettingsMergeDeeperWinning) {
  config::location outer, inner;
  outer.prefix = "/git/";
  outer.env = {{"GITWEB_CONFIG", "/etc/gitweb.conf"}, {"LANG", "C"}};
  outer.pass_authorization = true;
  outer.process_identity = config::account{"www-data", 33, 33, "/var/www"};
  inner.prefix = "/git/private/";
  inner.env = {{"LANG", "en_US.UTF-8"}, {"MORE", "1"}};
  inner.pass_authorization = false;
  cfg_.locations = {inner, outer};  // file order does not matter: the deeper wins
  router r(cfg_);
  auto a = r.resolve("/git/private/x.pl");
  EXPECT_EQ(a.env,
            (std::map<std::string, std::string>{
                {"GITWEB_CONFIG", "/etc/gitweb.conf"}, {"LANG", "en_US.UTF-8"}, {"MORE", "1"}}));
  EXPECT_EQ(a.pass_authorization, false);
  ASSERT_TRUE(a.process_identity);
  EXPECT_EQ(a.process_identity->name, "www-data");
  auto b = r.resolve("/git/x.pl");
  EXPECT_EQ(b.env.size(), 2u);
  EXPECT_EQ(b.pass_authorization, true);
  auto c = r.resolve("/x.pl");
  EXPECT_TRUE(c.env.empty());
  EXPECT_FALSE(c.pass_authorization);
  EXPECT_FALSE(c.process_identity);
}

}  // namespace
}  // namespace cgihost::host
