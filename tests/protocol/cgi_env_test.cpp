#include "protocol/cgi_env.hpp"

#include <gtest/gtest.h>

#include <map>

namespace cgihost::protocol::cgi {
namespace {

request_view sample() {
  request_view r;
  r.method = "POST";
  r.target = "/app/index.php/users/7?q=a%20b&x=%2F";
  r.query = "q=a%20b&x=%2F";
  r.version = 11;
  r.headers = {{"Host", "www.example.com:8080"},
               {"User-Agent", "test/1"},
               {"Content-Type", "application/x-www-form-urlencoded"},
               {"Content-Length", "11"},
               {"Accept", "text/html"},
               {"accept", "application/json"},
               {"Proxy", "http://evil:3128"},
               {"X_Forwarded_For", "spoof"},
               {"Authorization", "Basic YWxpY2U6c2VjcmV0"},
               {"X-Remote-User", "mallory"},
               {"X-Custom-Header", "v"}};
  r.peer_address = "192.0.2.7";
  r.peer_port = 51234;
  r.local_address = "127.0.0.1";
  r.local_port = 8080;
  r.tls = true;
  r.script_name = "/app/index.php";
  r.path_info = "/users/7";
  r.script_filename = "/srv/site/app/index.php";
  r.document_root = "/srv/site";
  r.remote_user = "alice";
  r.auth_type = "Basic";
  r.content_length = 11;
  return r;
}

std::map<std::string, std::string> as_map(const variables& v) {
  std::map<std::string, std::string> m;
  for (const auto& [n, val] : v) {
    EXPECT_TRUE(m.emplace(n, val).second) << n << " appears twice";
  }
  return m;
}

TEST(BuildEnv, SetsEveryRfc3875AndIisVariable) {
  env_options o;
  o.drop_headers = {"X-Remote-User"};
  auto env = as_map(build_env(sample(), o));
  std::map<std::string, std::string> want = {
      {"GATEWAY_INTERFACE", "CGI/1.1"},
      {"SERVER_SOFTWARE", "cgihost"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"SERVER_NAME", "www.example.com"},
      {"SERVER_ADDR", "127.0.0.1"},
      {"SERVER_PORT", "8080"},
      {"REQUEST_METHOD", "POST"},
      {"REQUEST_URI", "/app/index.php/users/7?q=a%20b&x=%2F"},
      {"QUERY_STRING", "q=a%20b&x=%2F"},
      {"SCRIPT_NAME", "/app/index.php"},
      {"SCRIPT_FILENAME", "/srv/site/app/index.php"},
      {"DOCUMENT_ROOT", "/srv/site"},
      {"PATH_INFO", "/users/7"},
      {"PATH_TRANSLATED", "/srv/site/users/7"},
      {"REMOTE_ADDR", "192.0.2.7"},
      {"REMOTE_HOST", "192.0.2.7"},
      {"REMOTE_PORT", "51234"},
      {"AUTH_TYPE", "Basic"},
      {"REMOTE_USER", "alice"},
      {"AUTH_USER", "alice"},
      {"LOGON_USER", "alice"},
      {"HTTPS", "on"},
      {"REQUEST_SCHEME", "https"},
      {"REDIRECT_STATUS", "200"},
      {"CONTENT_LENGTH", "11"},
      {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
      {"HTTP_HOST", "www.example.com:8080"},
      {"HTTP_USER_AGENT", "test/1"},
      {"HTTP_ACCEPT", "text/html, application/json"},
      {"HTTP_X_CUSTOM_HEADER", "v"},
  };
  EXPECT_EQ(env, want);
}

TEST(BuildEnv, SchemeAndServerNameFromTheView) {
  auto plain = sample();
  plain.tls = false;
  auto env = as_map(build_env(plain));
  EXPECT_EQ(env.at("REQUEST_SCHEME"), "http");
  EXPECT_FALSE(env.contains("HTTPS"));
  EXPECT_EQ(env.at("SERVER_NAME"), "www.example.com");  // from Host

  // A trusted proxy's client: its scheme and host win over the connection's.
  auto proxied = sample();
  proxied.scheme = "https";
  proxied.server_name = "shop.example.org";
  proxied.local_port = 443;
  env = as_map(build_env(proxied));
  EXPECT_EQ(env.at("REQUEST_SCHEME"), "https");
  EXPECT_EQ(env.at("SERVER_NAME"), "shop.example.org");
  EXPECT_EQ(env.at("SERVER_PORT"), "443");
  EXPECT_EQ(env.at("HTTP_HOST"), "www.example.com:8080");  // the field itself is unchanged
}

TEST(BuildEnv, NeverPassesSpoofingOrSecretHeaders) {
  auto env = as_map(build_env(sample()));
  EXPECT_FALSE(env.contains("HTTP_PROXY"));            // httpoxy
  EXPECT_FALSE(env.contains("HTTP_X_FORWARDED_FOR"));  // came as X_Forwarded_For
  EXPECT_FALSE(env.contains("HTTP_AUTHORIZATION"));    // credentials stay with the host
  EXPECT_FALSE(env.contains("HTTP_CONTENT_TYPE"));
  EXPECT_FALSE(env.contains("HTTP_CONTENT_LENGTH"));
  EXPECT_EQ(env.at("HTTP_X_REMOTE_USER"), "mallory");  // unless the caller drops it

  env_options o;
  o.pass_authorization = true;
  EXPECT_EQ(as_map(build_env(sample(), o)).at("HTTP_AUTHORIZATION"), "Basic YWxpY2U6c2VjcmV0");
}

TEST(BuildEnv, HeaderNamesOutsideTheTokenSetAreDropped) {
  request_view r = sample();
  r.headers = {
      {"Good-Name", "1"}, {"Bad Name", "2"}, {"Bad:Name", "3"}, {"Dollar$", "4"}, {"", "5"}};
  auto env = as_map(build_env(r));
  EXPECT_EQ(env.at("HTTP_GOOD_NAME"), "1");
  EXPECT_EQ(env.at("HTTP_DOLLAR$"), "4");  // '$' is a token character
  for (const auto& [n, v] : env) EXPECT_EQ(n.find(' '), std::string::npos) << n;
  EXPECT_FALSE(env.contains("HTTP_BAD_NAME"));
}

TEST(BuildEnv, OnlyThePassThroughListComesFromTheHost) {
  env_options o;
  o.pass_through = {{"PATH", "/usr/bin:/bin"}, {"TZ", "UTC"}};
  o.extra = {{"PHP_FCGI_MAX_REQUESTS", "0"}, {"SERVER_SOFTWARE", "custom"}};
  auto env = as_map(build_env(sample(), o));
  EXPECT_EQ(env.at("PATH"), "/usr/bin:/bin");
  EXPECT_EQ(env.at("TZ"), "UTC");
  EXPECT_EQ(env.at("PHP_FCGI_MAX_REQUESTS"), "0");
  EXPECT_EQ(env.at("SERVER_SOFTWARE"), "custom");  // extra may override
  EXPECT_FALSE(env.contains("HOME"));
}

TEST(BuildEnv, OptionalVariablesAreLeftOutWhenEmpty) {
  request_view r = sample();
  r.path_info = "";
  r.remote_user = "";
  r.tls = false;
  r.content_length.reset();
  r.headers = {{"Host", "bad host!"}};
  r.version = 10;
  auto env = as_map(build_env(r));
  for (const char* absent : {"PATH_INFO", "PATH_TRANSLATED", "REMOTE_USER", "AUTH_TYPE",
                             "AUTH_USER", "LOGON_USER", "HTTPS", "CONTENT_LENGTH", "CONTENT_TYPE"})
    EXPECT_FALSE(env.contains(absent)) << absent;
  EXPECT_EQ(env.at("SERVER_NAME"), "127.0.0.1");  // an implausible Host is not believed
  EXPECT_EQ(env.at("SERVER_PROTOCOL"), "HTTP/1.0");
}

TEST(BuildEnv, EnvpStringsAreNameEqualsValue) {
  auto envp = to_envp({{"A", "1"}, {"B", "x=y"}});
  EXPECT_EQ(envp, (std::vector<std::string>{"A=1", "B=x=y"}));
}

TEST(ScriptSplit, ExtensionFormTakesTheFirstMatchingSegment) {
  auto s = split_by_extension("/app/index.php/users/7", ".php");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->script_name, "/app/index.php");
  EXPECT_EQ(s->path_info, "/users/7");
  s = split_by_extension("/a.PHP", ".php");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path_info, "");
  s = split_by_extension("/x.php/y.php/z", ".php");
  EXPECT_EQ(s->script_name, "/x.php");
  EXPECT_EQ(s->path_info, "/y.php/z");
  EXPECT_FALSE(split_by_extension("/.php", ".php"));  // no name before the extension
  EXPECT_FALSE(split_by_extension("/a.phps", ".php"));
  EXPECT_FALSE(split_by_extension("/", ".php"));
}

TEST(ScriptSplit, PrefixFormTakesTheSegmentAfterThePrefix) {
  auto s = split_by_prefix("/cgi-bin/env.pl/x/y", "/cgi-bin/");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->script_name, "/cgi-bin/env.pl");
  EXPECT_EQ(s->path_info, "/x/y");
  s = split_by_prefix("/cgi-bin/test.cgi", "/cgi-bin/");
  EXPECT_EQ(s->script_name, "/cgi-bin/test.cgi");
  EXPECT_EQ(s->path_info, "");
  EXPECT_FALSE(split_by_prefix("/cgi-binx/a", "/cgi-bin/"));
}

}  // namespace
}  // namespace cgihost::protocol::cgi
