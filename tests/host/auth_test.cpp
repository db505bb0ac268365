// Authentication: the check plan and the throttle of Basic attempts on the
// authenticator alone; then end to end: Basic against a users file, the
// trusted proxy header, [accounts] mapping, anonymous access, and the
// identity CGI runs as.

#include "host/dispatch/auth.hpp"

#include <crypt.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <thread>

#include "protocol/basic_auth.hpp"
#include "support/eventually.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace cgihost::test {
namespace {
using namespace std::chrono_literals;

// "secret" under each accepted scheme (made with libxcrypt).
constexpr const char* kBcrypt = "$2b$05$DWxORX8FwPCFI4IMIcObjeNOcMeXiVqdI52mPfA/hUi.YpKLdlidy";
constexpr const char* kSha512 =
    "$6$ooV2RqrXiZvvcoy2$H0O28VDgusHZPvDQCWFHyLSpa6otc8."
    "sp1Ba0XDlQYXbcUUjc4nE4AY6N6LjXQVn4sHGtuyFu7OZZrBEAVicu.";
constexpr const char* kYescrypt =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

TEST(AuthVerify, EachAcceptedSchemeVerifiesTheRightPasswordOnly) {
  for (const char* hash : {kBcrypt, kSha512, kYescrypt}) {
    EXPECT_TRUE(host::authenticator::verify_password("secret", hash)) << hash;
    EXPECT_FALSE(host::authenticator::verify_password("Secret", hash)) << hash;
    EXPECT_FALSE(host::authenticator::verify_password("", hash)) << hash;
    std::string cut(hash);
    cut.pop_back();
    EXPECT_FALSE(host::authenticator::verify_password("secret", cut)) << hash;
  }
  EXPECT_FALSE(
      host::authenticator::verify_password("secret", "secret"));  // plain text is never a match
}

TEST(HashSetting, OnePerSchemeAndCost) {
  const std::string tail(86, 'a');
  const std::pair<std::string, std::string> cases[] = {
      {kBcrypt, "$2b$05$"},
      {"$2y$05$" + std::string(kBcrypt).substr(7), "$2b$05$"},  // one algorithm
      {"$2b$12$" + std::string(kBcrypt).substr(7), "$2b$12$"},
      {kSha512, "$6$"},
      {"$6$rounds=5000$salt$" + tail, "$6$"},  // the default
      {"$6$rounds=9000$salt$" + tail, "$6$rounds=9000$"},
      {kYescrypt, "$y$j9T$"},
      {"$apr1$salt$hash", ""},
      {"secret", ""},
  };
  for (const auto& [hash, setting] : cases) EXPECT_EQ(config::hash_setting(hash), setting) << hash;
}

// Finding 14: every check runs one crypt per setting of the users file, so a
// wrong password costs the same for an unknown name as for any user.
TEST(UserTable, EveryCheckRunsOneHashPerSettingWhoeverTheUserIs) {
  const std::string bob = "$2y$05$" + std::string(kBcrypt).substr(7);  // alice's setting
  host::user_table t(
      {{"alice", kBcrypt, 1}, {"bob", bob, 2}, {"carol", kSha512, 3}, {"dave", kYescrypt, 4}});
  EXPECT_EQ(t.settings(), (std::vector<std::string>{"$2b$05$", "$6$", "$y$j9T$"}));
  using hashes = std::vector<std::string_view>;
  const struct {
    const char* user;
    hashes run;
    std::optional<std::size_t> own;
  } cases[] = {
      {"mallory", {kBcrypt, kSha512, kYescrypt}, std::nullopt},
      {"", {kBcrypt, kSha512, kYescrypt}, std::nullopt},
      {"alice", {kBcrypt, kSha512, kYescrypt}, 0},
      {"bob", {bob, kSha512, kYescrypt}, 0},
      {"carol", {kBcrypt, kSha512, kYescrypt}, 1},
      {"dave", {kBcrypt, kSha512, kYescrypt}, 2},
  };
  for (const auto& c : cases) {
    auto plan = t.check_plan(c.user);
    EXPECT_EQ(plan.hashes, c.run) << c.user;
    EXPECT_EQ(plan.own, c.own) << c.user;
  }
  // The usual file, one scheme and cost: one crypt per check, known or not.
  host::user_table one({{"alice", kBcrypt, 1}, {"bob", bob, 2}});
  EXPECT_EQ(one.check_plan("mallory").hashes, hashes{kBcrypt});
  EXPECT_EQ(one.check_plan("bob").hashes, hashes{bob});
  // No users: a bcrypt dummy.
  auto none = host::user_table().check_plan("alice");
  ASSERT_EQ(none.hashes.size(), 1u);
  EXPECT_EQ(none.hashes[0].substr(0, 4), "$2y$");
  EXPECT_FALSE(none.own);
}

TEST(ThrottlePolicy, TheDefaultIs250MsDoublingTo4s) {
  const host::throttle_policy p;
  const int expected[] = {0, 250, 500, 1000, 2000, 4000, 4000, 4000};
  for (unsigned n = 0; n < std::size(expected); ++n)
    EXPECT_EQ(p.delay(n).count(), expected[n]) << n;
  EXPECT_EQ(p.delay(1000).count(), 4000);
}

// The authenticator alone, on one io_context as a server thread runs it,
// with a users file and a throttle chosen by the test.
class AuthenticatorTest : public ::testing::Test {
 protected:
  using clock = std::chrono::steady_clock;
  struct answer {
    host::authenticator::outcome out;
    clock::duration took;
  };

