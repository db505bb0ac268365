// The status page's ?full (issue 17): the request boards and the page's
// query without a server (a remote pool lends its connection slots without
// connecting), then end to end with a real php-cgi pool and CGI children
// under max_children = 1.

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>

#include "config/load.hpp"
#include "host/app/server.hpp"
#include "host/fastcgi/fastcgi_pool.hpp"
#include "host/fastcgi/lease.hpp"
#include "host/gateway/request_board.hpp"
#include "host/status/status_handler.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using host::request_board;
using host::run_phase;

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << "\n" << text;
  return !ec && v.is_object() ? v.as_object() : json::object();
}

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : std::string();
}

host::request_facts facts(std::string_view method, std::string_view uri, std::string account,
                          spawner::process_id pid, std::uint64_t slot = 0) {
  return host::request_facts{.rid = host::request_id{0x2a},
                             .method = method,
                             .uri = uri,
                             .account = std::move(account),
                             .pid = pid,
                             .slot = slot,
                             .since = std::chrono::steady_clock::now() - 20ms};
}

TEST(StatusQuery, KeysAreSplitAtAmpersandsInAnyOrder) {
  struct row {
    const char* query;
    bool prometheus, full;
  } rows[] = {
      {"", false, false},
      {"full", false, true},
      {"full=1", false, true},
      {"full=true", false, true},
      {"full=0", false, false},
      {"full=false", false, false},
      {"full&format=json", false, true},
      {"format=json&full", false, true},
      {"format=prometheus", true, false},
      {"format=prometheus&full", true, true},
      {"full&format=prometheus", true, true},
      {"format=xml", false, false},  // an unknown format: the JSON, as before
      {"fullness=1", false, false},
      {"a=1&&full", false, true},
  };
  for (const auto& r : rows) {
    const auto q = host::parse_status_query(r.query);
    EXPECT_EQ(q.prometheus, r.prometheus) << r.query;
    EXPECT_EQ(q.full, r.full) << r.query;
  }
}

TEST(RequestBoard, EntriesComeAndGoWithTheirOwnersAndKeepTheirPhase) {
  request_board board;
  {
    request_board::entry a;
    a.post(&board, facts("GET", "/a.php?x=1", "www-data", 101, 1), run_phase::connecting);
    request_board::entry b;
    b.post(&board, facts("POST", "/b.cgi", "nobody", 102), run_phase::sending_body);
    EXPECT_EQ(board.size(), 2u);
    a.set_phase(run_phase::streaming_body);
    auto rows = board.rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].method, "GET");
    EXPECT_EQ(rows[0].uri, "/a.php?x=1");
    EXPECT_EQ(rows[0].account, "www-data");
    EXPECT_EQ(rows[0].pid, 101);
    EXPECT_EQ(rows[0].slot, 1u);
    EXPECT_EQ(rows[0].rid, "000000000000002a");
    EXPECT_GE(rows[0].elapsed_ms, 20);
    EXPECT_EQ(rows[0].phase, run_phase::streaming_body);
    EXPECT_EQ(rows[1].phase, run_phase::sending_body);
    a.take_down();
    EXPECT_EQ(board.size(), 1u);
    a.take_down();  // once is enough
    EXPECT_EQ(board.size(), 1u);
  }
  EXPECT_EQ(board.size(), 0u);  // b's destruction took it down
}

TEST(RequestBoard, AMovedEntryKeepsItsPlaceAndItsOwnCopyOfTheRequest) {
  request_board board;
  request_board::entry first, last;
  first.post(&board, facts("GET", "/first", "", -1), run_phase::waiting_for_head);
  auto uri = std::make_unique<std::string>("/a/rather/long/uri/beyond/small/strings?q=1");
  request_board::entry moved_from;
  moved_from.post(&board, facts("GET", *uri, "nobody", 7), run_phase::waiting_for_exit);
  last.post(&board, facts("GET", "/last", "", -1), run_phase::waiting_for_head);
  moved_from.own_strings();
  uri.reset();  // what the entry viewed is gone: it has its own copy
  std::optional<request_board::entry> kept(std::move(moved_from));
  EXPECT_FALSE(moved_from.posted());
  kept->set_phase(run_phase::after_response);
  auto rows = board.rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].uri, "/first");
  EXPECT_EQ(rows[1].uri, "/a/rather/long/uri/beyond/small/strings?q=1");
  EXPECT_EQ(rows[1].phase, run_phase::after_response);
  EXPECT_EQ(rows[2].uri, "/last");
  kept.reset();
  rows = board.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].uri, "/last");
}

