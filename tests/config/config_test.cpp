#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "config/load.hpp"

namespace cgihost::config {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A test of POSIX accounts, paths or programs: skipped by the Windows build
// (tests/config/config_windows_test.cpp has its own).
#if defined(_WIN32)
#define POSIX_ONLY() GTEST_SKIP() << "POSIX accounts, paths and programs"
#else
#define POSIX_ONLY() (void)0
#endif

void set_env(const char* name, const std::string& value) {
#if defined(_WIN32)
  ::_putenv_s(name, value.c_str());
#else
  ::setenv(name, value.c_str(), 1);
#endif
}

// A scratch folder with a "site" document root, removed at the end.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static unsigned counter = 0;
    dir_ = fs::temp_directory_path() / ("cgihost-config-" + std::to_string(std::random_device{}()) +
                                        "-" + std::to_string(++counter));
    fs::create_directories(dir_ / "site");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  load_result load(const std::string& text, load_options o = root_options()) {
    return load_string(text, "test.toml", dir_, o);
  }

  static load_options root_options() {
    load_options o;
    o.running_as_root = true;
#if defined(_WIN32)
    // The accounts of a Debian machine, which these tests name.
    o.lookup = [](const std::string& name) -> std::optional<account> {
      static const std::map<std::string, std::uint32_t> debian = {{"root", 0},
                                                                  {"daemon", 1},
                                                                  {"bin", 2},
                                                                  {"www-data", 33},
                                                                  { "nobody",
                                                                    65534 }};
      auto it = debian.find(name);
      if (it == debian.end()) return std::nullopt;
      return account{name, it->second, it->second == 65534 ? 65534u : it->second, "/"};
    };
    o.current_user = o.lookup("root");
#else
    o.current_user = lookup_system_account("root");
#endif
    return o;
  }

  // The 1-based column of `needle` on 1-based line `line` of `text`.
  static std::uint32_t col(const std::string& text, std::uint32_t line, const std::string& needle) {
    std::istringstream in(text);
    std::string l;
    for (std::uint32_t i = 0; i < line; ++i) std::getline(in, l);
    auto p = l.find(needle);
    EXPECT_NE(p, std::string::npos) << needle << " not on line " << line;
    return static_cast<std::uint32_t>(p + 1);
  }

  static std::string dump(const load_result& r) {
    std::string s;
    for (auto& d : r.errors) s += d.to_string() + "\n";
    return s;
  }

  // One expected diagnostic: on `line`, at the column where `at` begins,
  // with `says` in its message.
  struct want {
    std::uint32_t line;
    std::string at;
    std::string says;
  };

  // `text` loads with exactly the `expected` diagnostics, in order.
  void expect_errors(const std::string& text, const std::vector<want>& expected,
                     load_options o = root_options()) {
    auto r = load(text, o);
    ASSERT_EQ(r.errors.size(), expected.size()) << dump(r);
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const auto& d = r.errors[i];
      const auto& w = expected[i];
      EXPECT_EQ(d.file, "test.toml");
      EXPECT_EQ(d.line, w.line) << d.to_string() << "\n  wanted: " << w.says;
      EXPECT_EQ(d.column, col(text, w.line, w.at)) << d.to_string();
      EXPECT_NE(d.message.find(w.says), std::string::npos)
          << d.to_string() << "\n  wanted: " << w.says;
    }
  }

  fs::path dir_;
};

constexpr const char* kMinimal = R"(listen = ["127.0.0.1:8080"]
document_root = "site"
[identity]
process = "www-data"
)";

TEST_F(ConfigTest, MinimalConfigGetsDefaults) {
  auto r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  const config& c = *r.value;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].to_string(), "127.0.0.1:8080");
  EXPECT_EQ(c.document_root, fs::canonical(dir_ / "site"));
  EXPECT_EQ(c.identity.process.name, "www-data");
  EXPECT_NE(c.identity.process.uid, 0u);
  EXPECT_EQ(c.identity.anonymous.name, "nobody");
  EXPECT_TRUE(c.authentication.anonymous);
  EXPECT_FALSE(c.authentication.basic);
  EXPECT_TRUE(c.cgi.create_process_as_user);
  EXPECT_EQ(c.cgi.timeout, 15min);
  EXPECT_TRUE(c.static_files.enabled);
  EXPECT_EQ(c.http.max_header_count, 100u);
  EXPECT_EQ(c.log.access_log, "stdout");
  EXPECT_FALSE(c.allow_symlinks_outside_root);
}

TEST_F(ConfigTest, AccessFormatIsCombinedOrJson) {
  auto r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->log.access_format, "combined");
  r = load(std::string(kMinimal) + "[log]\naccess_format = \"json\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->log.access_format, "json");
  r = load(std::string(kMinimal) + "[log]\naccess_format = \"JSON\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.toml:6:17: log.access_format: \"JSON\" is not an access log format; use "
            "\"combined\" or \"json\"");
  r = load(std::string(kMinimal) + "[log]\naccess_format = 1\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].to_string().find("test.toml:6:17: log.access_format"), std::string::npos)
      << dump(r);
}

TEST_F(ConfigTest, CgiMaxChildrenIsACountAndZeroMeansNoLimit) {
  const std::string head =
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n[identity]\nprocess = "
      "\"www-data\"\n[cgi]\n";
  auto r = load(head + "max_children = 8\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.max_children, 8u);
  r = load(head);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.max_children, 0u);
  r = load(head + "max_children = -1\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 6u);
  EXPECT_NE(r.errors[0].message.find("cgi.max_children: -1 is out of range"), std::string::npos)
      << dump(r);
}

TEST_F(ConfigTest, AllowSymlinksOutsideRootIsABoolean) {
  const std::string head = "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n";
  const std::string tail = "[identity]\nprocess = \"www-data\"\n";
  auto r = load(head + "allow_symlinks_outside_root = true\n" + tail);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->allow_symlinks_outside_root);
  r = load(head + "allow_symlinks_outside_root = \"yes\"\n" + tail);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 3u);
  EXPECT_EQ(r.errors[0].column, 31u);
  EXPECT_NE(r.errors[0].message.find("allow_symlinks_outside_root: expected a boolean"),
            std::string::npos)
      << dump(r);
}

TEST_F(ConfigTest, SampleConfigIsValidAndReadAsWritten) {
  POSIX_ONLY();
  auto r = load_file(fs::path(CGIHOST_SOURCE_DIR) / "samples/cgihost.toml", root_options());
  ASSERT_TRUE(r.ok()) << dump(r);
  const config& c = *r.value;
  EXPECT_EQ(c.listen.size(), 2u);
  ASSERT_EQ(c.fastcgi.listen.size(), 2u);
  EXPECT_EQ(c.fastcgi.listen[0].to_string(), "unix:/run/cgihost/fcgi.sock");
  EXPECT_EQ(c.fastcgi.socket.mode, 0660u);
  EXPECT_FALSE(c.fastcgi.trust_remote_user);
  EXPECT_EQ(c.identity.process.name, "www-data");
  EXPECT_TRUE(c.authentication.basic);
  ASSERT_TRUE(c.authentication.trusted_header);
  EXPECT_EQ(*c.authentication.trusted_header, "X-Remote-User");
  ASSERT_EQ(c.authentication.trusted_proxies.size(), 1u);
  EXPECT_EQ(c.accounts.size(), 2u);
  EXPECT_TRUE(c.accounts.contains("CORP\\bob"));
  EXPECT_EQ(c.cgi.timeout, 15min);
  EXPECT_EQ(c.cgi.max_address_space, 1ull << 30);
  EXPECT_EQ(c.cgi.max_cpu_seconds, 300u);
  EXPECT_EQ(c.cgi.max_open_files, 1024u);
  EXPECT_EQ(c.cgi.max_processes, 256u);
  ASSERT_EQ(c.handlers.size(), 3u);
  EXPECT_EQ(c.handlers[0].module, module_kind::fastcgi);
  EXPECT_EQ(c.handlers[0].value, ".php");
  EXPECT_EQ(c.handlers[1].interpreter, std::vector<std::string>{"/usr/bin/perl"});
  EXPECT_EQ(c.handlers[2].kind, handler::match_kind::prefix);
  EXPECT_EQ(c.handlers[2].value, "/cgi-bin/");
  const pool& php = c.pools.at("php");
  EXPECT_EQ(php.max_instances, 4u);
  EXPECT_EQ(php.max_requests, 500u);
  EXPECT_EQ(php.idle_timeout, 5min);
  EXPECT_EQ(php.request_timeout, 90s);
  EXPECT_EQ(php.queue_length, 1000u);
  EXPECT_EQ(php.env.at("PHP_FCGI_MAX_REQUESTS"), "0");
  EXPECT_EQ(php.children, 0u);
  EXPECT_EQ(c.pools.at("app").children, 4u);
  ASSERT_EQ(c.locations.size(), 4u);
  EXPECT_EQ(c.locations[0].create_process_as_user, false);
  EXPECT_EQ(c.locations[0].env.at("APP_AREA"), "admin");
  EXPECT_EQ(c.locations[0].process_identity->name, "nobody");
  EXPECT_EQ(c.locations[1].fallback, "/hello.php");
  EXPECT_EQ(c.locations[1].pass_authorization, true);
  EXPECT_TRUE(c.locations[2].deny);
  EXPECT_EQ(c.locations[3].scripts, false);
  ASSERT_EQ(c.rewrites.size(), 3u);
  EXPECT_EQ(c.rewrites[1].redirect, 301u);
  EXPECT_TRUE(c.rewrites[2].if_missing);
  EXPECT_EQ(c.handlers[2].methods, (std::vector<std::string>{"GET", "HEAD", "POST"}));
  EXPECT_FALSE(c.cgi.pass_authorization);
  EXPECT_FALSE(php.pass_authorization);
  EXPECT_EQ(c.filtering.hidden_segments.size(), 4u);
  EXPECT_EQ(c.filtering.denied_extensions.size(), 7u);
  EXPECT_EQ(c.filtering.allow_dot_segments, std::vector<std::string>{".well-known"});
  EXPECT_EQ(c.proxy.trusted.size(), 2u);
  EXPECT_FALSE(c.proxy.trust_host);
  EXPECT_EQ(c.error_pages, (std::map<unsigned, std::string>{{404, "/errors/404.html"},
                                                            {503, "/errors/50x.html"}}));
  const pool& fpm = c.pools.at("fpm");
  ASSERT_TRUE(fpm.remote);
  EXPECT_EQ(fpm.remote->unix_path, "/run/php/php8.2-fpm.sock");
  EXPECT_EQ(fpm.max_connections, 16u);
  EXPECT_EQ(c.status.path, "/cgihost-status");
  EXPECT_EQ(c.status.allow.size(), 2u);
}