  void make(const std::string& users, host::throttle_policy policy) {
    dir_.write("users", users);
    cfg_.authentication.basic = true;
    cfg_.authentication.users_file = dir_ / "users";
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
    auth_.emplace(cfg_, std::make_shared<spdlog::logger>("auth", sink_), policy);
  }

  // Each {user, password} at once from `peer`; how each ended and how long it took.
  std::vector<answer> attempt(const std::vector<std::pair<std::string, std::string>>& creds,
                              const std::string& peer = "192.0.2.1") {
    namespace asio = boost::asio;
    auto& ioc = ioc_;
    ioc.restart();
    std::vector<answer> out(creds.size());
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < creds.size(); ++i) {
      asio::co_spawn(
          ioc,
          [&, i]() -> asio::awaitable<void> {
            const std::string value =
                "Basic " + protocol::base64_encode(creds[i].first + ":" + creds[i].second);
            host::request_head req;
            req.fields.add("Authorization", value);
            out[i].out = co_await auth_->authenticate(req, peer);
            out[i].took = clock::now() - t0;
          },
          asio::detached);
    }
    ioc.run();
    return out;
  }
  host::authenticator::outcome::kind once(const std::string& user, const std::string& password,
                                          const std::string& peer = "192.0.2.1") {
    return attempt({{user, password}}, peer).at(0).out.what;
  }

  temp_dir dir_;
  config::config cfg_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  // Outlives the authenticator, as in the server: a verifier thread may
  // still hold a channel of this context when an attempt has returned.
  boost::asio::io_context ioc_;
  std::optional<host::authenticator> auth_;
};
using kind = host::authenticator::outcome::kind;

// Finding 8: with a penalty in force, attempts made at once are checked one
// after the other, each after its own delay, the right password too.
TEST_F(AuthenticatorTest, AttemptsAtOnceDuringAPenaltyTakeTheSerializedDelay) {
  host::throttle_policy p;
  p.first_delay = 20ms;
  p.max_delay = 160ms;
  make("alice:" + std::string(kBcrypt) + "\n", p);
  EXPECT_EQ(once("alice", "x1"), kind::challenge);
  EXPECT_EQ(once("alice", "x2"), kind::challenge);  // two failures on record
  auto answers = attempt({{"alice", "g1"},
                          {"alice", "g2"},
                          {"alice", "secret"},
                          {"alice", "g3"},
                          {"alice", "g4"},
                          {"alice", "g5"}});
  // 40 + 80 + 160 * 4 ms: the delays after 2, 3, ... 7 failures, one after the other.
  clock::duration last{};
  for (const auto& a : answers) last = std::max(last, a.took);
  EXPECT_GE(last, 760ms);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].out.what, i == 2 ? kind::authenticated : kind::challenge) << i;
    EXPECT_GE(answers[i].took, 40ms) << i;  // none before the first turn
  }
  EXPECT_GE(answers[2].took, 40ms + 80ms + 160ms);  // the right password waited its turn
  // Another address is not slowed down by this one.
  EXPECT_EQ(once("alice", "secret", "192.0.2.2"), kind::authenticated);
}

// The finding's case: nothing on record, attempts at once. One after the
// other they would wait 0, 20, 40, 80 and 160 ms.
TEST_F(AuthenticatorTest, AttemptsAtOnceFromAFreshAddressAreAsSlowAsInSequence) {
  host::throttle_policy p;
  p.first_delay = 20ms;
  p.max_delay = 160ms;
  make("alice:" + std::string(kBcrypt) + "\n", p);
  auto answers =
      attempt({{"alice", "g1"}, {"alice", "g2"}, {"alice", "g3"}, {"bob", "g4"}, {"alice", "g5"}});
  clock::duration last{};
  for (const auto& a : answers) {
    EXPECT_EQ(a.out.what, kind::challenge);
    last = std::max(last, a.took);
  }
  EXPECT_GE(last, 300ms);
  // Five failures on record now: the next attempt waits delay(5), the right password too.
  auto next = attempt({{"alice", "secret"}}).at(0);
  EXPECT_EQ(next.out.what, kind::authenticated);
  EXPECT_GE(next.took, 160ms);
}