TEST(RequestBoard, PhasesAreNamedAsTheSlowRequestLogNamesThem) {
  EXPECT_STREQ(host::phase_name(host::phase_of(true, false)), "sending the body");
  EXPECT_STREQ(host::phase_name(host::phase_of(false, false)), "waiting for the head");
  EXPECT_STREQ(host::phase_name(host::phase_of(true, true)), "streaming the body");
  EXPECT_STREQ(host::phase_name(host::phase_of(false, true, true)), "waiting for its exit");
}

// A status page over a remote pool of 2 connection slots (nothing connects)
// and a CGI board: which instance is busy, and with what.
class StatusPageTest : public ::testing::Test {
 protected:
  StatusPageTest() {
    cfg_.cgi.max_children = 3;
    config::pool settings;
    settings.name = "remote";
    config::fastcgi_address nowhere;  // never connected to
    nowhere.host = "127.0.0.1";
    nowhere.port = 9;
    nowhere.text = "127.0.0.1:9";
    settings.remote = nowhere;
    settings.max_connections = 2;
    pool_ = host::fastcgi_pool::create(settings, io_.get_executor(), log_, std::nullopt, "/", {});
    cgi_ = std::make_shared<host::cgi_board>();
    page_ = std::make_unique<host::status_handler>(
        cfg_, std::vector<std::shared_ptr<host::fastcgi_pool>>{pool_},
        std::vector<std::shared_ptr<host::pool_family>>{}, nullptr, cgi_);
  }
  ~StatusPageTest() override {
    bool stopped = false;
    pool_->stop([&] { stopped = true; });
    io_.run_for(2s);
    EXPECT_TRUE(stopped);
  }

  std::shared_ptr<host::fastcgi_pool::instance> acquire() {
    std::shared_ptr<host::fastcgi_pool::instance> got;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          std::optional<host::fastcgi_pool::refusal> why;
          got = co_await pool_->acquire(why, std::chrono::steady_clock::now() + 2s);
        },
        asio::detached);
    io_.restart();
    while (!got && io_.run_one_for(2s)) {
    }
    return got;
  }

  asio::io_context io_;
  std::shared_ptr<spdlog::logger> log_ = std::make_shared<spdlog::logger>("status_test");
  config::config cfg_;
  std::shared_ptr<host::fastcgi_pool> pool_;
  std::shared_ptr<host::cgi_board> cgi_;
  std::unique_ptr<host::status_handler> page_;
};

TEST_F(StatusPageTest, FullListsTheBusyInstancesRequestAndNotTheIdleOnes) {
  auto busy = acquire();
  auto idle = acquire();
  ASSERT_TRUE(busy && idle);
  pool_->release(idle, host::fastcgi_pool::outcome::ok, nullptr);
  std::optional<host::lease> l;
  l.emplace(*pool_, busy);
  l->show(host::request_id{7}, "GET", "/x.php?a=1", std::chrono::steady_clock::now());
  l->set_phase(run_phase::waiting_for_head);

  auto page = parse_object(page_->json(true));
  const auto& instances = page["pools"].as_array().at(0).as_object().at("instances").as_array();
  ASSERT_EQ(instances.size(), 2u) << json::serialize(page);
  int busy_seen = 0, idle_seen = 0;
  for (const auto& v : instances) {
    const auto& i = v.as_object();
    if (str(i.at("state")) == "busy") {
      ++busy_seen;
      EXPECT_EQ(i.at("number").to_number<std::uint64_t>(), busy->number);
      ASSERT_TRUE(i.contains("request")) << json::serialize(i);
      const auto& r = i.at("request").as_object();
      EXPECT_EQ(str(r.at("rid")), "0000000000000007");
      EXPECT_EQ(str(r.at("method")), "GET");
      EXPECT_EQ(str(r.at("uri")), "/x.php?a=1");
      EXPECT_GE(r.at("elapsed_ms").to_number<std::int64_t>(), 0);
      EXPECT_EQ(str(r.at("phase")), "waiting for the head");
      EXPECT_FALSE(r.contains("account")) << "a remote server's account is not known";
    } else {
      ++idle_seen;
      EXPECT_EQ(str(i.at("state")), "idle");
      EXPECT_FALSE(i.contains("request")) << json::serialize(i);
    }
  }
  EXPECT_EQ(busy_seen, 1);
  EXPECT_EQ(idle_seen, 1);
  // Without full: no requests.
  EXPECT_EQ(page_->json(false).find("\"request\""), std::string::npos);

  l->give_back(host::fastcgi_pool::outcome::ok);
  const std::string after = page_->json(true);
  EXPECT_EQ(after.find("\"request\""), std::string::npos) << after;
  EXPECT_EQ(after.find("\"busy\""), std::string::npos) << after;
}

