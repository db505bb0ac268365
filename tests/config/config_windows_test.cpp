// config/ on Windows: paths as Windows writes them, accounts as SIDs,
// programs found with PATHEXT, [[rewrites]] in ECMAScript.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "config/load.hpp"
#include "config/pattern.hpp"

namespace cgihost::config {
namespace {
namespace fs = std::filesystem;

class ConfigWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("cgihost-wconfig-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "site");
    std::ofstream(dir_ / "php-cgi.exe") << "MZ";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ConfigWindowsTest, TheCurrentAccountHasASidAndIsFoundByItsName) {
  const account me = current_system_account();
  ASSERT_EQ(me.sid.rfind("S-1-5-", 0), 0u) << me.sid;
  EXPECT_NE(me.name.find('\\'), std::string::npos) << "DOMAIN\\user: " << me.name;
  auto again = lookup_system_account(me.name);
  ASSERT_TRUE(again) << me.name;
  EXPECT_EQ(again->sid, me.sid);
  EXPECT_NE(again->uid, 0u);
}

TEST_F(ConfigWindowsTest, LocalSystemCountsAsRootAndANameNoOneHasIsNotFound) {
  auto system = lookup_system_account("SYSTEM");
  ASSERT_TRUE(system);
  EXPECT_EQ(system->sid, "S-1-5-18");
  EXPECT_EQ(system->uid, 0u);
  EXPECT_FALSE(lookup_system_account("no-such-account-cgihost"));
}

TEST_F(ConfigWindowsTest, AProgramIsFoundWithOrWithoutItsExtension) {
  auto with = find_program((dir_ / "php-cgi.exe").string(), dir_);
  ASSERT_TRUE(with);
  EXPECT_TRUE(fs::equivalent(*with, dir_ / "php-cgi.exe"));
  auto without = find_program((dir_ / "php-cgi").string(), dir_);
  ASSERT_TRUE(without) << "PATHEXT's .EXE";
  EXPECT_TRUE(fs::equivalent(*without, dir_ / "php-cgi.exe"));
  EXPECT_FALSE(find_program((dir_ / "perl").string(), dir_));
}

TEST_F(ConfigWindowsTest, WindowsPathsInLiteralStringsLoad) {
  // TOML literal strings ('...') keep backslashes as Windows writes them.
  const std::string text = "listen = [\"127.0.0.1:8080\"]\ndocument_root = '" +
                           (dir_ / "site").string() +
                           "'\n[identity]\nprocess = \"SYSTEM\"\n"
                           "[pools.php]\ncommand = ['" +
                           (dir_ / "php-cgi").string() + "']\n";
  load_options o;
  o.current_user = current_system_account();
  auto r = load_string(text, "win.toml", dir_, o);
  ASSERT_FALSE(r.ok()) << "SYSTEM counts as root";
  bool named = false;
  for (const auto& d : r.errors) named |= d.message.find("root") != std::string::npos;
  EXPECT_TRUE(named) << r.errors[0].to_string();

  const std::string mine =
      text.substr(0, text.find("[identity]")) + text.substr(text.find("[pools.php]"));
  auto ok = load_string(mine, "win.toml", dir_, o);
  ASSERT_TRUE(ok.ok()) << ok.errors[0].to_string();
  EXPECT_EQ(ok.value->identity.process.sid, o.current_user->sid);
  ASSERT_EQ(ok.value->pools.count("php"), 1u);
  EXPECT_TRUE(fs::equivalent(ok.value->pools.at("php").command[0], dir_ / "php-cgi.exe"));
}

TEST_F(ConfigWindowsTest, AUsersFileIsRefusedAtItsPlace) {
  std::ofstream(dir_ / "users") << "alice:$2y$05$abcdefghijklmnopqrstuu\n";
  const std::string text = "listen = [\"127.0.0.1:8080\"]\ndocument_root = '" +
                           (dir_ / "site").string() +
                           "'\n[authentication]\nbasic = true\nusers_file = 'users'\n";
  load_options o;
  o.current_user = current_system_account();
  auto r = load_string(text, "win.toml", dir_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].line, 5u) << r.errors[0].to_string();
  EXPECT_NE(r.errors[0].message.find("not on Windows"), std::string::npos)
      << r.errors[0].to_string();
}

// [identity] spawner_service: children start through the service, so other
// accounts than cgihost's own are usable; [identity] server (the front end's
// account) is then required; the name must be one a pipe can carry.
TEST_F(ConfigWindowsTest, ASpawnerServiceNeedsTheServerAccountAndAPlainName) {
  const account me = current_system_account();
  const std::string head = "listen = [\"127.0.0.1:8080\"]\ndocument_root = '" +
                           (dir_ / "site").string() +
                           "'\n[identity]\nprocess = 'NT AUTHORITY\\LOCAL SERVICE'\n"
                           "anonymous = 'NT AUTHORITY\\LOCAL SERVICE'\n";
  load_options o;
  o.current_user = me;
  auto ok = load_string(head + "server = '" + me.name + "'\nspawner_service = \"cgihost\"\n",
                        "win.toml", dir_, o);
  ASSERT_TRUE(ok.ok()) << ok.errors[0].to_string();
  EXPECT_EQ(ok.value->identity.spawner_service, std::optional<std::string>("cgihost"));
  EXPECT_EQ(ok.value->identity.server->sid, me.sid);
  EXPECT_EQ(ok.value->identity.process.sid, "S-1-5-19");

  auto no_server = load_string(head + "spawner_service = \"cgihost\"\n", "win.toml", dir_, o);
  ASSERT_FALSE(no_server.ok());
  EXPECT_EQ(no_server.errors[0].line, 6u) << no_server.errors[0].to_string();
  EXPECT_NE(no_server.errors[0].message.find("needs [identity] server"), std::string::npos)
      << no_server.errors[0].to_string();

  auto bad = load_string(head + "server = '" + me.name + "'\nspawner_service = \"a\\\\b\"\n",
                         "win.toml", dir_, o);
  ASSERT_FALSE(bad.ok());
  bool named = false;
  for (const auto& d : bad.errors)
    named |= d.line == 7 && d.message.find("\"a\\b\" is no service name") != std::string::npos;
  EXPECT_TRUE(named) << bad.errors[0].to_string();

  // Without it, an account other than cgihost's own cannot be honoured.
  auto without = load_string(head, "win.toml", dir_, o);
  EXPECT_FALSE(without.ok());
}

// transport: a named pipe by default (IIS's choice), or a loopback TCP port.
TEST_F(ConfigWindowsTest, PoolTransportIsAPipeByDefaultOrTcp) {
  const std::string head = "listen = [\"127.0.0.1:8080\"]\ndocument_root = '" +
                           (dir_ / "site").string() + "'\n[pools.php]\ncommand = ['" +
                           (dir_ / "php-cgi").string() + "']\n";
  load_options o;
  o.current_user = current_system_account();
  auto r = load_string(head, "win.toml", dir_, o);
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.value->pools.at("php").transport, pool_transport::pipe);
  r = load_string(head + "transport = \"tcp\"\n", "win.toml", dir_, o);
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.value->pools.at("php").transport, pool_transport::tcp);
  r = load_string(head + "transport = \"pipe\"\n", "win.toml", dir_, o);
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(r.value->pools.at("php").transport, pool_transport::pipe);

  r = load_string(head + "transport = \"unix\"\n", "win.toml", dir_, o);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 5u) << r.errors[0].to_string();
  EXPECT_NE(r.errors[0].message.find("pools.php.transport: must be \"pipe\""), std::string::npos)
      << r.errors[0].to_string();
  // A pool that connects to a running server starts nothing to give a pipe.
  r = load_string(head.substr(0, head.find("[pools.php]")) +
                      "[pools.fpm]\naddress = \"127.0.0.1:9000\"\ntransport = \"tcp\"\n",
                  "win.toml", dir_, o);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 5u) << r.errors[0].to_string();
  EXPECT_NE(r.errors[0].message.find("only for pools that start their program"), std::string::npos)
      << r.errors[0].to_string();
}

TEST_F(ConfigWindowsTest, RewritesAreEcmaScript) {
  std::string error;
  std::size_t offset = 0;
  auto p = pattern::compile("^/blog/(\\d+)/(.*)$", error, offset);
  ASSERT_TRUE(p) << error;
  std::vector<std::string> caps;
  ASSERT_TRUE(p->match("/blog/2026/hello", caps));
  EXPECT_EQ(expand("/index.php?year=$1&slug=$2", caps), "/index.php?year=2026&slug=hello");
  EXPECT_FALSE(pattern::compile("(?<=x)y", error, offset)) << "no lookbehind in ECMAScript";
}

}  // namespace
}  // namespace cgihost::config