TEST_F(AuthenticatorTest, ABrowsersParallelRequestsWithTheRightPasswordAreNotDelayed) {
  host::throttle_policy p;
  p.first_delay = 3s;  // any delay at all would show
  make("alice:" + std::string(kBcrypt) + "\n", p);
  // The same credentials at once share one turn: the first's, at once.
  auto answers = attempt(std::vector<std::pair<std::string, std::string>>(6, {"alice", "secret"}));
  for (const auto& a : answers) {
    EXPECT_EQ(a.out.what, kind::authenticated);
    EXPECT_LT(a.took, 2s);
  }
  EXPECT_EQ(auth_->tracked_peers(), 0u);  // nothing to remember
}

TEST_F(AuthenticatorTest, AttemptsQueuedBeyondMaxQueueAreRefusedUnchecked) {
  host::throttle_policy p;
  p.first_delay = 50ms;
  p.max_delay = 100ms;
  p.max_queue = 200ms;
  make("alice:" + std::string(kBcrypt) + "\n", p);
  EXPECT_EQ(once("alice", "x1"), kind::challenge);
  // Turns at 50, 150, then 250 ms: beyond max_queue, even the right password.
  auto answers = attempt({{"alice", "g1"}, {"alice", "g2"}, {"alice", "secret"}});
  EXPECT_EQ(answers[0].out.reason, "wrong password for \"alice\"");
  EXPECT_EQ(answers[1].out.reason, "wrong password for \"alice\"");
  EXPECT_EQ(answers[2].out.what, kind::challenge);
  EXPECT_EQ(answers[2].out.reason.rfind("refused unchecked", 0), 0u) << answers[2].out.reason;
}

TEST_F(AuthenticatorTest, ACancelledAttemptIsNeverCheckedBeforeItsTurn) {
  namespace asio = boost::asio;
  host::throttle_policy p;
  p.first_delay = 5s;
  make("alice:" + std::string(kBcrypt) + "\n", p);
  EXPECT_EQ(once("alice", "x1"), kind::challenge);
  ioc_.restart();
  asio::cancellation_signal cancel;
  std::optional<host::authenticator::outcome> out;
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        const std::string value = "Basic " + protocol::base64_encode("alice:secret");
        host::request_head req;
        req.fields.add("Authorization", value);
        out = co_await auth_->authenticate(req, "192.0.2.1");
      },
      asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  asio::post(ioc_, [&] { cancel.emit(asio::cancellation_type::terminal); });
  ioc_.run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->what, kind::challenge);  // the right password, but not checked
  EXPECT_EQ(out->reason.rfind("cancelled while waiting for its turn", 0), 0u) << out->reason;
  EXPECT_EQ(auth_->tracked_peers(), 1u);  // its failure stays on record, nothing in flight
}

TEST_F(AuthenticatorTest, TheTableOfAddressesStaysBounded) {
  host::throttle_policy p;
  p.first_delay = 1ms;
  p.max_delay = 1ms;
  p.max_peers = 16;
  make("alice:" + std::string(kBcrypt) + "\n", p);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(once("alice", "wrong", "198.51.100." + std::to_string(i)), kind::challenge);
    EXPECT_LE(auth_->tracked_peers(), 16u) << i;
  }
  EXPECT_GE(auth_->tracked_peers(), 12u);  // when full, the oldest quarter is forgotten
}

// Finding 14, by the clock, with a generous bound: before, an unknown name
// was checked against the first user's hash only (here bcrypt cost 10, tens
// of ms) and a wrong password for a sha512-crypt user took 2 ms.
TEST_F(AuthenticatorTest, AWrongPasswordForACheapHashCostsAsMuchAsForAnUnknownUser) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  ASSERT_NE(::crypt_gensalt_rn("$2b$", 10, nullptr, 0, setting, sizeof setting), nullptr);
  auto data = std::make_unique<crypt_data>();
  std::string costly = ::crypt_r("secret", setting, data.get());
  host::throttle_policy none;
  none.first_delay = 0ms;
  none.max_delay = 0ms;
  make("alice:" + costly + "\ncarol:" + kSha512 + "\n", none);
  auto fastest = [&](const std::string& user) {
    auto best = clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      auto a = attempt({{user, "wrong"}}).at(0);
      EXPECT_EQ(a.out.what, kind::challenge);
      best = std::min(best, a.took);
    }
    return best;
  };
  auto unknown = fastest("mallory");
  auto carol = fastest("carol");
  EXPECT_GE(carol, unknown / 2) << "unknown " << unknown.count() << " ns, carol " << carol.count()
                                << " ns";
  EXPECT_NE(sink_->last_formatted().size(), 0u);
  bool warned = false;
  for (const auto& line : sink_->last_formatted())
    warned |= line.find("mixes 2 hash settings ($2b$10$, $6$)") != std::string::npos;
  EXPECT_TRUE(warned);
}