// samples/NAME.toml with its machine paths (`paths`: path in the sample ->
// name under the scratch folder) moved into the scratch folder, where `files`
// are created; loaded as if it were in samples/.
load_result load_moved_sample(const std::string& name, const fs::path& dir,
                              const std::map<std::string, std::string>& paths,
                              const std::vector<std::string>& files) {
  std::ifstream in(fs::path(CGIHOST_SOURCE_DIR) / "samples" / name, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(text.empty()) << name;
  for (const auto& [from, to] : paths) {
    EXPECT_NE(text.find("\"" + from + "\""), std::string::npos) << from;
    for (auto at = text.find("\"" + from); at != std::string::npos;
         at = text.find("\"" + from, at + 1))
      text.replace(at + 1, from.size(), (dir / to).string());
    fs::create_directories(dir / to);
  }
  for (const auto& f : files) {
    fs::create_directories((dir / f).parent_path());
    std::ofstream(dir / f) << "<?php\n";
  }
  load_options o;
  o.running_as_root = true;
  o.current_user = lookup_system_account("root");
  return load_string(text, name, fs::path(CGIHOST_SOURCE_DIR) / "samples", o);
}

TEST_F(ConfigTest, DokuWikiSampleIsValidAndReadAsWritten) {
  POSIX_ONLY();
  auto r = load_moved_sample("dokuwiki.toml", dir_, {{"/usr/share/dokuwiki", "dokuwiki"}}, {});
  ASSERT_TRUE(r.ok()) << dump(r);
  const config& c = *r.value;
  EXPECT_EQ(c.static_files.index, (std::vector<std::string>{"doku.php", "index.html"}));
  std::vector<std::string> denied;
  for (const auto& l : c.locations)
    if (l.deny) denied.push_back(l.prefix);
  EXPECT_EQ(denied, (std::vector<std::string>{"/data/", "/conf/", "/bin/", "/inc/", "/vendor/"}));
  ASSERT_EQ(c.rewrites.size(), 4u);
  EXPECT_EQ(c.rewrites[0].match, "^/_media/(.*)");
  EXPECT_EQ(c.rewrites[0].to, "/lib/exe/fetch.php?media=$1");
  EXPECT_EQ(c.rewrites[1].match, "^/_detail/(.*)");
  EXPECT_EQ(c.rewrites[1].to, "/lib/exe/detail.php?media=$1");
  EXPECT_EQ(c.rewrites[2].match, "^/_export/([^/]+)/(.*)");
  EXPECT_EQ(c.rewrites[2].to, "/doku.php?do=export_$1&id=$2");
  EXPECT_EQ(c.rewrites[3].match, "^/(?!lib/)(.*)");
  EXPECT_EQ(c.rewrites[3].to, "/doku.php?id=$1");
  EXPECT_TRUE(c.rewrites[3].if_missing);
  EXPECT_EQ(c.handlers.at(0).pool, "php");
  EXPECT_EQ(c.pools.at("php").children, 4u);
  // Where Debian's package is installed, the sample loads as it is.
  if (fs::exists("/usr/share/dokuwiki/doku.php")) {
    auto real = load_file(fs::path(CGIHOST_SOURCE_DIR) / "samples/dokuwiki.toml", root_options());
    EXPECT_TRUE(real.ok()) << dump(real);
  }
}

TEST_F(ConfigTest, WordPressSampleIsValidAndReadAsWritten) {
  POSIX_ONLY();
  auto r = load_moved_sample(
      "wordpress.toml", dir_,
      {{"/usr/share/wordpress", "wordpress"}, {"/var/lib/wordpress/wp-content", "wp-content"}},
      {"wordpress/index.php"});
  ASSERT_TRUE(r.ok()) << dump(r);
  const config& c = *r.value;
  EXPECT_EQ(c.static_files.index, (std::vector<std::string>{"index.php", "index.html"}));
  ASSERT_EQ(c.locations.size(), 3u);
  EXPECT_EQ(c.locations[0].prefix, "/");
  EXPECT_EQ(c.locations[0].fallback, "/index.php");
  EXPECT_EQ(c.locations[1].root, fs::canonical(dir_ / "wp-content"));
  EXPECT_EQ(c.locations[2].prefix, "/wp-content/uploads/");
  EXPECT_EQ(c.locations[2].scripts, false);
  EXPECT_TRUE(c.pools.at("php").pass_authorization);
  EXPECT_TRUE(c.proxy.trusted.empty());
  // Without index.php the fallback is a config error at its value.
  fs::remove(dir_ / "wordpress/index.php");
  auto missing = load_moved_sample(
      "wordpress.toml", dir_,
      {{"/usr/share/wordpress", "wordpress"}, {"/var/lib/wordpress/wp-content", "wp-content"}}, {});
  ASSERT_EQ(missing.errors.size(), 1u) << dump(missing);
  EXPECT_NE(missing.errors[0].message.find("locations[0].fallback: \"/index.php\" names"),
            std::string::npos)
      << dump(missing);
  if (fs::exists("/usr/share/wordpress/index.php") && fs::is_directory("/var/lib/wordpress")) {
    auto real = load_file(fs::path(CGIHOST_SOURCE_DIR) / "samples/wordpress.toml", root_options());
    EXPECT_TRUE(real.ok()) << dump(real);
  }
}

TEST_F(ConfigTest, StatusNeedsAPlainPathAndValidAddresses) {
  const std::string text = std::string(kMinimal) + R"(
[status]
path = "cgihost-status"
allow = ["127.0.0.1/33", "10.0.0.0/8"]
)";
  auto r = load(text);
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("status.path: must be a plain absolute path"),
            std::string::npos);
  EXPECT_NE(r.errors[1].message.find("status.allow[0]"), std::string::npos) << dump(r);
  auto off = load(std::string(kMinimal) + "[status]\nallow = [\"10.0.0.0/8\"]\n");
  ASSERT_EQ(off.errors.size(), 1u);
  EXPECT_NE(off.errors[0].message.find("status: missing path"), std::string::npos);
}

TEST_F(ConfigTest, StatusPingPathAloneOrBesideThePage) {
  auto alone = load(std::string(kMinimal) + "[status]\nping_path = \"/ping\"\n");
  ASSERT_TRUE(alone.ok()) << dump(alone);
  EXPECT_EQ(alone.value->status.ping_path, "/ping");
  EXPECT_EQ(alone.value->status.ping_response, "pong");
  EXPECT_FALSE(alone.value->status.path);
  auto bad = load(std::string(kMinimal) +
                  "[status]\npath = \"/s\"\nping_path = \"ping\"\nping_response = \"a\\nb\"\n");
  ASSERT_EQ(bad.errors.size(), 2u) << dump(bad);
  EXPECT_NE(bad.errors[0].message.find("status.ping_path: must be a plain absolute path"),
            std::string::npos)
      << dump(bad);
  EXPECT_NE(bad.errors[1].message.find("status.ping_response: must be one line"), std::string::npos)
      << dump(bad);
  auto same = load(std::string(kMinimal) + "[status]\npath = \"/s\"\nping_path = \"/s\"\n");
  ASSERT_EQ(same.errors.size(), 1u) << dump(same);
  EXPECT_NE(same.errors[0].message.find("must differ from status.path"), std::string::npos);
}

// One config with one mistake of each kind; every one is reported at its place.
TEST_F(ConfigTest, ReportsEveryProblemWithLineAndColumn) {
  POSIX_ONLY();  // a users file (crypt(3)) is refused on Windows
  const std::string text = R"(listen = ["127.0.0.1:8080", "localhost:80", "[::1]:99999"]
documentroot = "site"
document_root = "site"

[identity]
process = "no-such-user-xyz"
anonymous = "root"

[authentication]
basic = true
users_file = "missing.htpasswd"

[cgi]
timeout = "15 minutes"
create_process_as_user = "yes"

[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "phpp"

[[handlers]]
match = "cgi-bin"
module = "cgi"

[pools.php]
max_instance = 4
max_requests = -1

[http]
max_header_count = "many"
)";
  expect_errors(
      text,
      {
          {1, "\"localhost:80\"", "invalid listen address \"localhost:80\""},
          {1, "\"[::1]:99999\"", "port 99999 out of range"},
          {2, "documentroot", "unknown key \"documentroot\"; did you mean \"document_root\"?"},
          {6, "\"no-such",
           "identity.process: account \"no-such-user-xyz\" does not exist on this machine"},
          {7, "\"root\"", "identity.anonymous: account \"root\" resolves to root"},
          {11, "\"missing", "authentication.users_file: cannot read"},
          {14, "\"15 minutes\"", "cgi.timeout: invalid duration \"15 minutes\""},
          {15, "\"yes\"", "cgi.create_process_as_user: expected a boolean"},
          {20, "\"phpp\"", "handlers[0].pool: pool \"phpp\" does not exist; pools are: php"},
          {23, "\"cgi-bin\"", "handlers[1].match: \"cgi-bin\" is neither"},
          {26, "[pools.php]", "pools.php: missing command"},
          {27, "max_instance",
           "unknown key \"pools.php.max_instance\"; did you mean \"max_instances\"?"},
          {28, "-1", "pools.php.max_requests: -1 is out of range"},
          {31, "\"many\"", "http.max_header_count: expected an integer, got a string"},
      });
  auto r = load(text);
  static const std::regex kFormat(R"(^test\.toml:\d+:\d+: .+$)");
  for (const auto& d : r.errors)
    EXPECT_TRUE(std::regex_match(d.to_string(), kFormat)) << d.to_string();
}