TEST_F(StatusPageTest, TheCgiObjectCountsRunningChildrenAndWaitingRequests) {
  auto empty = parse_object(page_->json(false));
  ASSERT_TRUE(empty.contains("cgi"));
  EXPECT_EQ(json::serialize(empty["cgi"]), R"({"max_children":3,"running":0,"waiting":0})");

  request_board::entry child1, child2, waiter;
  child1.post(&cgi_->running, facts("GET", "/a.cgi?x=\"q\"", "nobody", 4242),
              run_phase::waiting_for_head);
  child2.post(&cgi_->running, facts("POST", "/b.pl", "www-data", 4343), run_phase::sending_body);
  waiter.post(&cgi_->waiting, facts("GET", "/c.pl", "nobody", -1), run_phase::waiting_for_room);

  auto counts = parse_object(page_->json(false));
  EXPECT_EQ(json::serialize(counts["cgi"]), R"({"max_children":3,"running":2,"waiting":1})");

  auto full = parse_object(page_->json(true));
  const auto& cgi = full["cgi"].as_object();
  const auto& children = cgi.at("children").as_array();
  ASSERT_EQ(children.size(), 2u);
  const auto& c = children[0].as_object();
  EXPECT_EQ(c.at("pid").to_number<int>(), 4242);
  EXPECT_EQ(str(c.at("account")), "nobody");
  EXPECT_EQ(str(c.at("uri")), "/a.cgi?x=\"q\"");  // escaped in the JSON, whole once parsed
  EXPECT_EQ(str(c.at("phase")), "waiting for the head");
  EXPECT_EQ(str(children[1].as_object().at("phase")), "sending the body");
  const auto& waiting = cgi.at("waiting_requests").as_array();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(str(waiting[0].as_object().at("uri")), "/c.pl");
  EXPECT_FALSE(waiting[0].as_object().contains("pid"));

  const std::string prom = page_->prometheus();
  EXPECT_NE(prom.find("\ncgihost_cgi_running 2\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("\ncgihost_cgi_waiting 1\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("\ncgihost_cgi_max_children 3\n"), std::string::npos) << prom;

  child1.take_down();
  waiter.take_down();
  auto later = parse_object(page_->json(false));
  EXPECT_EQ(json::serialize(later["cgi"]), R"({"max_children":3,"running":1,"waiting":0})");
}

// A reload's handlers keep CGI's boards (children of the config it replaced
// are listed while they run), whether or not max_children's limit is kept.
TEST(StatusReload, TheNextGenerationKeepsTheCgiBoards) {
  temp_dir dir;
  fs::create_directories(dir / "site");
  auto load =
      [&](int max_children) {
        config::load_options o;
        o.running_as_root = ::geteuid() == 0;
        o.current_user = config::lookup_system_account_by_uid(::geteuid());
        auto r = config::load_string(for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[cgi]
max_children = )" + std::to_string(max_children) + R"(
[[handlers]]
match = "*.sh"
module = "cgi"
interpreter = ["/bin/sh"]
[status]
path = "/s"
)"),
                                     "t.toml", dir.path(), o);
        EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
        return std::move(r.value);
      };
  auto cfg_a = load(1), cfg_b = load(2);
  ASSERT_TRUE(cfg_a && cfg_b);
  asio::io_context io;
  auto log = std::make_shared<spdlog::logger>("reload_test");
  auto a = host::make_handlers(*cfg_a, io.get_executor(), log);
  ASSERT_TRUE(a.cgi_boards);
  request_board::entry old_child;
  old_child.post(&a.cgi_boards->running, facts("GET", "/old.sh", "nobody", 99),
                 run_phase::waiting_for_head);
  auto b = host::make_handlers(
      *cfg_b, io.get_executor(), log, nullptr,
      host::handler_origin{.previous = &a, .previous_cfg = &*cfg_a, .facts = nullptr});
  EXPECT_EQ(b.cgi_boards, a.cgi_boards);
  EXPECT_NE(b.cgi_limit, a.cgi_limit);  // max_children changed: a limit of its own
  auto* page = dynamic_cast<host::status_handler*>(b.status.get());
  ASSERT_NE(page, nullptr);
  auto o = parse_object(page->json(true));
  const auto& cgi = o["cgi"].as_object();
  EXPECT_EQ(cgi.at("max_children").to_number<int>(), 2);
  EXPECT_EQ(cgi.at("running").to_number<int>(), 1);
  ASSERT_EQ(cgi.at("children").as_array().size(), 1u);
  EXPECT_EQ(str(cgi.at("children").as_array()[0].as_object().at("uri")), "/old.sh");
}