std::string basic(const std::string& user, const std::string& password) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + password, out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += i + 1 < in.size() ? tbl[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? tbl[n & 63] : '=';
  }
  return "Authorization: Basic " + out + "\r\n";
}

std::string uid_of(const char* account) {
  const passwd* pw = ::getpwnam(account);
  return pw ? std::to_string(pw->pw_uid) : "?";
}

class AuthTest : public ::testing::Test {
 protected:
  // `auth`: the [authentication] table's lines after basic/users_file.
  void start(const std::string& auth) {
    ::chmod(dir_.path().c_str(), 0755);
    dir_.write(
        "site/who.pl",
        "print \"Content-Type: text/plain\\n\\n\";\n"
        "print 'user=', $ENV{REMOTE_USER} // '', ' type=', $ENV{AUTH_TYPE} // '', \" uid=$<\", "
        "' proxyhdr=', $ENV{HTTP_X_REMOTE_USER} // 'none';\n");
    ::chmod((dir_ / "site").c_str(), 0755);
    ::chmod((dir_ / "site/who.pl").c_str(), 0644);
    write_users("alice:" + std::string(kBcrypt) + "\ncarol:" + kSha512 + "\n");
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[authentication]
basic = true
users_file = "users.htpasswd"
realm = "test realm"
)" + auth + R"(
[accounts]
alice = "www-data"
dave = "www-data"
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
)",
                                               dir_.path());
  }
  void write_users(const std::string& text) {
    dir_.write("users.htpasswd", text);
    ::chmod((dir_ / "users.htpasswd").c_str(), 0644);
  }
  std::optional<http_response> who(const std::string& headers = "") {
    return fetch(server_->port(), "/who.pl", "GET", headers);
  }
  static bool root() { return ::geteuid() == 0; }

  temp_dir dir_;
  std::unique_ptr<running_server> server_;
};

TEST_F(AuthTest, AnonymousBasicWrongPasswordAndUnmappedName) {
  start("anonymous = true");
  auto anon = who();
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 200) << server_->error_log();
  EXPECT_EQ(anon->body.rfind("user= type= ", 0), 0u) << anon->body;
  if (root()) {
    EXPECT_NE(anon->body.find("uid=" + uid_of("nobody") + " "), std::string::npos) << anon->body;
  }

  auto alice = who(basic("alice", "secret"));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200) << server_->error_log();
  EXPECT_EQ(alice->body.rfind("user=alice type=Basic ", 0), 0u) << alice->body;
  if (root()) {
    EXPECT_NE(alice->body.find("uid=" + uid_of("www-data") + " "), std::string::npos)
        << alice->body;
  }

  auto wrong = who(basic("alice", "guess"));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->header("WWW-Authenticate"), "Basic realm=\"test realm\", charset=\"UTF-8\"");
  EXPECT_NE(server_->error_log().find("401 GET /who.pl: wrong password for \"alice\""),
            std::string::npos)
      << server_->error_log();
  auto unknown = who(basic("mallory", "secret"));
  EXPECT_EQ(unknown->status, 401);
  EXPECT_NE(server_->error_log().find("unknown user \"mallory\""), std::string::npos);

  // carol's password is right, but no OS account is mapped to her: 403, and the log says so.
  auto carol = who(basic("carol", "secret"));
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol->status, 403);
  EXPECT_NE(
      server_->error_log().find(
          "authenticated as \"carol\" (Basic), but [accounts] maps that name to no OS account"),
      std::string::npos)
      << server_->error_log();
  auto other = who("Authorization: Bearer abc\r\n");
  EXPECT_EQ(other->status, 401);
}

TEST_F(AuthTest, RepeatedFailuresFromOneAddressAreSlowedDown) {
  start("anonymous = true");
  EXPECT_EQ(who(basic("alice", "x1"))->status, 401);  // the first costs nothing extra
  EXPECT_EQ(who(basic("alice", "x2"))->status, 401);  // then 250 ms
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(who(basic("alice", "x3"))->status, 401);  // then 500 ms
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 450ms);
}