// Issue 13's [[locations]] keys: what each holds when valid.
TEST_F(ConfigTest, LocationsReadEveryKey) {
  POSIX_ONLY();
  write("site/index.php", "<?php");
  fs::create_directory(dir_ / "other");
  write("prog.cgi", "#!/bin/sh\n");
  const std::string text = std::string(kMinimal) + R"(
[[locations]]
prefix = "/"
fallback = "/index.php"
pass_authorization = true
[[locations]]
prefix = "/data/"
deny = true
[[locations]]
prefix = "/uploads/"
scripts = false
[[locations]]
prefix = "/css/"
root = "OTHER/../other"
[[locations]]
prefix = "/git/"
script = "SCRIPT"
env = { GITWEB_CONFIG = "/etc/gitweb.conf", _X1 = "" }
process_identity = "nobody"
)";
  std::string t = std::regex_replace(text, std::regex("OTHER"), (dir_ / "other").string());
  t = std::regex_replace(t, std::regex("SCRIPT"), (dir_ / "prog.cgi").string());
  auto r = load(t);
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& l = r.value->locations;
  ASSERT_EQ(l.size(), 5u);
  EXPECT_EQ(l[0].fallback, "/index.php");
  EXPECT_EQ(l[0].pass_authorization, true);
  EXPECT_FALSE(l[0].deny);
  EXPECT_FALSE(l[0].scripts);
  EXPECT_FALSE(l[0].root);
  EXPECT_FALSE(l[0].process_identity);
  EXPECT_TRUE(l[1].deny);
  EXPECT_EQ(l[2].scripts, false);
  EXPECT_EQ(l[3].root, fs::canonical(dir_ / "other"));
  EXPECT_EQ(l[4].script, dir_ / "prog.cgi");
  EXPECT_EQ(l[4].env, (std::map<std::string, std::string>{{"GITWEB_CONFIG", "/etc/gitweb.conf"},
                                                          {"_X1", ""}}));
  ASSERT_TRUE(l[4].process_identity);
  EXPECT_EQ(l[4].process_identity->name, "nobody");
  EXPECT_EQ(l[4].process_identity->uid, 65534u);
  EXPECT_FALSE(l[4].pass_authorization);
}

TEST_F(ConfigTest, ChildAccountsListEveryAccountAChildMayRunAsWithItsKey) {
  auto r = load(std::string(kMinimal) + R"([accounts]
"CORP\\bob" = "nobody"
[[locations]]
prefix = "/a/"
[[locations]]
prefix = "/b/"
process_identity = "www-data"
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& a : child_accounts(*r.value)) got.emplace_back(a.key, a.value->name);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"identity.process", "www-data"},
                     {"identity.anonymous", "nobody"},
                     {"accounts.\"CORP\\bob\"", "nobody"},
                     {"locations[1].process_identity", "www-data"}}));
}

TEST_F(ConfigTest, LocationMistakesAreReportedAtTheirValue) {
  POSIX_ONLY();
  write("site/index.php", "<?php");
  fs::create_directory(dir_ / "site/sub");
  write("prog.cgi", "#!/bin/sh\n");
  const std::string text = std::string(kMinimal) + R"([[locations]]
prefix = "/a/"
fallback = "/missing.php"
root = "relative/dir"
script = "/no/such/program"
env = { 1BAD = "x", GOOD = 1, "A-B" = "y" }
process_identity = "root"
deny = "yes"
scripts = 1
pass_authorization = "no"
[[locations]]
prefix = "/c/"
fallback = "index.php"
root = "FILE"
process_identity = "no-such-user-xyz"
[[locations]]
prefix = "/d/"
script = "DIR"
fallback = "/sub"
[[locations]]
prefix = "/e/"
fallback = "/index.php?x=1"
root = "/no/such/folder"
)";
  std::string t = std::regex_replace(text, std::regex("DIR"), dir_.string());
  t = std::regex_replace(t, std::regex("FILE"), (dir_ / "prog.cgi").string());
  const std::string site = fs::canonical(dir_ / "site").string();
  expect_errors(
      t,
      {
          {7, "\"/missing.php\"",
           "locations[0].fallback: \"/missing.php\" names \"" + site +
               "/missing.php\", which does not exist"},
          {7, "\"/missing.php\"", "locations[0].fallback: contradicts script"},
          {8, "\"relative/dir\"", "locations[0].root: \"relative/dir\" must be an absolute path"},
          {8, "\"relative/dir\"", "locations[0].root: contradicts script"},
          {9, "\"/no/such/program\"", "locations[0].script: \"/no/such/program\" does not exist"},
          {10, "1BAD",
           "locations[0].env: \"1BAD\" is not a valid environment variable name "
           "([A-Za-z_][A-Za-z0-9_]*)"},
          {10, "1, \"A-B", "locations[0].env.GOOD: expected a string, got an integer"},
          {10, "\"A-B\"", "locations[0].env: \"A-B\" is not a valid environment variable"},
          {11, "\"root\"", "locations[0].process_identity: account \"root\" resolves to root"},
          {12, "\"yes\"", "locations[0].deny: expected a boolean"},
          {13, "1", "locations[0].scripts: expected a boolean"},
          {14, "\"no\"", "locations[0].pass_authorization: expected a boolean"},
          {17, "\"index.php\"",
           "locations[1].fallback: \"index.php\" must be a plain URL path beginning with '/'"},
          {18, "\"", "locations[1].root: \"" + (dir_ / "prog.cgi").string() + "\" is not a folder"},
          {19, "\"no-such-user-xyz\"",
           "locations[1].process_identity: account \"no-such-user-xyz\" does not exist"},
          {22, "\"", "locations[2].script: \"" + dir_.string() + "\" is not a regular file"},
          {23, "\"/sub\"",
           "locations[2].fallback: \"/sub\" names \"" + site + "/sub\", which is not a file"},
          {23, "\"/sub\"", "locations[2].fallback: contradicts script"},
          {26, "\"/index.php?x=1\"", "locations[3].fallback: \"/index.php?x=1\" must be a plain"},
          {27, "\"/no/such/folder\"", "locations[3].root: \"/no/such/folder\" does not exist"},
      });
}

TEST_F(ConfigTest, LocationContradictionsAndARepeatedPrefixAreErrors) {
  POSIX_ONLY();
  write("site/index.php", "<?php");
  write("prog.cgi", "#!/bin/sh\n");
  const std::string text = std::string(kMinimal) + R"([[locations]]
prefix = "/a/"
[[locations]]
prefix = "/a/"
deny = true
fallback = "/index.php"
root = "DIR"
script = "FILE"
[[locations]]
prefix = "/b/"
script = "FILE"
fallback = "/index.php"
root = "DIR"
deny = false
)";
  std::string t = std::regex_replace(text, std::regex("DIR"), dir_.string());
  t = std::regex_replace(t, std::regex("FILE"), (dir_ / "prog.cgi").string());
  expect_errors(
      t, {
             {8, "\"/a/\"", "locations[1].prefix: \"/a/\" is already the prefix of locations[0]"},
             {10, "\"/index.php\"",
              "locations[1].fallback: contradicts deny = true: nothing under a denied prefix is "
              "served"},
             {11, "\"", "locations[1].root: contradicts deny = true"},
             {12, "\"", "locations[1].script: contradicts deny = true"},
             {16, "\"/index.php\"",
              "locations[2].fallback: contradicts script: every request under the prefix runs \"" +
                  (dir_ / "prog.cgi").string() + "\""},
             {17, "\"", "locations[2].root: contradicts script"},
         });
}

TEST_F(ConfigTest, RewritesAreReadInFileOrderWithTheirPlace) {
  const std::string text = std::string(kMinimal) + R"toml(
[[rewrites]]
match = "^/_media/(.*)"
to = "/lib/exe/fetch.php?media=$1"

  [[rewrites]]
match = "^/(?!lib/)(.*)"
to = "/doku.php?id=$1"
if_missing = true
[[rewrites]]
match = "^/old/(.*)$"
to = "/new/$1?"
redirect = 308
)toml";
  auto r = load(text);
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& rw = r.value->rewrites;
  ASSERT_EQ(rw.size(), 3u);
  EXPECT_EQ(rw[0].match, "^/_media/(.*)");
  EXPECT_EQ(rw[0].to, "/lib/exe/fetch.php?media=$1");
  EXPECT_FALSE(rw[0].if_missing);
  EXPECT_EQ(rw[0].redirect, 0u);
  EXPECT_EQ(rw[0].where, "test.toml:6:1");
  EXPECT_EQ(rw[1].match, "^/(?!lib/)(.*)");
  EXPECT_TRUE(rw[1].if_missing);
  EXPECT_EQ(rw[1].where, "test.toml:10:3");
  EXPECT_EQ(rw[2].to, "/new/$1?");
  EXPECT_EQ(rw[2].redirect, 308u);
  EXPECT_EQ(rw[2].where, "test.toml:14:1");
}