// End to end: a php-cgi pool of one instance and [cgi] max_children = 1.
// site/block.php and site/block.sh write who runs them (account and pid) to
// run/, then wait (at most 10 s) for run/go; the status page is read meanwhile.
class StatusFullServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(site_.path().c_str(), 0755);
    fs::create_directories(site_ / "site/run");
    ::chmod((site_ / "site").c_str(), 0755);
    ::chmod((site_ / "site/run").c_str(), 0777);
    site_.write("site/block.php", R"(<?php
$run = __DIR__ . '/run';
$me = posix_getpwuid(posix_geteuid())['name'];
file_put_contents("$run/php.tmp", "$me " . getmypid());
rename("$run/php.tmp", "$run/php.who");
for ($i = 0; $i < 1000 && !file_exists("$run/go"); ++$i) { usleep(10000); clearstatcache(); }
header('Content-Type: text/plain');
echo 'php done';
)");
    site_.write("site/block.sh", R"(n=${QUERY_STRING#n=}
echo "$(id -un) $$" > run/cgi$n.tmp
mv run/cgi$n.tmp run/cgi$n.who
i=0
while [ ! -e run/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
printf 'Content-Type: text/plain\r\n\r\ncgi done %s\n' "$n"
)");
    for (const char* f : {"site/block.php", "site/block.sh"}) ::chmod((site_ / f).c_str(), 0644);
    const std::string toml = for_this_user(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
[cgi]
timeout = "30s"
max_children = 1
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[[handlers]]
match = "*.sh"
module = "cgi"
interpreter = ["/bin/sh"]
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = 1
[status]
path = "/cgihost-status"
[server]
threads = 2
grace_period = "5s"
)");
    server_ = std::make_unique<running_server>(toml, site_.path());
    port_ = server_->port();
  }
  void TearDown() override {
    std::ofstream(site_ / "site/run/go") << "go\n";  // whatever the test did, nothing blocks
    if (server_) server_->stop();
    EXPECT_TRUE(children_of(::getpid()).empty()) << "a child was left behind";
  }

  // "ACCOUNT PID" that a script wrote to run/`name`, once it is there (bounded).
  std::pair<std::string, long> who(const std::string& name) {
    std::pair<std::string, long> out{"", 0};
    const bool there = eventually(
        [&] {
          std::ifstream in(site_ / ("site/run/" + name));
          return in >> out.first >> out.second && out.second > 0;
        },
        10s);
    EXPECT_TRUE(there) << name << "\n" << server_->error_log();
    return out;
  }

  json::object page(const std::string& query) {
    auto r = fetch(port_, "/cgihost-status" + query);
    EXPECT_TRUE(r && r->status == 200);
    return r ? parse_object(r->body) : json::object();
  }

  temp_dir site_;
  std::unique_ptr<running_server> server_;
  std::uint16_t port_ = 0;
};

const std::set<std::string> kPhases = {"connecting",           "sending the body",
                                       "waiting for the head", "streaming the body",
                                       "waiting for its exit", "running after its response"};