// Finding 8: the wait comes before the check, for the right password too,
// and attempts made at once wait one after the other.
TEST_F(AuthTest, DuringAPenaltyAttemptsAtOnceQueueAndTheRightPasswordWaitsToo) {
  start("anonymous = true");
  EXPECT_EQ(who(basic("alice", "x1"))->status, 401);  // one failure on record
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(who(basic("alice", "secret"))->status, 200);  // waits 250 ms first
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 240ms);
  // Two wrong passwords at once, with one failure on record: 250 ms, then
  // 500 ms after that (one after the other they would also take 750 ms).
  std::atomic<int> refused{0};
  t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i)
    clients.emplace_back([&, i] {
      auto r = who(basic("alice", "guess" + std::to_string(i)));
      if (r && r->status == 401) ++refused;
    });
  for (auto& c : clients) c.join();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 740ms);
  EXPECT_EQ(refused.load(), 2);
}

TEST_F(AuthTest, WithoutAnonymousAccessARequestWithoutCredentialsIsChallenged) {
  start("anonymous = false");
  auto r = who();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_FALSE(r->header("WWW-Authenticate").empty());
  EXPECT_EQ(who(basic("alice", "secret"))->status, 200);
}

TEST_F(AuthTest, TheProxyHeaderIsIgnoredFromAnUntrustedPeerAndNeverReachesTheScript) {
  start("anonymous = true\ntrusted_header = \"X-Remote-User\"\ntrusted_proxies = [\"10.0.0.0/8\"]");
  auto r = who("X-Remote-User: alice\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.rfind("user= type= ", 0), 0u) << r->body;
  EXPECT_NE(r->body.find("proxyhdr=none"), std::string::npos) << r->body;
  EXPECT_NE(server_->error_log().find("127.0.0.1 sent X-Remote-User but is not in trusted_proxies"),
            std::string::npos)
      << server_->error_log();
}

TEST_F(AuthTest, TheProxyHeaderFromATrustedPeerAuthenticates) {
  start(
      "anonymous = false\ntrusted_header = \"X-Remote-User\"\ntrusted_proxies = "
      "[\"127.0.0.1/32\"]");
  auto r = who("X-Remote-User: alice\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << server_->error_log();
  EXPECT_EQ(r->body.rfind("user=alice type=Proxy ", 0), 0u) << r->body;
  EXPECT_NE(r->body.find("proxyhdr=none"), std::string::npos)
      << r->body;  // a variable, not a header
  if (root()) {
    EXPECT_NE(r->body.find("uid=" + uid_of("www-data") + " "), std::string::npos) << r->body;
  }
  EXPECT_EQ(who("X-Remote-User: mallory\r\n")->status, 403);  // trusted, but not mapped
}

// Finding 10: which of several names would count depends on who reads them.
TEST_F(AuthTest, TheProxyHeaderTwiceOrWithSeveralValuesIs400) {
  start(
      "anonymous = false\ntrusted_header = \"X-Remote-User\"\ntrusted_proxies = "
      "[\"127.0.0.1/32\"]");
  auto twice = who("X-Remote-User: alice\r\nX-Remote-User: dave\r\n");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 400);
  EXPECT_NE(server_->error_log().find(
                "400 GET /who.pl: 2 X-Remote-User fields from trusted proxy 127.0.0.1"),
            std::string::npos)
      << server_->error_log();
  auto joined = who("X-Remote-User: alice, dave\r\n");
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->status, 400);
  EXPECT_NE(server_->error_log().find("400 GET /who.pl: X-Remote-User from trusted proxy "
                                      "127.0.0.1 holds several names (\"alice, dave\")"),
            std::string::npos)
      << server_->error_log();
  EXPECT_EQ(who("X-Remote-User: alice\r\n")->status, 200);
}