TEST_F(ConfigTest, RewriteMistakesAreReportedAtTheirValue) {
  POSIX_ONLY();
  const std::string text = std::string(kMinimal) + R"toml([[rewrites]]
match = "^/(unclosed"
to = "/x"
[[rewrites]]
match = "^/a/(.*)$"
to = "/b?x=$2"
redirect = 303
[[rewrites]]
to = "relative"
if_missing = "yes"
redirect = "301"
[[rewrites]]
match = "^/plain$"
to = "/p?$1"
iff_missing = true
[[rewrites]]
match = ""
)toml";
  expect_errors(
      text,
      {
          {6, "\"^/(unclosed\"",
           "rewrites[0].match: invalid regular expression at offset 11: missing closing "
           "parenthesis"},
          {10, "\"/b?x=$2\"", "rewrites[1].to: refers to $2, but match has only 1 capturing group"},
          {11, "303",
           "rewrites[1].redirect: 303 is not a redirect status; use 301, 302, 307 or "
           "308"},
          {12, "[[rewrites]]", "rewrites[2]: missing match"},
          {13, "\"relative\"", "rewrites[2].to: \"relative\" must begin with '/'"},
          {14, "\"yes\"", "rewrites[2].if_missing: expected a boolean"},
          {15, "\"301\"", "rewrites[2].redirect: expected an integer"},
          {18, "\"/p?$1\"",
           "rewrites[3].to: refers to $1, but match has no capturing "
           "group"},
          {19, "iff_missing",
           "unknown key \"rewrites[3].iff_missing\"; did you mean \"if_missing\"?"},
          {20, "[[rewrites]]", "rewrites[4]: missing to"},
          {21, "\"\"", "rewrites[4].match: must not be empty"},
      });
}

TEST_F(ConfigTest, FilteringListsReplaceTheDefaults) {
  auto r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->filtering.hidden_segments.empty());
  EXPECT_EQ(r.value->filtering.denied_extensions,
            (std::vector<std::string>{"~", ".bak", ".swp", ".orig", ".old"}));
  EXPECT_EQ(r.value->filtering.allow_dot_segments, std::vector<std::string>{".well-known"});
  r = load(std::string(kMinimal) + R"([filtering]
hidden_segments = ["web.config", "App_Data", "node_modules", "vendor"]
denied_extensions = [".bak", ".sql"]
allow_dot_segments = []
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->filtering.hidden_segments,
            (std::vector<std::string>{"web.config", "App_Data", "node_modules", "vendor"}));
  EXPECT_EQ(r.value->filtering.denied_extensions, (std::vector<std::string>{".bak", ".sql"}));
  EXPECT_TRUE(r.value->filtering.allow_dot_segments.empty());
}

TEST_F(ConfigTest, FilteringMistakesAreReportedAtTheirValue) {
  const std::string text = std::string(kMinimal) + R"([filtering]
hidden_segments = ["ok", "a/b", ""]
denied_extensions = [".bak", "x/.y"]
allow_dot_segments = [".well-known", "well-known", "./x"]
hiden_segments = []
[filtering.nested]
)";
  expect_errors(
      text, {
                {6, "\"a/b\"", "filtering.hidden_segments[1]: \"a/b\" must not contain '/'"},
                {6, "\"\"", "filtering.hidden_segments[2]: must not be empty"},
                {7, "\"x/.y\"", "filtering.denied_extensions[1]: \"x/.y\" must not contain '/'"},
                {8, "\"well-known\"",
                 "filtering.allow_dot_segments[1]: \"well-known\" must begin with '.'"},
                {8, "\"./x\"", "filtering.allow_dot_segments[2]: \"./x\" must not contain"},
                {9, "hiden_segments",
                 "unknown key \"filtering.hiden_segments\"; did you mean "
                 "\"hidden_segments\"?"},
                {10, "nested", "unknown key \"filtering.nested\""},
            });
  expect_errors("filtering = [\".x\"]\n" + std::string(kMinimal),
                {{1, "[", "filtering: expected a table, got an array"}});
}

TEST_F(ConfigTest, ProxyTrustedPeersAndHost) {
  auto r = load(std::string(kMinimal) +
                "[proxy]\ntrusted = [\"127.0.0.1/32\", \"10.0.0.0/8\", \"::1/128\"]\ntrust_host = "
                "true\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_EQ(r.value->proxy.trusted.size(), 3u);
  EXPECT_TRUE(address_in("10.1.2.3", r.value->proxy.trusted));
  EXPECT_FALSE(address_in("192.168.0.1", r.value->proxy.trusted));
  EXPECT_TRUE(r.value->proxy.trust_host);
  r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->proxy.trusted.empty());
  EXPECT_FALSE(r.value->proxy.trust_host);
  expect_errors(std::string(kMinimal) + R"([proxy]
trusted = ["10.0.0.0/33", 7]
trust_host = "yes"
)",
                {{6, "\"10.0.0.0/33\"", "proxy.trusted[0]: "},
                 {6, "7", "proxy.trusted[1]: expected a string, got an integer"},
                 {7, "\"yes\"", "proxy.trust_host: expected a boolean"}});
  expect_errors(std::string(kMinimal) + "[proxy]\ntrust_host = true\ntrusted_peers = []\n",
                {{6, "true",
                  "proxy.trust_host: needs trusted: the peers whose forwarded host is "
                  "believed"},
                 {7, "trusted_peers", "unknown key \"proxy.trusted_peers\""}});
}

// "unix:" names the peers on our Unix-socket listeners, in [proxy] trusted only.
TEST_F(ConfigTest, ProxyTrustedUnixPeers) {
  auto r = load(std::string(kMinimal) + "[proxy]\ntrusted = [\"unix:\", \"10.0.0.0/8\"]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->proxy.trusted_unix);
  ASSERT_EQ(r.value->proxy.trusted.size(), 1u);
  EXPECT_TRUE(address_in("10.1.2.3", r.value->proxy.trusted));
  r = load(std::string(kMinimal) + "[proxy]\ntrusted = [\"unix:\"]\ntrust_host = true\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->proxy.trusted_unix);
  EXPECT_TRUE(r.value->proxy.trusted.empty());
  r = load(std::string(kMinimal) + "[proxy]\ntrusted = [\"127.0.0.1\"]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.value->proxy.trusted_unix);
  expect_errors(std::string(kMinimal) + R"([proxy]
trusted = ["unix:/run/nginx.sock", "unix", "localhost"]
[status]
path = "/status"
allow = ["unix:"]
)",
                {{6, "\"unix:/run/nginx.sock\"", "proxy.trusted[0]: "},
                 {6, "\"unix\"", "or \"unix:\": a peer on a Unix-socket listener"},
                 {6, "\"localhost\"", "proxy.trusted[2]: "},
                 {9, "\"unix:\"", "status.allow[0]: invalid address range"}});
}

TEST_F(ConfigTest, HandlerMethodsAreHttpTokensAsWritten) {
  const std::string handler = "[[handlers]]\nmatch = \"*.pl\"\nmodule = \"cgi\"\nmethods = ";
  auto r = load(std::string(kMinimal) + handler + "[\"GET\", \"HEAD\", \"POST\", \"PROPFIND\"]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->handlers.at(0).methods,
            (std::vector<std::string>{"GET", "HEAD", "POST", "PROPFIND"}));
  r = load(std::string(kMinimal) + "[[handlers]]\nmatch = \"*.pl\"\nmodule = \"cgi\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->handlers.at(0).methods.empty());
  expect_errors(std::string(kMinimal) + handler + "[]\n",
                {{8, "[]", "handlers[0].methods: must not be empty"}});
  expect_errors(std::string(kMinimal) + handler + "[\"GET\", \"BAD METHOD\", \"\", 1]\n",
                {{8, "\"BAD METHOD\"",
                  "handlers[0].methods[1]: \"BAD METHOD\" is not an HTTP method (a token such as "
                  "\"GET\")"},
                 {8, "\"\"", "handlers[0].methods[2]: must not be empty"},
                 {8, "1]", "handlers[0].methods[3]: expected a string, got an integer"}});
  expect_errors(std::string(kMinimal) + handler + "\"GET\"\n",
                {{8, "\"GET\"", "handlers[0].methods: expected an array of strings"}});
}

TEST_F(ConfigTest, PassAuthorizationInCgiAndPools) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"([cgi]
pass_authorization = true
[pools.php]
command = ["/bin/sh"]
pass_authorization = true
[pools.fpm]
address = "127.0.0.1:9000"
pass_authorization = true
[pools.other]
command = ["/bin/sh"]
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->cgi.pass_authorization);
  EXPECT_TRUE(r.value->pools.at("php").pass_authorization);
  EXPECT_TRUE(r.value->pools.at("fpm").pass_authorization);
  EXPECT_FALSE(r.value->pools.at("other").pass_authorization);
  r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.value->cgi.pass_authorization);
  expect_errors(std::string(kMinimal) +
                    "[cgi]\npass_authorization = 1\n[pools.php]\ncommand = "
                    "[\"/bin/sh\"]\npass_authorization = \"yes\"\npass_authorisation = true\n",
                {{6, "1", "cgi.pass_authorization: expected a boolean"},
                 {9, "\"yes\"", "pools.php.pass_authorization: expected a boolean"},
                 {10, "pass_authorisation",
                  "unknown key \"pools.php.pass_authorisation\"; did you mean "
                  "\"pass_authorization\"?"}});
}

TEST_F(ConfigTest, StopGraceInCgiAndPoolsIsADurationWithTodaysDefaults) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"([cgi]
stop_grace = "300ms"
[pools.php]
command = ["/bin/sh"]
stop_grace = "5s"
[pools.other]
command = ["/bin/sh"]
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.stop_grace, 300ms);
  EXPECT_EQ(r.value->pools.at("php").stop_grace, 5s);
  EXPECT_EQ(r.value->pools.at("other").stop_grace, 2s);
  r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.stop_grace, 2s);
  expect_errors(std::string(kMinimal) +
                    "[cgi]\nstop_grace = 2\n[pools.php]\ncommand = "
                    "[\"/bin/sh\"]\nstop_grace = \"2 seconds\"\n[pools.b]\ncommand = "
                    "[\"/bin/sh\"]\nstop_grace = \"11m\"\n",
                {{6, "2", "cgi.stop_grace: expected a duration string"},
                 {9, "\"2 seconds\"", "pools.php.stop_grace: invalid duration"},
                 {12, "\"11m\"", "pools.b.stop_grace: must be at most 10m"}});
}