TEST_F(StatusFullServerTest, FullListsThePhpRequestTheCgiChildAndTheRequestWaitingForRoom) {
  connection php(port_);
  ASSERT_TRUE(php.send("GET /block.php?a=1&b=two HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto [php_account, php_pid] = who("php.who");
  connection cgi1(port_);
  ASSERT_TRUE(cgi1.send("GET /block.sh?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto [cgi_account, cgi_pid] = who("cgi1.who");
  connection cgi2(port_);
  ASSERT_TRUE(cgi2.send("GET /block.sh?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(eventually([&] {
    auto p = page("");
    return p.contains("cgi") && p["cgi"].as_object().at("waiting").to_number<int>() == 1;
  })) << server_->error_log();

  for (const char* query : {"?full", "?full&format=json", "?format=json&full=1", "?full=true"}) {
    SCOPED_TRACE(query);
    auto p = page(query);
    const auto& instances = p["pools"].as_array().at(0).as_object().at("instances").as_array();
    ASSERT_EQ(instances.size(), 1u) << json::serialize(p);
    const auto& inst = instances[0].as_object();
    EXPECT_EQ(str(inst.at("state")), "busy");
    EXPECT_EQ(inst.at("pid").to_number<long>(), php_pid);
    ASSERT_TRUE(inst.contains("request")) << json::serialize(inst);
    const auto& r = inst.at("request").as_object();
    EXPECT_EQ(str(r.at("method")), "GET");
    EXPECT_EQ(str(r.at("uri")), "/block.php?a=1&b=two");
    EXPECT_EQ(str(r.at("account")), php_account);
    EXPECT_GE(r.at("elapsed_ms").to_number<std::int64_t>(), 0);
    EXPECT_TRUE(kPhases.contains(str(r.at("phase")))) << str(r.at("phase"));
    EXPECT_EQ(str(r.at("phase")), "waiting for the head");  // it has written nothing yet
    EXPECT_EQ(str(r.at("rid")).size(), 16u);

    const auto& cgi = p["cgi"].as_object();
    EXPECT_EQ(cgi.at("max_children").to_number<int>(), 1);
    EXPECT_EQ(cgi.at("running").to_number<int>(), 1);
    EXPECT_EQ(cgi.at("waiting").to_number<int>(), 1);
    const auto& children = cgi.at("children").as_array();
    ASSERT_EQ(children.size(), 1u) << json::serialize(cgi);
    const auto& c = children[0].as_object();
    EXPECT_EQ(c.at("pid").to_number<long>(), cgi_pid);
    EXPECT_EQ(str(c.at("account")), cgi_account);
    EXPECT_EQ(str(c.at("method")), "GET");
    EXPECT_EQ(str(c.at("uri")), "/block.sh?n=1");
    EXPECT_GE(c.at("elapsed_ms").to_number<std::int64_t>(), 0);
    EXPECT_EQ(str(c.at("phase")), "waiting for the head");
    const auto& waiting = cgi.at("waiting_requests").as_array();
    ASSERT_EQ(waiting.size(), 1u) << json::serialize(cgi);
    const auto& w = waiting[0].as_object();
    EXPECT_EQ(str(w.at("method")), "GET");
    EXPECT_EQ(str(w.at("uri")), "/block.sh?n=2");
    EXPECT_GE(w.at("elapsed_ms").to_number<std::int64_t>(), 0);
    EXPECT_EQ(str(w.at("rid")).size(), 16u);
    EXPECT_NE(str(w.at("rid")), str(c.at("rid")));
  }
  // Without full, the counts only.
  auto plain = fetch(port_, "/cgihost-status");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body.find("\"request\""), std::string::npos) << plain->body;
  EXPECT_EQ(plain->body.find("\"children\":["), std::string::npos) << plain->body;
  EXPECT_NE(plain->body.find("\"cgi\":{\"max_children\":1,\"running\":1,\"waiting\":1}"),
            std::string::npos)
      << plain->body;
  auto prom = fetch(port_, "/cgihost-status?format=prometheus&full");
  ASSERT_TRUE(prom);
  EXPECT_EQ(prom->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(prom->body.find("\ncgihost_cgi_running 1\n"), std::string::npos) << prom->body;
  EXPECT_NE(prom->body.find("\ncgihost_cgi_waiting 1\n"), std::string::npos) << prom->body;
  EXPECT_NE(prom->body.find("\ncgihost_cgi_max_children 1\n"), std::string::npos) << prom->body;

  // Released: every request completes, and the page lists nothing running.
  std::ofstream(site_ / "site/run/go") << "go\n";
  for (connection* c : {&php, &cgi1, &cgi2}) {
    auto r = c->read_response();
    ASSERT_TRUE(r) << server_->error_log();
    EXPECT_EQ(r->status, 200) << r->body << server_->error_log();
  }
  EXPECT_EQ(who("cgi2.who").first, cgi_account);
  json::object idle;
  ASSERT_TRUE(eventually([&] {
    idle = page("?full");
    const auto& cgi = idle["cgi"].as_object();
    return cgi.at("running").to_number<int>() == 0 && cgi.at("waiting").to_number<int>() == 0;
  })) << json::serialize(idle);
  const std::string text = json::serialize(idle);
  EXPECT_EQ(text.find("\"request\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"busy\""), std::string::npos) << text;
  EXPECT_EQ(json::serialize(idle["cgi"].as_object().at("children")), "[]");
  EXPECT_EQ(json::serialize(idle["cgi"].as_object().at("waiting_requests")), "[]");
}

// A request whose body is still coming is "sending the body", on a pool's
// instance and on a CGI child alike; once it came whole, "waiting for the head".
TEST_F(StatusFullServerTest, ARequestWhoseBodyIsStillComingIsSendingTheBody) {
  connection php(port_);
  ASSERT_TRUE(
      php.send("POST /block.php?body HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
               "Content-Length: 10\r\n\r\n0123"));
  connection cgi(port_);
  ASSERT_TRUE(cgi.send("POST /block.sh?n=3 HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123"));
  auto phases = [&] {
    auto p = page("?full");
    std::pair<std::string, std::string> out;
    const auto& inst = p["pools"].as_array().at(0).as_object().at("instances").as_array();
    if (!inst.empty() && inst[0].as_object().contains("request"))
      out.first = str(inst[0].as_object().at("request").as_object().at("phase"));
    const auto& children = p["cgi"].as_object().at("children").as_array();
    if (!children.empty()) out.second = str(children[0].as_object().at("phase"));
    return out;
  };
  std::pair<std::string, std::string> seen;
  EXPECT_TRUE(eventually([&] {
    seen = phases();
    return seen == std::pair<std::string, std::string>("sending the body", "sending the body");
  })) << seen.first
      << " / " << seen.second;
  ASSERT_TRUE(php.send("456789"));
  ASSERT_TRUE(cgi.send("456789"));
  EXPECT_TRUE(eventually([&] {
    seen = phases();
    return seen ==
           std::pair<std::string, std::string>("waiting for the head", "waiting for the head");
  })) << seen.first
      << " / " << seen.second;
  std::ofstream(site_ / "site/run/go") << "go\n";
  for (connection* c : {&php, &cgi}) {
    auto r = c->read_response();
    ASSERT_TRUE(r) << server_->error_log();
    EXPECT_EQ(r->status, 200) << r->body << server_->error_log();
  }
}

// A CGI child that goes on after its complete response is listed while it
// runs, and counted under running; not once it ended.
TEST_F(StatusFullServerTest, AChildRunningAfterItsResponseIsListedUntilItEnds) {
  site_.write("site/linger.sh", R"(printf 'Content-Type: text/plain\r\n\r\nlinger\n'
exec >&-
echo "$(id -un) $$" > run/linger.tmp
mv run/linger.tmp run/linger.who
i=0
while [ ! -e run/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
)");
  ::chmod((site_ / "site/linger.sh").c_str(), 0644);
  auto r = fetch(port_, "/linger.sh?x=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << server_->error_log();
  const auto [account, pid] = who("linger.who");
  json::object p;
  ASSERT_TRUE(eventually([&] {
    p = page("?full");
    const auto& children = p["cgi"].as_object().at("children").as_array();
    return children.size() == 1 &&
           str(children[0].as_object().at("phase")) == "running after its response";
  })) << json::serialize(p);
  const auto& c = p["cgi"].as_object().at("children").as_array()[0].as_object();
  EXPECT_EQ(c.at("pid").to_number<long>(), pid);
  EXPECT_EQ(str(c.at("account")), account);
  EXPECT_EQ(str(c.at("uri")), "/linger.sh?x=1");  // its own copy: the exchange is over
  EXPECT_EQ(p["cgi"].as_object().at("running").to_number<int>(), 1);
  std::ofstream(site_ / "site/run/go") << "go\n";
  EXPECT_TRUE(eventually([&] {
    p = page("");
    return p["cgi"].as_object().at("running").to_number<int>() == 0;
  })) << json::serialize(p);
}

}  // namespace
}  // namespace cgihost::test
