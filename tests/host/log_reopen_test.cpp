// Reopening the log files (SIGUSR1, logrotate's postrotate): the files are
// renamed, cgihost opens the paths again, and new lines go to the new files.
// The parts in this process (with and without a spawn broker), then
// `cgihost serve` from outside as root, where the network process has
// dropped root and the spawner opens the files for it.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "host/dispatch/log_files.hpp"
#include "host/dispatch/logging.hpp"
#include "spawner/broker.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& path, const std::string& needle) {
  return slurp(path).find(needle) != std::string::npos;
}

config::log_settings file_logs(const temp_dir& dir, const std::string& folder = ".") {
  config::log_settings s;
  s.error_log = dir / (folder + "/error.log");
  s.access_log = dir / (folder + "/access.log");
  return s;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// Both files renamed, reopened (by `broker` when given), then the next lines
// are in the new files and the old ones end where the rename left them.
void expect_reopen_moves_the_lines(spawner::broker* broker, const temp_dir& dir,
                                   const config::log_settings& s) {
  auto lg = host::open_logs(s);
  lg.error->info("before the rotation");
  lg.access->info("access line 1");
  fs::rename(s.error_log, s.error_log + ".1");
  fs::rename(s.access_log, s.access_log + ".1");
  ASSERT_TRUE(host::reopen_logs(lg, broker)) << slurp(s.error_log + ".1");
  lg.access->info("access line 2");
  lg.error->info("after the rotation");
  EXPECT_TRUE(contains(s.error_log, "[info] reopened log files")) << slurp(s.error_log);
  EXPECT_TRUE(contains(s.error_log, "after the rotation"));
  EXPECT_FALSE(contains(s.error_log, "before the rotation"));
  EXPECT_EQ(slurp(s.access_log), "access line 2\n");
  EXPECT_EQ(slurp(s.access_log + ".1"), "access line 1\n");
  EXPECT_FALSE(contains(s.error_log + ".1", "after the rotation"));
  EXPECT_EQ(mode_of(s.error_log), 0640u);
  EXPECT_EQ(mode_of(s.access_log), 0640u);
  (void)dir;
}

TEST(LogReopen, WithoutABrokerThisProcessOpensThePathsAgain) {
  temp_dir dir;
  expect_reopen_moves_the_lines(nullptr, dir, file_logs(dir));
}

TEST(LogReopen, TheBrokerOpensThePathsItWasGivenAtItsStart) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the spawn broker keeps root";
  temp_dir dir;
  const auto s = file_logs(dir);
  std::string error;
  auto broker = spawner::broker::start({}, error, 1, host::log_file_paths(s));
  ASSERT_TRUE(broker) << error;
  expect_reopen_moves_the_lines(broker.get(), dir, s);
}

// A broker given no path opens none: the reopen fails and says which file,
// and the lines go on to the old files.
TEST(LogReopen, ABrokerNotGivenThePathsOpensNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the spawn broker keeps root";
  temp_dir dir;
  const auto s = file_logs(dir);
  std::string error;
  auto broker = spawner::broker::start({}, error, 1, {});
  ASSERT_TRUE(broker) << error;
  auto lg = host::open_logs(s);
  fs::rename(s.error_log, s.error_log + ".1");
  EXPECT_FALSE(host::reopen_logs(lg, broker.get()));
  lg.error->info("still here");
  EXPECT_FALSE(fs::exists(s.error_log));
  const std::string old = slurp(s.error_log + ".1");
  EXPECT_NE(old.find("[warning] cannot reopen log file " + s.error_log +
                     ": the spawner process was not given it"),
            std::string::npos)
      << old;
  EXPECT_NE(old.find("still here"), std::string::npos);
}

// The folder is gone (renamed away): each file keeps its old descriptor, and
// the warning, naming the path and the system's reason, is in the old file.
void expect_failed_reopen_keeps_the_old_files(spawner::broker* broker, const temp_dir& dir,
                                              const config::log_settings& s) {
  auto lg = host::open_logs(s);
  lg.access->info("access line 1");
  fs::rename(dir / "logs", dir / "moved");
  EXPECT_FALSE(host::reopen_logs(lg, broker));
  lg.access->info("access line 2");
  lg.error->info("still here");
  EXPECT_FALSE(fs::exists(s.error_log));
  const std::string old = slurp(dir / "moved/error.log");
  for (const auto& path : {s.error_log, s.access_log})
    EXPECT_NE(old.find("[warning] cannot reopen log file " + path +
                       ": No such file or directory; it goes on to the old file"),
              std::string::npos)
        << old;
  EXPECT_EQ(old.find("reopened log files"), std::string::npos) << old;
  EXPECT_NE(old.find("still here"), std::string::npos) << old;
  EXPECT_EQ(slurp(dir / "moved/access.log"), "access line 1\naccess line 2\n");
}

TEST(LogReopen, AFailedReopenKeepsTheOldFiles) {
  temp_dir dir;
  expect_failed_reopen_keeps_the_old_files(nullptr, dir, file_logs(dir, "logs"));
}

TEST(LogReopen, AFailedReopenThroughTheBrokerKeepsTheOldFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the spawn broker keeps root";
  temp_dir dir;
  const auto s = file_logs(dir, "logs");
  std::string error;
  auto broker = spawner::broker::start({}, error, 1, host::log_file_paths(s));
  ASSERT_TRUE(broker) << error;
  expect_failed_reopen_keeps_the_old_files(broker.get(), dir, s);
}