TEST_F(ConfigTest, RapidFailsPerMinuteIsACountWithZeroForNever) {
  POSIX_ONLY();
  const std::string pool = std::string(kMinimal) + "[pools.php]\ncommand = [\"/bin/sh\"]\n";
  auto r = load(pool);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").rapid_fails_per_minute, 10u);
  r = load(pool + "rapid_fails_per_minute = 0\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").rapid_fails_per_minute, 0u);
  expect_errors(pool + "rapid_fails_per_minute = -1\n",
                {{7, "-1", "pools.php.rapid_fails_per_minute: -1 is out of range"}});
  expect_errors(std::string(kMinimal) +
                    "[pools.fpm]\naddress = \"127.0.0.1:9000\"\nrapid_fails_per_minute = 5\n",
                {{7, "5", "pools.fpm.rapid_fails_per_minute: only for pools that start"}});
}

TEST_F(ConfigTest, MonitorChangesToIsAFileBesideTheConfigForPoolsThatStart) {
  POSIX_ONLY();
  const std::string pool = std::string(kMinimal) + "[pools.php]\ncommand = [\"/bin/sh\"]\n";
  auto r = load(pool);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.value->pools.at("php").monitor_changes_to);
  r = load(pool + "monitor_changes_to = \"php.ini\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_TRUE(r.value->pools.at("php").monitor_changes_to);
  EXPECT_TRUE(r.value->pools.at("php").monitor_changes_to->is_absolute());
  EXPECT_EQ(r.value->pools.at("php").monitor_changes_to->filename(), "php.ini");
  expect_errors(pool + "monitor_changes_to = \"\"\n",
                {{7, "\"\"", "pools.php.monitor_changes_to: must not be empty"}});
  expect_errors(std::string(kMinimal) +
                    "[pools.fpm]\naddress = \"127.0.0.1:9000\"\nmonitor_changes_to = \"x\"\n",
                {{7, "\"x\"", "pools.fpm.monitor_changes_to: not with address"}});
}

TEST_F(ConfigTest, MaxInstancesZeroIsResolvedToOnePerCore) {
  POSIX_ONLY();
  const std::string pool = std::string(kMinimal) + "[pools.php]\ncommand = [\"/bin/sh\"]\n";
  auto r = load(pool + "max_instances = 0\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").max_instances,
            std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_TRUE(r.value->pools.at("php").max_instances_per_core);
  r = load(pool + "max_instances = 3\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").max_instances, 3u);
  EXPECT_FALSE(r.value->pools.at("php").max_instances_per_core);
  expect_errors(pool + "max_instances = -1\n",
                {{7, "-1", "pools.php.max_instances: -1 is out of range (0 to 4096)"}});
}

TEST_F(ConfigTest, MinInstancesIsAtMostMaxInstances) {
  POSIX_ONLY();
  const std::string pool = std::string(kMinimal) + "[pools.php]\ncommand = [\"/bin/sh\"]\n";
  auto r = load(pool + "min_instances = 2\nmax_instances = 2\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").min_instances, 2u);
  r = load(pool);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").min_instances, 0u);
  expect_errors(pool + "min_instances = 5\nmax_instances = 4\n",
                {{7, "5",
                  "pools.php.min_instances: min_instances (5) must be at most "
                  "max_instances (4)"}});
  expect_errors(pool + "min_instances = 1\nchildren = 2\n",
                {{7, "1", "pools.php.min_instances: not with children"}});
  expect_errors(pool + "min_instances = 1\nimpersonate = true\n",
                {{7, "1", "pools.php.min_instances: not with impersonate = true"}});
  expect_errors(pool + "min_instances = \"2\"\n",
                {{7, "\"2\"", "pools.php.min_instances: expected an integer"}});
}

TEST_F(ConfigTest, StderrModeIsOneOfThreeWordsInCgiAndPools) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"([cgi]
stderr_mode = "ignore"
[pools.php]
command = ["/bin/sh"]
stderr_mode = "log_and_500"
[pools.other]
command = ["/bin/sh"]
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.stderr_mode, stderr_handling::ignore);
  EXPECT_EQ(r.value->pools.at("php").stderr_mode, stderr_handling::log_and_500);
  EXPECT_EQ(r.value->pools.at("other").stderr_mode, stderr_handling::log);
  expect_errors(std::string(kMinimal) +
                    "[cgi]\nstderr_mode = \"Log\"\n[pools.php]\ncommand = "
                    "[\"/bin/sh\"]\nstderr_mode = 500\n",
                {{6, "\"Log\"", "cgi.stderr_mode: must be \"log\", \"log_and_500\" or \"ignore\""},
                 {9, "500", "pools.php.stderr_mode: expected a string"}});
}

TEST_F(ConfigTest, ActivityTimeoutIsADurationOffByDefault) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"([cgi]
activity_timeout = "30s"
[pools.php]
command = ["/bin/sh"]
activity_timeout = "1m"
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.activity_timeout, 30s);
  EXPECT_EQ(r.value->pools.at("php").activity_timeout, 1min);
  r = load(kMinimal);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.activity_timeout, 0ms);
  expect_errors(
      std::string(kMinimal) + "[pools.php]\ncommand = [\"/bin/sh\"]\nslow_request_log = 5\n",
      {{7, "5", "pools.php.slow_request_log: expected a duration string"}});
  r = load(std::string(kMinimal) + "[cgi]\nslow_request_log = \"5s\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->cgi.slow_request_log, 5s);
  expect_errors(std::string(kMinimal) + "[cgi]\nactivity_timeout = \"soon\"\n",
                {{6, "\"soon\"", "cgi.activity_timeout: invalid duration"}});
}

TEST_F(ConfigTest, ErrorPagesNameFilesUnderTheDocumentRoot) {
  POSIX_ONLY();
  fs::create_directories(dir_ / "site/errors");
  write("site/errors/404.html", "not here");
  write("site/errors/5xx.html", "broken");
  auto r = load(std::string(kMinimal) + R"([errors]
404 = "/errors/404.html"
"503" = "/errors/5xx.html"
599 = "/errors/5xx.html"
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->error_pages,
            (std::map<unsigned, std::string>{
                {404, "/errors/404.html"}, {503, "/errors/5xx.html"}, {599, "/errors/5xx.html"}}));
  const std::string site = fs::canonical(dir_ / "site").string();
  expect_errors(
      std::string(kMinimal) + R"([errors]
404 = "/errors/missing.html"
500 = "errors/404.html"
302 = "/errors/404.html"
abc = "/errors/404.html"
0404 = "/errors/404.html"
600 = "/errors/404.html"
403 = 1
502 = "/errors/"
503 = "/errors/../errors/404.html"
504 = ""
)",
      {
          {6, "\"/errors/missing.html\"",
           "errors.404: \"/errors/missing.html\" names \"" + site +
               "/errors/missing.html\", which does not exist"},
          {7, "\"errors/404.html\"",
           "errors.500: \"errors/404.html\" must be a plain URL path beginning with '/'"},
          {8, "302",
           "errors.\"302\": not an HTTP error status; use one from 400 to 599, e.g. 404 "
           "= \"/errors/404.html\""},
          {9, "abc", "errors.\"abc\": not an HTTP error status"},
          {10, "0404", "errors.\"0404\": not an HTTP error status"},
          {11, "600", "errors.\"600\": not an HTTP error status"},
          {12, "1", "errors.403: expected a string such as \"/errors/404.html\""},
          {13, "\"/errors/\"",
           "errors.502: \"/errors/\" names \"" + site + "/errors/\", which is not a file"},
          {14, "\"/errors/../", "errors.503: \"/errors/../errors/404.html\" must be a plain"},
          {15, "\"\"", "errors.504: must not be empty"},
      });
}

TEST_F(ConfigTest, SyntaxErrorIsOneDiagnosticAtItsPlace) {
  auto r = load("listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 2u);
  EXPECT_GT(r.errors[0].column, 1u);
}

TEST_F(ConfigTest, ListenAndDocumentRootAreRequiredInServeMode) {
  auto r = load("[identity]\nprocess = \"www-data\"\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("listen: missing"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("document_root: missing"), std::string::npos);
}

TEST_F(ConfigTest, DocumentRootMustBeAnExistingFolder) {
  write("file.txt", "x");
  auto r = load(
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"nope\"\n[identity]\nprocess = "
      "\"www-data\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("does not exist"), std::string::npos);
  r = load(
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"file.txt\"\n[identity]\nprocess = "
      "\"www-data\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("is not a folder"), std::string::npos);
}

TEST_F(ConfigTest, RootWithoutProcessIdentityIsAnError) {
  auto r = load("listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("identity.process: missing; cgihost runs as root"),
            std::string::npos);
}

TEST_F(ConfigTest, WithoutRootChildrenDefaultToTheCurrentAccount) {
  POSIX_ONLY();
  load_options o;
  o.running_as_root = false;
  o.current_user = lookup_system_account("www-data");
  auto r = load("listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n", o);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->identity.process.name, "www-data");
  EXPECT_EQ(r.value->identity.anonymous.name, "www-data");
}

TEST_F(ConfigTest, WithoutRootAConfigNeedingOtherAccountsIsAnErrorSayingSo) {
  POSIX_ONLY();
  load_options o;
  o.running_as_root = false;
  o.current_user = lookup_system_account("www-data");
  auto r = load(R"(listen = ["127.0.0.1:80"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[accounts]
alice = "www-data"
)",
                o);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 5u);
  EXPECT_NE(r.errors[0].message.find(
                "identity.anonymous: account \"nobody\" (uid 65534) needs cgihost to run as root; "
                "it runs as \"www-data\" (uid 33) and can start children only as itself"),
            std::string::npos)
      << dump(r);
}

TEST_F(ConfigTest, AccountsMappingToRootOrNothingAreErrors) {
  const std::string text = std::string(kMinimal) +
                           "[accounts]\nalice = \"www-data\"\n\"CORP\\\\bob\" = \"root\"\ncarol = "
                           "\"no-such-user-xyz\"\n";
  auto r = load(text);
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("accounts.\"CORP\\bob\": account \"root\" resolves to root"),
            std::string::npos)
      << dump(r);
  EXPECT_NE(r.errors[1].message.find("\"no-such-user-xyz\" does not exist"), std::string::npos);
}