// Finding 16.
TEST_F(AuthTest, TwoAuthorizationFieldsAre400) {
  start("anonymous = true");
  auto r = who(basic("alice", "secret") + basic("alice", "guess"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(server_->error_log().find("400 GET /who.pl: 2 Authorization fields"), std::string::npos)
      << server_->error_log();
  EXPECT_EQ(who(basic("alice", "guess") + basic("alice", "secret"))->status, 400);
}

// Finding 15: crypt(3) reads the password up to its first NUL.
TEST_F(AuthTest, CredentialsWithAControlCharacterAreRefused) {
  start("anonymous = true");
  using namespace std::string_literals;
  for (const auto& [user, password] :
       {std::pair{"alice"s, "secret\0anything"s}, std::pair{"alice\0x"s, "secret"s},
        std::pair{"alice"s, "secret\x01"s}}) {
    auto r = who(basic(user, password));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << password;
  }
  EXPECT_NE(server_->error_log().find(
                "401 GET /who.pl: control character in the Basic user-id or password"),
            std::string::npos)
      << server_->error_log();
}

TEST_F(AuthTest, TheUsersFileIsReloadedWhenItChanges) {
  start("anonymous = true");
  EXPECT_EQ(who(basic("dave", "secret"))->status, 401);
  write_users("alice:" + std::string(kBcrypt) + "\ndave:" + kYescrypt + "\n");
  // The file is looked at once a second (bounded: 4 s).
  const bool in =
      eventually([&] { return who(basic("dave", "secret"))->status == 200; }, 4s, 100ms);
  EXPECT_TRUE(in) << server_->error_log();
  EXPECT_NE(server_->error_log().find("changed: 2 users"), std::string::npos)
      << server_->error_log();
}

// The chosen identity must be able to read the script: judged before any
// spawn from its owner, group and mode (as root, with real accounts).
TEST_F(AuthTest, AScriptTheIdentityCannotReadIs401ForAnonymousAnd403ForAUser) {
  if (!root()) GTEST_SKIP() << "needs root: it runs children as nobody and www-data";
  start("anonymous = true");
  const passwd* www = ::getpwnam("www-data");
  ASSERT_NE(www, nullptr);
  // Readable by root and the www-data group only.
  dir_.write("site/private.pl", "print \"Content-Type: text/plain\\n\\nprivate\";\n");
  ASSERT_EQ(::chown((dir_ / "site/private.pl").c_str(), 0, www->pw_gid), 0);
  ::chmod((dir_ / "site/private.pl").c_str(), 0640);
  auto anon = fetch(server_->port(), "/private.pl");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);  // nobody may not read it; logging in may help
  EXPECT_FALSE(anon->header("WWW-Authenticate").empty());
  EXPECT_NE(server_->error_log().find("script /private.pl: nobody uid " + uid_of("nobody") +
                                      " may not read it"),
            std::string::npos)
      << server_->error_log();
  auto alice = fetch(server_->port(), "/private.pl", "GET", basic("alice", "secret"));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200) << server_->error_log();  // www-data's group may
  EXPECT_EQ(alice->body, "private");
  // Readable by root alone: alice (www-data) is refused, 403: she is who she is.
  ::chmod((dir_ / "site/private.pl").c_str(), 0600);
  auto again = fetch(server_->port(), "/private.pl", "GET", basic("alice", "secret"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403);
  // Every spawn says who ran it, as whom, and why.
  EXPECT_NE(
      server_->error_log().find("process identity www-data uid " + uid_of("www-data") +
                                ", effective identity www-data uid " + uid_of("www-data") + " gid"),
      std::string::npos)
      << server_->error_log();
  EXPECT_NE(server_->error_log().find(
                "cgi create_process_as_user=true, authenticated alice -> account www-data uid"),
            std::string::npos);
}

// Static files are judged like scripts: the request's account must be able
// to read the file (IIS serves them with the request's token).
TEST_F(AuthTest, AStaticFileTheIdentityCannotReadIs401ForAnonymousAnd403ForAUser) {
  if (!root()) GTEST_SKIP() << "needs root: accounts are told apart only then";
  start("anonymous = true");
  const passwd* www = ::getpwnam("www-data");
  ASSERT_NE(www, nullptr);
  dir_.write("site/private.txt", "db_password=hunter2\n");
  ASSERT_EQ(::chown((dir_ / "site/private.txt").c_str(), www->pw_uid, www->pw_gid), 0);
  ::chmod((dir_ / "site/private.txt").c_str(), 0600);  // identity.process's alone
  auto anon = fetch(server_->port(), "/private.txt");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);  // nobody may not read it; logging in may help
  EXPECT_EQ(anon->header("WWW-Authenticate").rfind("Basic realm=\"test realm\"", 0), 0u);
  EXPECT_EQ(anon->body.find("hunter2"), std::string::npos);
  auto alice = fetch(server_->port(), "/private.txt", "GET", basic("alice", "secret"));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200) << server_->error_log();  // alice is www-data: the owner
  EXPECT_EQ(alice->body, "db_password=hunter2\n");
  // Root's alone: alice is refused, 403: logging in again would not help.
  ASSERT_EQ(::chown((dir_ / "site/private.txt").c_str(), 0, 0), 0);
  auto again = fetch(server_->port(), "/private.txt", "GET", basic("alice", "secret"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403);
  EXPECT_FALSE(again->has("www-authenticate"));
  EXPECT_NE(server_->error_log().find("static file /private.txt: www-data uid " +
                                      uid_of("www-data") + " may not read it"),
            std::string::npos)
      << server_->error_log();
}

