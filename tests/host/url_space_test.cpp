// The URL space end to end (issue 13): default documents, a front
// controller's fallback, rewrites, request filtering from [filtering], and
// the locations' deny, scripts, root and script, through a real server with
// real php-cgi instances (FastCGI) and perl children (CGI).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;

// What each script prints: SCRIPT_NAME|PATH_INFO|REQUEST_URI|QUERY_STRING|SCRIPT_FILENAME.
const std::string kPhp =
    "<?php header('Content-Type: text/plain'); echo implode('|', array_map(fn($n) => "
    "$_SERVER[$n] ?? '', ['SCRIPT_NAME', 'PATH_INFO', 'REQUEST_URI', 'QUERY_STRING', "
    "'SCRIPT_FILENAME']));";
const std::string kPerl =
    "#!/usr/bin/perl\nprint \"Content-Type: text/plain\\r\\n\\r\\n\";\n"
    "print join('|', map { $ENV{$_} // '' } qw(SCRIPT_NAME PATH_INFO REQUEST_URI QUERY_STRING "
    "SCRIPT_FILENAME));\n";

class UrlSpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* php : {"site/index.php", "site/wp/index.php", "site/lib/exe/fetch.php",
                            "site/uploads/evil.php", "other/run.php"})
      write(php, kPhp);
    write("site/app/index.pl", kPerl);
    write("site/wp/readme.txt", "readme\n");
    write("site/data/pages/start.txt", "secret page\n");
    write("site/uploads/a.txt", "uploaded\n");
    write("site/vendor/autoload.txt", "vendor secret\n");
    write("site/none/file.bin", "x");
    write("other/style.css", "p {}\n");
    write("cgit/cgit.cgi", kPerl, 0755);
    const std::string toml = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[static]
index = ["index.php", "index.pl", "index.html"]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 2
[filtering]
hidden_segments = ["vendor"]
[[locations]]
prefix = "/wp/"
fallback = "/wp/index.php"
[[locations]]
prefix = "/data/"
deny = true
[[locations]]
prefix = "/uploads/"
scripts = false
[[locations]]
prefix = "/other/"
root = ")" + (dir_ / "other") +
                             R"("
[[locations]]
prefix = "/cgit/"
script = ")" + (dir_ / "cgit/cgit.cgi") +
                             R"("
[[rewrites]]
match = "^/_media/(.*)$"
to = "/lib/exe/fetch.php?media=$1"
[[rewrites]]
match = "^/old/(.*)$"
to = "/new/$1"
redirect = 301
[server]
threads = 2
grace_period = "5s"
)";
    server_ = std::make_unique<running_server>(toml, dir_.path());
    port_ = server_->port();
  }

  void TearDown() override {
    if (server_) server_->stop();
  }

  // A file of the test's folders, readable by the accounts scripts run as.
  void write(const std::string& name, const std::string& text, mode_t mode = 0644) {
    dir_.write(name, text);
    ::chmod((dir_ / name).c_str(), mode);
    for (fs::path p = fs::path(dir_ / name).parent_path(); p.string().size() >= dir_.path().size();
         p = p.parent_path())
      ::chmod(p.c_str(), 0755);
  }

  // The body of a 200 answer to GET `target`, or a note of what came instead.
  std::string body_of(const std::string& target) {
    auto r = fetch(port_, target);
    if (!r) return "(no answer)";
    if (r->status != 200) return "(status " + std::to_string(r->status) + ")";
    return r->body;
  }

  std::string error_log() const { return server_->error_log(); }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(UrlSpaceTest, ADefaultDocumentRunsThroughItsHandler) {
  const std::string site = dir_ / "site";
  // index.php through its FastCGI pool; its source is never served.
  EXPECT_EQ(body_of("/"), "/index.php||/||" + site + "/index.php");
  EXPECT_EQ(body_of("/?x=1"), "/index.php||/?x=1|x=1|" + site + "/index.php");
  // index.pl through CGI.
  EXPECT_EQ(body_of("/app/?a=1"), "/app/index.pl||/app/?a=1|a=1|" + site + "/app/index.pl");
  auto none = fetch(port_, "/none/");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  server_->stop();
  EXPECT_NE(error_log().find("folder without a default document: /none/; tried: index.php "
                             "(missing), index.pl (missing), index.html (missing)"),
            std::string::npos)
      << error_log();
}