TEST_F(ConfigTest, UsersFileWithUnsupportedHashesIsReportedInThatFile) {
  POSIX_ONLY();  // a users file (crypt(3)) is refused on Windows
  write("users.htpasswd",
        "# comment\n"
        "alice:$2y$05$abcdefghijklmnopqrstuuNTFdXo1mJXfJ9xLzkGhUY/cJhl8a7m6\n"
        "bob:$apr1$abc$defghijklmnopqrstuvw0\n"
        "carol:plaintext\n"
        "no-colon-here\n");
  auto r = load(std::string(kMinimal) +
                "[authentication]\nbasic = true\nusers_file = \"users.htpasswd\"\n");
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  std::string users = (dir_ / "users.htpasswd").string();
  EXPECT_EQ(r.errors[0].to_string(),
            users +
                ":3:5: user \"bob\": unsupported password hash, Apache MD5 ($apr1$) "
                "(use bcrypt $2y$, sha512-crypt $6$ or yescrypt $y$)");
  EXPECT_EQ(r.errors[1].line, 4u);
  EXPECT_NE(r.errors[1].message.find("plain text"), std::string::npos);
  EXPECT_EQ(r.errors[2].line, 5u);
}

TEST_F(ConfigTest, HandlerModuleAndKeysMustAgree) {
  const std::string text = std::string(kMinimal) + R"(
[[handlers]]
match = "*.php"
module = "fastcgi"
interpreter = ["/usr/bin/perl"]
pool = "php"

[[handlers]]
match = "*.pl"
module = "cgi"
pool = "php"

[[handlers]]
match = "/static/*"
module = "static"
interpreter = ["/usr/bin/perl"]

[[handlers]]
match = "*.x"
module = "python"

[[handlers]]
module = "cgi"

[pools.php]
command = ["/no/such/program"]
)";
  auto r = load(text);
  std::vector<std::string> says = {
      "handlers[0].interpreter: only a \"cgi\" handler takes an interpreter",
      "handlers[1].pool: only a \"fastcgi\" handler takes a pool",
      "handlers[2].interpreter: a \"static\" handler takes no interpreter",
      "handlers[3].module: \"python\" is not a module",
      "handlers[4]: missing match",
      "pools.php.command: program \"/no/such/program\" not found"};
  ASSERT_EQ(r.errors.size(), says.size()) << dump(r);
  for (std::size_t i = 0; i < says.size(); ++i)
    EXPECT_NE(r.errors[i].message.find(says[i]), std::string::npos) << r.errors[i].to_string();
}

TEST_F(ConfigTest, ARemotePoolNamesAnAddressAndConnectionsButNoProgram) {
  const std::string text = std::string(kMinimal) + R"(
[pools.fpm]
address = "unix:/run/php/php8.2-fpm.sock"
max_connections = 16
request_timeout = "30s"

[pools.far]
address = "php1.internal:9000"

[pools.v6]
address = "[::1]:9000"
)";
  auto r = load(text);
  ASSERT_TRUE(r.errors.empty()) << dump(r);
  const auto& fpm = r.value->pools.at("fpm");
  ASSERT_TRUE(fpm.remote);
  EXPECT_EQ(fpm.remote->unix_path, "/run/php/php8.2-fpm.sock");
  EXPECT_EQ(fpm.max_connections, 16u);
  EXPECT_EQ(fpm.request_timeout, std::chrono::seconds(30));
  EXPECT_EQ(r.value->pools.at("far").remote->host, "php1.internal");
  EXPECT_EQ(r.value->pools.at("far").remote->port, 9000);
  EXPECT_EQ(r.value->pools.at("v6").remote->host, "::1");
}

TEST_F(ConfigTest, RemotePoolMistakesAreReportedAtTheirKey) {
  POSIX_ONLY();
  const std::string text = std::string(kMinimal) + R"(
[pools.both]
address = "127.0.0.1:9000"
command = ["/usr/bin/php-cgi"]

[pools.relative]
address = "unix:run/php.sock"

[pools.noport]
address = "127.0.0.1"

[pools.zero]
address = "127.0.0.1:0"

[pools.local]
command = ["/usr/bin/php-cgi"]
max_connections = 4
)";
  auto r = load(text);
  std::vector<std::string> says = {
      "pools.both.command: only for pools that start their program (command); this pool connects "
      "to address",
      "pools.relative.address: invalid FastCGI address \"unix:run/php.sock\" (unix: needs an "
      "absolute path",
      "pools.noport.address: invalid FastCGI address \"127.0.0.1\"",
      "pools.zero.address: port 0 out of range", "pools.local.max_connections: only with address"};
  ASSERT_EQ(r.errors.size(), says.size()) << dump(r);
  for (std::size_t i = 0; i < says.size(); ++i)
    EXPECT_NE(r.errors[i].message.find(says[i]), std::string::npos) << r.errors[i].to_string();
}

TEST_F(ConfigTest, APoolWithChildrenRunsOneInstanceWithThatManyChildren) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"(
[pools.php]
command = ["/usr/bin/php-cgi"]
children = 6
max_requests = 500
[pools.plain]
command = ["/usr/bin/php-cgi"]
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->pools.at("php").children, 6u);
  EXPECT_EQ(r.value->pools.at("php").max_requests, 500u);
  EXPECT_EQ(r.value->pools.at("plain").children, 0u);
}

// transport chooses between a named pipe and a loopback port on Windows
// (config_windows_test.cpp); here an instance always gets a Unix socket, and
// the key is an error at its line.
TEST_F(ConfigTest, PoolTransportIsAnErrorOffWindows) {
  POSIX_ONLY();
  const std::string text = std::string(kMinimal) + R"(
[pools.php]
command = ["/usr/bin/php-cgi"]
transport = "pipe"
[pools.remote]
address = "127.0.0.1:9000"
transport = "tcp"
)";
  expect_errors(text, {{8, "\"pipe\"", "pools.php.transport: only on Windows"},
                       {11, "\"tcp\"", "pools.remote.transport: only for pools that start"}});
}

TEST_F(ConfigTest, ChildrenMistakesAreReportedAtTheirKey) {
  POSIX_ONLY();
  const std::string text = std::string(kMinimal) + R"(
[pools.zero]
command = ["/usr/bin/php-cgi"]
children = 0
[pools.word]
command = ["/usr/bin/php-cgi"]
children = "four"
[pools.both]
command = ["/usr/bin/php-cgi"]
max_instances = 4
children = 4
[pools.accounts]
command = ["/usr/bin/php-cgi"]
impersonate = true
children = 4
[pools.env]
command = ["/usr/bin/php-cgi"]
children = 4
env = { PHP_FCGI_CHILDREN = "8" }
[pools.far]
address = "127.0.0.1:9000"
children = 4
)";
  expect_errors(text, {{8, "0", "pools.zero.children: 0 is out of range"},
                       {11, "\"four\"", "pools.word.children: expected an integer"},
                       {14, "4", "pools.both.max_instances: not with children"},
                       {18, "true", "pools.accounts.impersonate: not with children"},
                       {22, "4", "pools.env.children: env sets PHP_FCGI_CHILDREN too"},
                       {26, "4", "pools.far.children: only for pools that start their program"}});
}

TEST_F(ConfigTest, PoolsTakeTheResourceLimitsOfCgiExceptRemoteOnes) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"(
[pools.php]
command = ["/usr/bin/php-cgi"]
max_processes = 40
max_open_files = 512
max_address_space = "1g"
max_cpu_time = "2m"
[pools.plain]
command = ["/usr/bin/php-cgi"]
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  const pool& php = r.value->pools.at("php");
  EXPECT_EQ(php.max_processes, 40u);
  EXPECT_EQ(php.max_open_files, 512u);
  EXPECT_EQ(php.max_address_space, 1ull << 30);
  EXPECT_EQ(php.max_cpu_seconds, 120u);
  const pool& plain = r.value->pools.at("plain");
  EXPECT_FALSE(plain.max_processes || plain.max_open_files || plain.max_address_space ||
               plain.max_cpu_seconds);

  const std::string text = std::string(kMinimal) + R"(
[pools.bad]
command = ["/usr/bin/php-cgi"]
max_processes = 0
max_cpu_time = "500ms"
[pools.fpm]
address = "127.0.0.1:9000"
max_processes = 40
max_cpu_time = "1m"
)";
  r = load(text);
  std::vector<std::pair<std::uint32_t, std::string>> says = {
      {8, "pools.bad.max_processes: 0 is out of range"},
      {9, "pools.bad.max_cpu_time: must be at least 1s"},
      {12, "pools.fpm.max_processes: only for pools that start their program (command)"},
      {13, "pools.fpm.max_cpu_time: only for pools that start their program (command)"}};
  ASSERT_EQ(r.errors.size(), says.size()) << dump(r);
  for (std::size_t i = 0; i < says.size(); ++i) {
    EXPECT_EQ(r.errors[i].line, says[i].first) << r.errors[i].to_string();
    EXPECT_NE(r.errors[i].message.find(says[i].second), std::string::npos)
        << r.errors[i].to_string();
  }
}

TEST_F(ConfigTest, AccountsBelowMinUidOrMinGidAreErrors) {
  const std::string text = R"(listen = ["127.0.0.1:8080"]
document_root = "site"
[identity]
min_uid = 1000
process = "www-data"
anonymous = "nobody"
[accounts]
alice = "www-data"
)";
  auto r = load(text, root_options());
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find(
                "identity.process: account \"www-data\" has uid 33, below identity.min_uid (1000)"),
            std::string::npos)
      << dump(r);
  EXPECT_NE(r.errors[1].message.find("accounts.\"alice\": account \"www-data\" has uid 33"),
            std::string::npos)
      << dump(r);
  EXPECT_EQ(r.errors[0].line, 5u);
}

TEST_F(ConfigTest, UnknownTablesGetSuggestions) {
  auto r = load(std::string(kMinimal) +
                "[pool.php]\ncommand = [\"php-cgi\"]\n[statik]\nenabled = false\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_EQ(r.errors[0].message, "unknown key \"pool\"; did you mean \"pools\"?");
  EXPECT_EQ(r.errors[1].message, "unknown key \"statik\"; did you mean \"static\"?");
}