// Throw-away accounts for alice and bob (useradd; removed afterwards), a
// CGI script and a PHP script that print the real and effective uid/gid and
// the groups they run with (as root).
class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root: it creates accounts and runs children as them";
    alice_.emplace("alice");
    bob_.emplace("bob");
    ASSERT_TRUE(alice_->ok() && bob_->ok()) << "useradd failed";
    ::chmod(dir_.path().c_str(), 0755);
    dir_.write("site/id.pl",
               "print \"Content-Type: text/plain\\n\\n\"; my ($eg, @g) = split ' ', $); @g = sort "
               "{ $a <=> $b } @g;"
               "print \"$< $> \", (split ' ', $()[0], \" @g \", $ENV{REMOTE_USER} // '-';\n");
    dir_.write(
        "site/id.php",
        "<?php $g = posix_getgroups(); sort($g); echo posix_getuid(), ' ', posix_geteuid(), ' ', "
        "posix_getgid(), ' ', implode(' ', $g), ' ', $_SERVER['REMOTE_USER'] ?? '-';");
    ::chmod((dir_ / "site").c_str(), 0755);
    ::chmod((dir_ / "site/id.pl").c_str(), 0644);
    ::chmod((dir_ / "site/id.php").c_str(), 0644);
    dir_.write("users.htpasswd", "alice:" + std::string(kBcrypt) + "\nbob:" + kBcrypt + "\n");
    ::chmod((dir_ / "users.htpasswd").c_str(), 0644);
  }

  void start(const std::string& more) {
    server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = "nobody"
[authentication]
basic = true
users_file = "users.htpasswd"
[accounts]
alice = ")" + alice_->name() + R"("
bob = ")" + bob_->name() + R"("
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
)" + more,
                                               dir_.path());
  }

  // "uid euid gid gid... user" as the scripts print it for an account of one group.
  static std::string expect(const throwaway_account& a, const std::string& user) {
    return std::to_string(a.uid()) + " " + std::to_string(a.uid()) + " " + std::to_string(a.gid()) +
           " " + std::to_string(a.gid()) + " " + user;
  }

  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    EXPECT_TRUE(children_of(::getpid()).empty());
  }

  std::optional<throwaway_account> alice_, bob_;
  temp_dir dir_;
  std::unique_ptr<running_server> server_;
};