TEST(LogReopen, StderrAndStdoutAreNotFiles) {
  config::log_settings s;
  EXPECT_TRUE(host::log_file_paths(s).empty());
  s.error_log = "/var/log/e.log";
  s.access_log = "off";
  EXPECT_EQ(host::log_file_paths(s), std::vector<std::string>{"/var/log/e.log"});
  s.access_log = "/var/log/a.log";
  EXPECT_EQ(host::log_file_paths(s),
            (std::vector<std::string>{"/var/log/e.log", "/var/log/a.log"}));
}

// The line of `path` containing `needle`, once there (bounded).
std::optional<std::string> wait_line(const std::string& path, const std::string& needle,
                                     std::chrono::milliseconds limit = 10s) {
  std::optional<std::string> found;
  (void)eventually(
      [&] {
        std::istringstream in(slurp(path));
        for (std::string line; std::getline(in, line);)
          if (line.find(needle) != std::string::npos) return bool(found = line);
        return false;
      },
      limit);
  return found;
}

const char* kSite = R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[server]
threads = 2
[log]
error_log = "logs/error.log"
access_log = "logs/access.log"
)";

// `cgihost serve`, its logs in DIR/logs; its port once it listens (0: it
// did not).
std::uint16_t serve(const temp_dir& dir, child_process& p) {
  auto line = wait_line(dir / "logs/error.log", "listening on");
  if (!line) ADD_FAILURE() << slurp(dir / "logs/error.log") << p.err();
  return line ? port_from_line(*line) : 0;
}

// Renames both files, sends SIGUSR1, and checks that the next request's
// line is in the new access log only, and the new error log says so.
void rotate_and_check(const temp_dir& dir, child_process& p, std::uint16_t port) {
  const std::string logs = dir / "logs";
  auto r = fetch(port, "/index.html?before");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(eventually([&] { return contains(logs + "/access.log", "/index.html?before"); }));
  fs::rename(logs + "/error.log", logs + "/error.log.1");
  fs::rename(logs + "/access.log", logs + "/access.log.1");
  ASSERT_TRUE(p.signal(SIGUSR1));
  ASSERT_TRUE(wait_line(logs + "/error.log", "[info] reopened log files"))
      << slurp(logs + "/error.log.1") << slurp(logs + "/error.log") << p.err();
  ASSERT_TRUE(fs::exists(logs + "/access.log"));
  r = fetch(port, "/index.html?after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(wait_line(logs + "/access.log", "/index.html?after")) << slurp(logs + "/access.log");
  EXPECT_FALSE(contains(logs + "/access.log.1", "/index.html?after"));
  EXPECT_FALSE(contains(logs + "/access.log", "/index.html?before"));
  EXPECT_TRUE(contains(logs + "/error.log.1", "received SIGUSR1"));
  // Again: a second rotation works as the first.
  fs::rename(logs + "/access.log", logs + "/access.log.2");
  ASSERT_TRUE(p.signal(SIGUSR1));
  ASSERT_TRUE(eventually([&] { return fs::exists(logs + "/access.log"); }));
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0) << slurp(logs + "/error.log");
}

// As root: the network process runs as the account cgihost and could not
// open (or create) the files in a folder only root may enter; the spawner
// does, and sends the descriptors.
TEST(LogReopenServe, AsRootTheSpawnerOpensTheFilesForTheNetworkProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: privilege separation splits root off";
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0755);
  dir.write("site/index.html", "hi\n");
  ::chmod((dir / "site").c_str(), 0755);
  ::chmod((dir / "site/index.html").c_str(), 0644);
  fs::create_directory(dir / "logs");
  ::chmod((dir / "logs").c_str(), 0700);
  dir.write("c.toml", kSite);
  child_process p({CGIHOST_BINARY, "serve", "--config", dir / "c.toml"});
  const auto port = serve(dir, p);
  ASSERT_NE(port, 0);
  ASSERT_TRUE(wait_line(dir / "logs/error.log", "now runs as"));  // root is dropped
  rotate_and_check(dir, p, port);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "logs/access.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);  // created by the spawner, root
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// Without root (run as nobody): cgihost opens the paths itself.
TEST(LogReopenServe, WithoutRootCgihostOpensTheFilesItself) {
  const bool root = ::geteuid() == 0;
  if (root && ::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  temp_dir dir;
  dir.write("site/index.html", "hi\n");
  fs::create_directory(dir / "logs");
  std::string toml = kSite;
  if (root) {
    // Everything in reach of nobody, which cgihost then runs as.
    toml.replace(toml.find("www-data"), 8, "nobody");
    for (const auto& p : fs::recursive_directory_iterator(dir.path()))
      ::chmod(p.path().c_str(), p.is_directory() ? 0777 : 0666);
    ::chmod(dir.path().c_str(), 0777);
  }
  dir.write("c.toml", for_this_user(toml));
  ::chmod((dir / "c.toml").c_str(), 0644);
  std::vector<std::string> argv{CGIHOST_BINARY, "serve", "--config", dir / "c.toml"};
  if (root)
    argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                               "--clear-groups", "--inh-caps=-all", "--"});
  child_process p(argv);
  const auto port = serve(dir, p);
  ASSERT_NE(port, 0);
  ASSERT_TRUE(contains(dir / "logs/error.log", "every child runs as this process's account"));
  rotate_and_check(dir, p, port);
}

}  // namespace
}  // namespace cgihost::test