TEST_F(ConfigTest, TrustedHeaderNeedsTrustedProxies) {
  auto r = load(std::string(kMinimal) + "[authentication]\ntrusted_header = \"X-Remote-User\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("needs trusted_proxies"), std::string::npos);
  r = load(
      std::string(kMinimal) +
      "[authentication]\ntrusted_header = \"X Remote\"\ntrusted_proxies = [\"127.0.0.1/33\"]\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("not a valid header name"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("prefix length /33"), std::string::npos);
}

TEST_F(ConfigTest, HttpLimitsAndLogSettingsAreRead) {
  POSIX_ONLY();
  const std::string text = std::string(kMinimal) + R"(
[http]
max_request_line = "4k"
max_header_bytes = 8192
max_body_size = "1m"
header_timeout = "250ms"
[server]
threads = 3
grace_period = "1s"
[log]
level = "debug"
access_log = "logs/access.log"
)";
  auto r = load(text);
  EXPECT_FALSE(r.ok());  // no "logs" folder yet
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("log.access_log: folder"), std::string::npos) << dump(r);
  fs::create_directory(dir_ / "logs");
  r = load(text);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->http.max_request_line, 4096u);
  EXPECT_EQ(r.value->http.max_header_bytes, 8192u);
  EXPECT_EQ(r.value->http.max_body_size, 1024u * 1024);
  EXPECT_EQ(r.value->http.header_timeout, 250ms);
  EXPECT_EQ(r.value->server.threads, 3u);
  EXPECT_EQ(r.value->log.level, "debug");
  EXPECT_EQ(r.value->log.access_log, (dir_ / "logs/access.log").string());

  r = load(std::string(kMinimal) + "[log]\nlevel = \"loud\"\n[http]\nheader_timeout = \"0s\"\n");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_NE(r.errors[0].message.find("\"loud\" is not a level"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("must be longer than 0"), std::string::npos);
}

// The head is held whole while it is parsed: its limits are capped at 1 MiB,
// and "1m" itself is valid (a single field over Beast's 64 KiB is then a 431).
TEST_F(ConfigTest, HeadLimitsAreCappedAtOneMebibyte) {
  struct row {
    std::string keys;
    std::string message;  // empty: accepted
    std::uint32_t column = 0;
  };
  for (const auto& [keys, message, column] : std::vector<row>{
           {"max_header_bytes = \"1m\"\nmax_request_line = \"1m\"\n", ""},
           {"max_header_bytes = \"2m\"\n",
            "http.max_header_bytes: 2097152 is above the maximum 1048576", 20},
           {"max_header_bytes = 1048577\n",
            "http.max_header_bytes: 1048577 is above the maximum 1048576", 20},
           {"max_request_line = \"1g\"\n",
            "http.max_request_line: 1073741824 is above the maximum 1048576", 20},
       }) {
    auto r = load(std::string(kMinimal) + "[http]\n" + keys);
    if (message.empty()) {
      ASSERT_TRUE(r.ok()) << keys << dump(r);
      EXPECT_EQ(r.value->http.max_header_bytes, 1024u * 1024) << keys;
      continue;
    }
    ASSERT_EQ(r.errors.size(), 1u) << keys << dump(r);
    EXPECT_EQ(r.errors[0].line, 6u) << keys;
    EXPECT_EQ(r.errors[0].column, column) << keys;
    EXPECT_NE(r.errors[0].to_string().find(":6:" + std::to_string(column) + ": " + message),
              std::string::npos)
        << dump(r);
  }
}

TEST_F(ConfigTest, DevModeIsTheEmbeddedConfig) {
  auto r = load_dev(dir_ / "site", std::nullopt, root_options());
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->dev_mode);
  EXPECT_EQ(r.value->listen.at(0).to_string(), "127.0.0.1:8080");
  EXPECT_EQ(r.value->document_root, fs::canonical(dir_ / "site"));
  // Started as root, dev mode runs children as nobody.
  EXPECT_EQ(r.value->identity.process.name, "nobody");
  ASSERT_GE(r.value->handlers.size(), 3u);
  EXPECT_EQ(r.value->handlers[0].match, "*.php");

  r = load_dev(dir_ / "site", std::string("[::1]:9000"), root_options());
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->listen.at(0).to_string(), "[::1]:9000");

  r = load_dev(dir_ / "site", std::string("nowhere"), root_options());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "--listen");
}

TEST_F(ConfigTest, DevModeKeepsHandlersWhoseProgramIsMissingButMarksThem) {
  const char* saved = std::getenv("PATH");
  std::string old = saved ? saved : "";
  set_env("PATH", (dir_ / "empty-bin").string());
  auto r = load_dev(dir_ / "site", std::nullopt, root_options());
  set_env("PATH", old);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.value->handlers[0].available);
  EXPECT_NE(r.value->handlers[0].unavailable_reason.find("\"php-cgi\" not found on PATH"),
            std::string::npos);
  EXPECT_FALSE(r.value->handlers[1].available);  // *.pl: perl
  EXPECT_TRUE(r.value->handlers[2].available);   // *.cgi needs no interpreter
}

}  // namespace
}  // namespace cgihost::config

namespace cgihost::config {
namespace {

// [identity] server: the network process's own account.
class ServerAccountTest : public ConfigTest {
 protected:
  // Root options where the account database has `present` (name -> uid) and
  // the ids `taken`, nothing else.
  static load_options fake(std::map<std::string, std::uint32_t> present,
                           std::set<std::uint32_t> taken = {}) {
    load_options o = root_options();
    o.lookup = [present](const std::string& name) -> std::optional<account> {
      auto it = present.find(name);
      if (it == present.end()) return std::nullopt;
      return account{name, it->second, it->second, ""};
    };
    o.id_in_use = [present, taken](std::uint32_t id) {
      if (taken.contains(id)) return true;
      for (const auto& [n, u] : present)
        if (u == id) return true;
      return false;
    };
    return o;
  }
  static constexpr const char* kHead =
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n[identity]\nprocess = "
      "\"www-data\"\nanonymous = \"nobody\"\n";
  const std::map<std::string, std::uint32_t> kBase{
      {"www-data", 33}, {"nobody", 65534}, {"alice", 1001}, {"svc", 998}, {"root", 0}};
};

TEST_F(ServerAccountTest, ANamedAccountIsUsed) {
  auto r = load(std::string(kHead) + "server = \"svc\"\n", fake(kBase));
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_TRUE(r.value->identity.server);
  EXPECT_EQ(r.value->identity.server->name, "svc");
  EXPECT_EQ(r.value->identity.server_choice, "[identity] server");
}

TEST_F(ServerAccountTest, ANamedAccountThatAChildRunsAsOrRootIsAnErrorAtItsPlace) {
  struct row {
    std::string name, says;
  };
  for (const auto& [name, says] :
       std::vector<row>{{"www-data", "account \"www-data\" (uid 33) is also identity.process"},
                        {"nobody", "account \"nobody\" (uid 65534) is also identity.anonymous"},
                        {"alice", "account \"alice\" (uid 1001) is also accounts.\"bob\""},
                        {"root", "account \"root\" is root"},
                        {"ghost", "account \"ghost\" does not exist on this machine"}}) {
    const std::string text =
        std::string(kHead) + "server = \"" + name + "\"\n[accounts]\nbob = \"alice\"\n";
    auto r = load(text, fake(kBase));
    ASSERT_EQ(r.errors.size(), 1u) << name << "\n" << dump(r);
    EXPECT_EQ(r.errors[0].line, 6u);
    EXPECT_EQ(r.errors[0].column, col(text, 6, "\"" + name));
    EXPECT_EQ(r.errors[0].message.find("identity.server: " + says), 0u) << r.errors[0].message;
  }
}

TEST_F(ServerAccountTest, WithoutRootNamingOneIsAnError) {
  load_options o = fake(kBase);
  o.running_as_root = false;
  o.current_user = account{"www-data", 33, 33, ""};
  auto r = load(
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n[identity]\nserver = \"svc\"\n", o);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_NE(
      r.errors[0].message.find("identity.server: account \"svc\" needs cgihost to run as root"),
      std::string::npos);
  auto unnamed = load("listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n", o);
  ASSERT_TRUE(unnamed.ok()) << dump(unnamed);
  EXPECT_FALSE(unnamed.value->identity.server);
}

TEST_F(ServerAccountTest, NotNamedTheAccountCgihostIsTheDefault) {
  auto base = kBase;
  base["cgihost"] = 997;
  auto r = load(kHead, fake(base));
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_TRUE(r.value->identity.server);
  EXPECT_EQ(r.value->identity.server->name, "cgihost");
  EXPECT_EQ(r.value->identity.server_choice, "[identity] server not set: the account \"cgihost\"");
}

TEST_F(ServerAccountTest, WithoutTheAccountCgihostAUidNoAccountOrGroupHasIsTheDefault) {
  auto r = load(kHead, fake(kBase, {65519, 65518}));
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_TRUE(r.value->identity.server);
  EXPECT_EQ(r.value->identity.server->name, "");
  EXPECT_EQ(r.value->identity.server->uid, 65517u);
  EXPECT_EQ(r.value->identity.server->gid, 65517u);
  EXPECT_NE(r.value->identity.server_choice.find("uid 65517, which no account or group has"),
            std::string::npos);
  // "cgihost" taken by a child account is not used: the free uid is.
  auto base = kBase;
  base["cgihost"] = 997;
  auto shared = load(std::string(kHead) + "[accounts]\nbob = \"cgihost\"\n", fake(base));
  ASSERT_TRUE(shared.ok()) << dump(shared);
  EXPECT_EQ(shared.value->identity.server->uid, 65519u);
  EXPECT_NE(
      shared.value->identity.server_choice.find("(the account \"cgihost\" is accounts.\"bob\")"),
      std::string::npos)
      << shared.value->identity.server_choice;
}

// [[locations]] process_identity: checked as identity.process is.
TEST_F(ServerAccountTest, AProcessIdentityIsCheckedAsIdentityProcessIs) {
  const std::string loc = "[[locations]]\nprefix = \"/x/\"\nprocess_identity = ";
  auto r = load(std::string(kHead) + loc + "\"alice\"\n", fake(kBase));
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_TRUE(r.value->locations.at(0).process_identity);
  EXPECT_EQ(*r.value->locations[0].process_identity, (account{"alice", 1001, 1001, ""}));
  const std::string low =
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n[identity]\nprocess = "
      "\"alice\"\nmin_uid = 1000\n" +
      loc + "\"svc\"\n";
  expect_errors(low,
                {{8, "\"svc\"",
                  "locations[0].process_identity: account \"svc\" has uid 998, below "
                  "identity.min_uid (1000)"}},
                fake(kBase));
  const std::string same = std::string(kHead) + "server = \"alice\"\n" + loc + "\"alice\"\n";
  expect_errors(same,
                {{6, "\"alice\"",
                  "identity.server: account \"alice\" (uid 1001) is also "
                  "locations[0].process_identity: the network process must run as an account no "
                  "child runs as"}},
                fake(kBase));
  load_options o = fake(kBase);
  o.running_as_root = false;
  o.current_user = account{"www-data", 33, 33, ""};
  const std::string unprivileged =
      "listen = [\"127.0.0.1:80\"]\ndocument_root = \"site\"\n" + loc + "\"alice\"\n";
  expect_errors(unprivileged,
                {{5, "\"alice\"",
                  "locations[0].process_identity: account \"alice\" (uid 1001) needs cgihost to "
                  "run as root"}},
                o);
}

TEST_F(ServerAccountTest, TheDefaultServerAccountIsNoProcessIdentity) {
  auto base = kBase;
  base["cgihost"] = 997;
  auto r = load(std::string(kHead) +
                    "[[locations]]\nprefix = \"/x/\"\nprocess_identity = "
                    "\"cgihost\"\n",
                fake(base));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.value->identity.server->uid, 65519u);
  EXPECT_NE(r.value->identity.server_choice.find(
                "(the account \"cgihost\" is locations[0].process_identity)"),
            std::string::npos)
      << r.value->identity.server_choice;
}

// [identity] spawner_service_account: the account the spawner service's
// process must run as (the front end refuses a pipe served by another);
// LocalSystem by default; Windows only, an error at its line elsewhere.
TEST_F(ConfigTest, SpawnerServiceAccountIsWindowsOnlyAndLocalSystemByDefault) {
  const std::string head =
      "listen = [\"127.0.0.1:8080\"]\ndocument_root = \"site\"\n[identity]\nprocess = "
      "\"www-data\"\n";
  auto absent = load(head);
  ASSERT_TRUE(absent.ok()) << absent.errors[0].to_string();
  EXPECT_EQ(absent.value->identity.spawner_service_account, "NT AUTHORITY\\SYSTEM");
  auto r = load(head + "spawner_service_account = 'HOST\\svc'\n");
#if defined(_WIN32)
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.value->identity.spawner_service_account, "HOST\\svc");
  auto empty = load(head + "spawner_service_account = ''\n");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.errors[0].line, 5u) << empty.errors[0].to_string();