TEST_F(UrlSpaceTest, AFallbackRunsTheFrontControllerWithTheClientsUri) {
  const std::string front = dir_ / "site/wp/index.php";
  EXPECT_EQ(body_of("/wp/hello-world/?p=2"), "/wp/index.php||/wp/hello-world/?p=2|p=2|" + front);
  EXPECT_EQ(body_of("/wp/wp-json/wp/v2/posts"), "/wp/index.php||/wp/wp-json/wp/v2/posts||" + front);
  EXPECT_EQ(body_of("/wp/nothere.php?q"), "/wp/index.php||/wp/nothere.php?q|q|" + front);
  // The script exists: it runs with its PATH_INFO.
  EXPECT_EQ(body_of("/wp/index.php/foo"), "/wp/index.php|/foo|/wp/index.php/foo||" + front);
  EXPECT_EQ(body_of("/wp/readme.txt"), "readme\n");             // an existing file is itself
  EXPECT_EQ(body_of("/wp/"), "/wp/index.php||/wp/||" + front);  // a folder: its default document
}

TEST_F(UrlSpaceTest, ARewriteRunsAnotherScriptAndARedirectRuleRedirects) {
  EXPECT_EQ(body_of("/_media/wiki/logo.png?w=10"),
            "/lib/exe/fetch.php||/_media/wiki/logo.png?w=10|media=wiki/logo.png&w=10|" +
                (dir_ / "site/lib/exe/fetch.php"));
  auto moved = fetch(port_, "/old/a/b?x=1");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->status, 301);
  EXPECT_EQ(moved->header("Location"), "/new/a/b?x=1");
}

TEST_F(UrlSpaceTest, ADeniedLocationAndAHiddenSegmentAre404LoggedWithTheRule) {
  for (const char* target : {"/data/pages/start.txt", "/data/", "/vendor/autoload.txt"}) {
    auto r = fetch(port_, target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 404) << target;
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << target;
  }
  server_->stop();
  EXPECT_NE(error_log().find(" 404 GET /data/pages/start.txt: location /data/ deny = true"),
            std::string::npos)
      << error_log();
  EXPECT_NE(error_log().find(" 404 GET /vendor/autoload.txt: filter.hidden_segment: segment "
                             "\"vendor\""),
            std::string::npos)
      << error_log();
}

TEST_F(UrlSpaceTest, ScriptsOffRefusesAScriptAndServesTheRest) {
  auto evil = fetch(port_, "/uploads/evil.php");
  ASSERT_TRUE(evil);
  EXPECT_EQ(evil->status, 403);
  EXPECT_EQ(evil->body.find("SCRIPT_NAME"), std::string::npos);  // neither run nor shown
  EXPECT_EQ(evil->body.find("<?php"), std::string::npos);
  EXPECT_EQ(body_of("/uploads/a.txt"), "uploaded\n");
  server_->stop();
  EXPECT_NE(error_log().find("[filter] rid="), std::string::npos) << error_log();
  EXPECT_NE(error_log().find(" 403 GET /uploads/evil.php: location /uploads/ scripts = false"),
            std::string::npos)
      << error_log();
}

TEST_F(UrlSpaceTest, ARootLocationServesAndRunsFromItsOwnFolder) {
  EXPECT_EQ(body_of("/other/style.css"), "p {}\n");
  EXPECT_EQ(body_of("/other/run.php/x"),
            "/other/run.php|/x|/other/run.php/x||" + (dir_ / "other/run.php"));
  auto missing = fetch(port_, "/other/index.php");  // document_root's is not beneath it
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(UrlSpaceTest, AScriptLocationRunsItsProgramForEverythingUnderIt) {
  const std::string program = dir_ / "cgit/cgit.cgi";
  EXPECT_EQ(body_of("/cgit/repo/log?h=main"),
            "/cgit|/repo/log|/cgit/repo/log?h=main|h=main|" + program);
  EXPECT_EQ(body_of("/cgit/"), "/cgit|/|/cgit/||" + program);
  EXPECT_EQ(body_of("/cgit"), "/cgit||/cgit||" + program);
  EXPECT_EQ(body_of("/cgit/style.php"), "/cgit|/style.php|/cgit/style.php||" + program);
}

// allow_symlinks_outside_root = true lets static files leave the root too
// (Debian's wordpress links wp-content into /var/lib); a file reached so is
// still judged by its own name.
TEST(UrlSpaceSymlinks, StaticFilesFollowSymlinksOutOfTheRootWhenAllowed) {
  temp_dir dir;
  dir.write("site/index.html", "home\n");
  dir.write("outside/content/pic.txt", "outside\n");
  dir.write("outside/secret.php", "<?php $password = 1;");
  dir.write("outside/.env", "password=1\n");
  fs::create_directory_symlink(dir / "outside/content", dir / "site/content");
  fs::create_symlink(dir / "outside/secret.php", dir / "site/secret.txt");
  fs::create_symlink(dir / "outside/.env", dir / "site/env.txt");
  const std::string base = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "cgi"
interpreter = ["/usr/bin/php-cgi"]
)";
  for (bool allowed : {false, true}) {
    running_server server(std::string(allowed ? "allow_symlinks_outside_root = true\n" : "") + base,
                          dir.path());
    auto pic = fetch(server.port(), "/content/pic.txt");
    ASSERT_TRUE(pic);
    EXPECT_EQ(pic->status, allowed ? 200 : 404) << allowed;
    EXPECT_EQ(pic->body.find("outside") != std::string::npos, allowed);
    for (const char* target : {"/secret.txt", "/env.txt"}) {
      auto r = fetch(server.port(), target);
      ASSERT_TRUE(r) << target;
      EXPECT_NE(r->status, 200) << target << " " << allowed;
      EXPECT_EQ(r->body.find("password"), std::string::npos) << target;
    }
    server.stop();
    if (allowed) {
      EXPECT_NE(
          server.error_log().find("/secret.txt: reached through a symlink to " +
                                  (dir / "outside/secret.php") + ": handler \"*.php\" runs it"),
          std::string::npos)
          << server.error_log();
      EXPECT_NE(server.error_log().find("/env.txt: reached through a symlink to " +
                                        (dir / "outside/.env") + ": filter.dot_segment"),
                std::string::npos)
          << server.error_log();
    }
  }
}