TEST_F(IdentityTest, CgiRunsAsTheAuthenticatedAccountWithItsGroupsOnly) {
  start("[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\n");
  auto a = fetch(server_->port(), "/id.pl", "GET", basic("alice", "secret"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200) << server_->error_log();
  EXPECT_EQ(a->body, expect(*alice_, "alice"));
  auto b = fetch(server_->port(), "/id.pl", "GET", basic("bob", "secret"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, expect(*bob_, "bob"));
  EXPECT_NE(server_->error_log().find("authenticated alice -> account " + alice_->name() + " uid " +
                                      std::to_string(alice_->uid())),
            std::string::npos)
      << server_->error_log();
}

TEST_F(IdentityTest, ALocationWithoutCreateProcessAsUserRunsAsTheProcessIdentity) {
  dir_.write("site/admin/id.pl", "print \"Content-Type: text/plain\\n\\n$<\";\n");
  ::chmod((dir_ / "site/admin").c_str(), 0755);
  ::chmod((dir_ / "site/admin/id.pl").c_str(), 0644);
  start(
      "[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\n[[locations]]\nprefix = \"/admin/\"\n"
      "create_process_as_user = false\n");
  auto a = fetch(server_->port(), "/admin/id.pl", "GET", basic("alice", "secret"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200) << server_->error_log();
  EXPECT_EQ(a->body, uid_of("www-data"));
  EXPECT_NE(server_->error_log().find("cgi create_process_as_user=false -> the process identity"),
            std::string::npos);
  // Elsewhere alice is still alice.
  EXPECT_EQ(fetch(server_->port(), "/id.pl", "GET", basic("alice", "secret"))->body,
            expect(*alice_, "alice"));
}

TEST_F(IdentityTest, FastcgiRunsAsTheProcessIdentityUnlessImpersonating) {
  start("[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\n");
  auto a = fetch(server_->port(), "/id.php", "GET", basic("alice", "secret"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200) << server_->error_log();
  EXPECT_EQ(a->body.substr(0, a->body.find(' ')), uid_of("www-data"))
      << a->body;  // impersonate = false
}

TEST_F(IdentityTest, ImpersonatingPoolsRunEachAccountInItsOwnInstancesNeverMixed) {
  start(
      "[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\nmax_instances = 2\nimpersonate = true\n"
      "[status]\npath = \"/status\"\n");
  std::atomic<int> right{0}, wrong{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      bool as_alice = t % 2 == 0;
      connection c(server_->port());
      for (int i = 0; i < 5; ++i) {
        c.send("GET /id.php HTTP/1.1\r\nHost: t\r\n" + basic(as_alice ? "alice" : "bob", "secret") +
               "\r\n");
        auto r = c.read_response();
        if (r && r->status == 200 &&
            r->body == (as_alice ? expect(*alice_, "alice") : expect(*bob_, "bob")))
          ++right;
        else
          ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(right.load(), 40) << server_->error_log();
  EXPECT_EQ(wrong.load(), 0);
  auto anon = fetch(server_->port(), "/id.php");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->body.substr(0, anon->body.find(' ')), uid_of("nobody"));
  auto status = fetch(server_->port(), "/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->body.find("\"identity\":\"" + alice_->name() + "\""), std::string::npos)
      << status->body;
  EXPECT_NE(status->body.find("\"identity\":\"" + bob_->name() + "\""), std::string::npos)
      << status->body;
  // One series per account in Prometheus text: no two with the same labels.
  auto prom = fetch(server_->port(), "/status?format=prometheus");
  ASSERT_TRUE(prom);
  EXPECT_NE(prom->body.find("cgihost_pool_requests_total{pool=\"php\",identity=\"" +
                            alice_->name() + "\"} 20\n"),
            std::string::npos)
      << prom->body;
  EXPECT_NE(prom->body.find("cgihost_pool_requests_total{pool=\"php\",identity=\"" + bob_->name() +
                            "\"} 20\n"),
            std::string::npos)
      << prom->body;
  // max_instances (2) bounds all accounts together; ended ones may still be on their way out.
  EXPECT_TRUE(eventually([&] { return children_of(server_->spawn_parent()).size() <= 2; }))
      << children_of(server_->spawn_parent()).size();
}

TEST_F(IdentityTest, ImpersonatingPoolsShareMaxInstancesAcrossAccounts) {
  start("[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\nmax_instances = 1\nimpersonate = true\n");
  for (int round = 0; round < 2; ++round) {
    // One instance for all: each account's request ends the other's idle one.
    auto a = fetch(server_->port(), "/id.php", "GET", basic("alice", "secret"));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->body, expect(*alice_, "alice")) << server_->error_log();
    auto b = fetch(server_->port(), "/id.php", "GET", basic("bob", "secret"));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, expect(*bob_, "bob")) << server_->error_log();
  }
  EXPECT_NE(server_->error_log().find("to make room for another account's request"),
            std::string::npos)
      << server_->error_log();
  EXPECT_LE(children_of(server_->spawn_parent()).size(), 1u);
}

// IIS's 401.1: the anonymous account cannot be used at request time (here:
// removed after the config was loaded): 401 and the reason in the log, never
// a child running as someone else.
// A file of alice's own, 0600: alice gets it, bob and anonymous do not, each
// told as a script's refusal would be (401 with the challenge, 403).
TEST_F(IdentityTest, AStaticFileIsServedOnlyToAnAccountThatMayReadIt) {
  dir_.write("site/alice/notes.txt", "alice's notes\n");
  ::chmod((dir_ / "site/alice").c_str(), 0755);
  ASSERT_EQ(::chown((dir_ / "site/alice/notes.txt").c_str(), alice_->uid(), alice_->gid()), 0);
  ::chmod((dir_ / "site/alice/notes.txt").c_str(), 0600);
  start("[pools.php]\ncommand = [\"/usr/bin/php-cgi\"]\n");
  auto anon = fetch(server_->port(), "/alice/notes.txt");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  EXPECT_FALSE(anon->header("WWW-Authenticate").empty());
  auto bob = fetch(server_->port(), "/alice/notes.txt", "GET", basic("bob", "secret"));
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, 403);
  auto alice = fetch(server_->port(), "/alice/notes.txt", "GET", basic("alice", "secret"));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 200) << server_->error_log();
  EXPECT_EQ(alice->body, "alice's notes\n");
  // The log says whose right to read was judged and why.
  EXPECT_NE(server_->error_log().find("static file, authenticated bob -> account " + bob_->name()),
            std::string::npos)
      << server_->error_log();
}

TEST_F(IdentityTest, AnAnonymousAccountGoneSinceLoadingIs401NeverAnotherAccount) {
  auto anon = std::make_unique<throwaway_account>("anon");
  ASSERT_TRUE(anon->ok());
  const std::string name = anon->name();
  server_ = std::make_unique<running_server>(R"(listen = ["127.0.0.1:0"]
document_root = "site"
[identity]
process = "www-data"
anonymous = ")" + name + R"("
[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["/usr/bin/perl"]
)",
                                             dir_.path());
  auto before = fetch(server_->port(), "/id.pl");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200) << server_->error_log();
  anon.reset();  // userdel
  auto after = fetch(server_->port(), "/id.pl");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_NE(server_->error_log().find("account " + name + " does not exist (any more)"),
            std::string::npos)
      << server_->error_log();
}

}  // namespace
}  // namespace cgihost::test