#else
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.toml:5:27: identity.spawner_service_account: only on Windows, where the "
            "privileged spawner is a service (cgihost service install)");
#endif
}

// [identity] logon_password_file: where `cgihost password` keeps DPAPI blobs,
// relative to the config's folder; only Windows logs on with passwords.
TEST_F(ConfigTest, LogonPasswordFileIsWindowsOnlyAndRelativeToTheConfig) {
  const std::string head =
      "listen = [\"127.0.0.1:8080\"]\ndocument_root = \"site\"\n[identity]\nprocess = "
      "\"www-data\"\n";
  auto r = load(head + "logon_password_file = \"cgihost.passwords\"\n");
#if defined(_WIN32)
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  ASSERT_TRUE(r.value->identity.logon_password_file);
  EXPECT_EQ(*r.value->identity.logon_password_file, dir_ / "cgihost.passwords");
#else
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.toml:5:23: identity.logon_password_file: only on Windows, where accounts log "
            "on with LogonUserW and DPAPI keeps the passwords");
#endif
  auto empty = load(head + "logon_password_file = \"\"\n");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.errors[0].line, 5u);
  EXPECT_NE(empty.errors[0].message.find("empty"), std::string::npos)
      << empty.errors[0].to_string();
  auto absent = load(head);
  ASSERT_TRUE(absent.ok()) << absent.errors[0].to_string();
  EXPECT_FALSE(absent.value->identity.logon_password_file) << "absent: S4U only";
}

// [fastcgi]: the FastCGI listener's addresses, Unix-socket ownership, the
// peers it accepts and whether REMOTE_USER is believed.
TEST_F(ConfigTest, FastCgiListenerReadsEveryKeyWithDefaults) {
  POSIX_ONLY();
  auto r = load(std::string(kMinimal) + R"([fastcgi]
listen = ["unix:/run/cgihost/fcgi.sock", "127.0.0.1:9000"]
socket_owner = "www-data"
socket_group = "nogroup"
socket_mode = "0600"
allowed_clients = ["127.0.0.1", "10.0.0.0/8"]
trust_remote_user = true
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& f = r.value->fastcgi;
  ASSERT_EQ(f.listen.size(), 2u);
  EXPECT_TRUE(f.listen[0].is_unix());
  EXPECT_EQ(f.listen[0].unix_path, "/run/cgihost/fcgi.sock");
  EXPECT_EQ(f.listen[1].to_string(), "127.0.0.1:9000");
  ASSERT_TRUE(f.socket.owner_uid);
  EXPECT_EQ(*f.socket.owner_uid, lookup_system_account("www-data")->uid);
  ASSERT_TRUE(f.socket.group_gid);
  EXPECT_EQ(*f.socket.group_gid, *lookup_system_group("nogroup"));
  EXPECT_EQ(f.socket.mode, 0600u);
  ASSERT_EQ(f.allowed_clients.size(), 2u);
  EXPECT_TRUE(f.trust_remote_user);

  auto d = load(std::string(kMinimal) + "[fastcgi]\nlisten = \"127.0.0.1:9000\"\n");
  ASSERT_TRUE(d.ok()) << dump(d);
  EXPECT_EQ(d.value->fastcgi.socket.mode, 0660u);
  EXPECT_FALSE(d.value->fastcgi.socket.owner_uid);
  EXPECT_FALSE(d.value->fastcgi.trust_remote_user);
  EXPECT_TRUE(address_in("127.0.0.1", d.value->fastcgi.allowed_clients));
  EXPECT_TRUE(address_in("::1", d.value->fastcgi.allowed_clients));
  EXPECT_FALSE(address_in("10.1.2.3", d.value->fastcgi.allowed_clients));
  EXPECT_TRUE(load(kMinimal).value->fastcgi.listen.empty()) << "no [fastcgi]: no listener";
}

TEST_F(ConfigTest, FastCgiOnlyServerNeedsNoHttpListen) {
  POSIX_ONLY();
  auto r = load(
      "document_root = \"site\"\n[identity]\nprocess = \"www-data\"\n"
      "[fastcgi]\nlisten = [\"unix:/tmp/x.sock\"]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.value->listen.empty());
  auto none = load("document_root = \"site\"\n[identity]\nprocess = \"www-data\"\n");
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_EQ(none.errors[0].to_string().rfind("test.toml:1:1: listen: missing", 0), 0u)
      << none.errors[0].to_string();
}

TEST_F(ConfigTest, UnixListenersAndSocketKeysUnderHttp) {
  POSIX_ONLY();
  auto r = load(R"(listen = ["unix:/run/cgihost/http.sock", "127.0.0.1:8080"]
document_root = "site"
[identity]
process = "www-data"
[http]
socket_group = "nogroup"
socket_mode = "660"
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_EQ(r.value->listen.size(), 2u);
  EXPECT_EQ(r.value->listen[0].to_string(), "unix:/run/cgihost/http.sock");
  EXPECT_EQ(r.value->http.socket.mode, 0660u);
  EXPECT_TRUE(r.value->http.socket.group_gid);
}

TEST_F(ConfigTest, FastCgiMistakesAreReportedAtTheirValue) {
  POSIX_ONLY();
  const std::string text = R"(listen = ["unix:/run/a.sock"]
document_root = "site"
[identity]
process = "www-data"
[http]
socket_mode = "0999"
[fastcgi]
listen = ["unix:relative.sock", "unix:/run/a.sock", "localhost:9000"]
socket_owner = "no-such-account-here"
socket_group = "no-such-group-here"
socket_mode = 660
allowed_clients = ["10.0.0.0/33"]
trust_remote_user = "yes"
listen_backlog = 5
)";
  expect_errors(text, {{6, "\"0999\"", "http.socket_mode: invalid socket mode \"0999\""},
                       {8, "\"unix:relative", "fastcgi.listen: invalid listen address"},
                       {8, "\"unix:/run/a.sock\"", "unix:/run/a.sock is listed twice"},
                       {8, "\"localhost", "fastcgi.listen: invalid listen address"},
                       {9, "\"no-such-account", "fastcgi.socket_owner: account"},
                       {10, "\"no-such-group", "fastcgi.socket_group: group"},
                       {11, "660", "fastcgi.socket_mode: expected a string"},
                       {12, "\"10.0", "fastcgi.allowed_clients[0]"},
                       {13, "\"yes\"", "fastcgi.trust_remote_user: expected a boolean"},
                       {14, "listen_backlog", "unknown key \"fastcgi.listen_backlog\""}});
  auto missing = load(std::string(kMinimal) + "[fastcgi]\ntrust_remote_user = true\n");
  ASSERT_EQ(missing.errors.size(), 1u) << dump(missing);
  EXPECT_NE(missing.errors[0].message.find("fastcgi: missing listen"), std::string::npos);
}

}  // namespace
}  // namespace cgihost::config