// `cgihost try` and `try --explain` say what the dispatch made of a URL.
TEST(UrlSpaceTry, TryAndExplainShowRewritesDefaultDocumentsFallbacksAndRefusals) {
  temp_dir dir;
  const std::string script = "print \"Content-Type: text/plain\\n\\nran $ENV{SCRIPT_NAME}\\n\";\n";
  for (const char* f : {"site/app/index.pl", "site/wp/index.pl", "site/fetch.pl"})
    dir.write(f, script);
  dir.write("site/none/x.bin", "x");
  for (const char* f : {"", "/site", "/site/app", "/site/wp", "/site/none"})
    ::chmod((dir.path() + f).c_str(), 0755);
  for (const char* f : {"site/app/index.pl", "site/wp/index.pl", "site/fetch.pl"})
    ::chmod((dir / f).c_str(), 0644);
  dir.write("c.toml", for_this_user(R"(listen = ["127.0.0.1:8080"]
document_root = "site"
[identity]
process = "www-data"
[static]
index = ["index.html", "index.pl"]
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[locations]]
prefix = "/wp/"
fallback = "/wp/index.pl"
[[locations]]
prefix = "/data/"
deny = true
[[locations]]
prefix = "/app/"
scripts = false
[[rewrites]]
match = "^/_media/(.*)$"
to = "/fetch.pl?media=$1"
[[rewrites]]
match = "^/old$"
to = "/new"
redirect = 302
)"));
  const std::string config = dir / "c.toml";
  struct row {
    std::vector<std::string> args;
    int exit_code;
    std::vector<std::string> wanted;
  };
  const std::vector<row> rows = {
      {{"--explain", "/_media/a.png?w=1"},
       0,
       {"== rewrite\nrule " + config +
            ":20:1 (match \"^/_media/(.*)$\"): rewritten to "
            "/fetch.pl?media=a.png&w=1",
        "script: /fetch.pl   PATH_INFO: \"\""}},
      {{"/_media/a.png?w=1"},
       0,
       {"rewrite " + config + ":20:1: /_media/a.png?w=1 -> /fetch.pl?media=a.png&w=1\n",
        "SCRIPT_NAME=/fetch.pl\n", "REQUEST_URI=/_media/a.png?w=1\n",
        "QUERY_STRING=media=a.png&w=1\n"}},
      {{"--explain", "/old"}, 0, {"302 redirect to /new\n== verdict\nredirect\n"}},
      {{"--explain", "/wp/hello/"},
       0,
       {"== located\nfallback /wp/index.pl of [[locations]] \"/wp/\"\n",
        "script: /wp/index.pl   PATH_INFO: \"\""}},
      {{"/wp/hello/"}, 0, {"fallback /wp/index.pl", "ran /wp/index.pl"}},
      {{"--explain", "/wp/"}, 0, {"== located\ndefault document index.pl of /wp/\n"}},
      {{"--explain", "/none/"},
       1,
       {"folder without a default document: /none/; tried: index.html (missing), index.pl "
        "(missing) -> 403"}},
      {{"--explain", "/data/x"},
       1,
       {"a location refuses the path before any handler or the file system: location /data/ "
        "deny = true -> 404"}},
      {{"--explain", "/app/index.pl"},
       1,
       {"no handler runs here: location /app/ scripts = false: handler \"*.pl\" would run "
        "/app/index.pl -> 403"}},
  };
  for (const auto& r : rows) {
    std::vector<std::string> argv = {CGIHOST_BINARY, "try", "--config", config};
    argv.insert(argv.end(), r.args.begin(), r.args.end());
    auto got = run(argv);
    EXPECT_EQ(got.exit_code, r.exit_code) << r.args.back() << "\n" << got.out << got.err;
    for (const auto& want : r.wanted)
      EXPECT_NE(got.out.find(want), std::string::npos) << want << "\n" << got.out;
  }
}

}  // namespace
}  // namespace cgihost::test
