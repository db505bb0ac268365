#include "host/dispatch/auth.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <sstream>

#include "host/dispatch/iis_token.hpp"
#include "host/dispatch/password.hpp"
#include "protocol/basic_auth.hpp"
#include "protocol/iis_token.hpp"
#include "protocol/text.hpp"
#include "spawner/peer.hpp"

namespace cgihost::host {
namespace {

using protocol::trim;
namespace http = boost::beast::http;

// A valid bcrypt hash of a random string: checked against when the users
// file is empty, so that an attempt then takes as long as a real check.
constexpr const char* kDummyHash = "$2y$05$abcdefghijklmnopqrstuuDAbuf738junljI7X2EDTxMiNkc6bRNy";

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Equality whose time depends on the lengths only.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

std::chrono::milliseconds throttle_policy::delay(unsigned failures) const {
  if (failures == 0) return std::chrono::milliseconds(0);
  auto d = first_delay;
  for (unsigned i = 1; i < failures && d < max_delay; ++i) d *= 2;
  return std::min(d, max_delay);
}

user_table::user_table(const std::vector<config::htpasswd_entry>& entries) {
  for (const auto& e : entries) {
    auto setting = config::hash_setting(e.hash);
    if (std::find(settings_.begin(), settings_.end(), setting) == settings_.end()) {
      settings_.push_back(setting);
      dummies_.push_back(e.hash);
    }
    hashes_.emplace(e.user, e.hash);
  }
}

const std::string* user_table::find(std::string_view user) const {
  auto it = hashes_.find(user);
  return it == hashes_.end() ? nullptr : &it->second;
}

user_table::plan user_table::check_plan(std::string_view user) const {
  plan p;
  if (settings_.empty()) {
    p.hashes.push_back(kDummyHash);
    return p;
  }
  const std::string* own = find(user);
  const std::string own_setting = own ? config::hash_setting(*own) : std::string();
  for (std::size_t i = 0; i < settings_.size(); ++i) {
    if (own && settings_[i] == own_setting) {
      p.own = i;
      p.hashes.push_back(*own);
    } else {
      p.hashes.push_back(dummies_[i]);
    }
  }
  return p;
}

authenticator::authenticator(const config::config& cfg, std::shared_ptr<spdlog::logger> log,
                             throttle_policy throttle)
    : cfg_(cfg), log_(std::move(log)), throttle_(throttle) {
  if (cfg_.authentication.basic) {
    verifiers_.emplace(2);
    current_users();
  }
}

authenticator::~authenticator() {
  if (verifiers_) verifiers_->join();
}

std::string authenticator::challenge() const {
  std::string realm;
  for (char c : cfg_.authentication.realm) {
    if (c == '"' || c == '\\') realm += '\\';
    realm += c;
  }
  return "Basic realm=\"" + realm + "\", charset=\"UTF-8\"";
}

bool authenticator::verify_password(const std::string& password, const std::string& hash) {
  return crypt_matches(password, hash);
}

std::shared_ptr<const authenticator::users> authenticator::current_users() {
  std::lock_guard lock(mu_);
  const auto now = clock::now();
  if (users_ && now - checked_at_ < std::chrono::seconds(1)) return users_;
  checked_at_ = now;
  const auto& file = cfg_.authentication.users_file;
  if (!file) {
    if (!users_) users_ = std::make_shared<users>();
    return users_;
  }
  std::error_code mec;
  const auto mtime = std::filesystem::last_write_time(*file, mec);
  if (mec) {
    log_->error("[auth] users file {}: {}; keeping the users read before", file->string(),
                mec.message());
    if (!users_) users_ = std::make_shared<users>();
    return users_;
  }
  if (users_ && users_->loaded_mtime == mtime) return users_;
  std::ifstream in(*file);
  std::stringstream text;
  if (!in || !(text << in.rdbuf())) {
    // Unreadable now (e.g. not readable by the process identity cgihost
    // dropped to): never an empty user list, which would lock everyone out.
    log_->error(
        "[auth] users file {} changed but cannot be read: {}; keeping the users read before",
        file->string(), std::strerror(errno));
    auto kept = users_ ? std::make_shared<users>(*users_) : std::make_shared<users>();
    kept->loaded_mtime = mtime;  // said once per change, not once a second
    users_ = std::move(kept);
    return users_;
  }
  auto parsed = config::parse_htpasswd(text.str());
  auto fresh = std::make_shared<users>();
  fresh->loaded_mtime = mtime;
  fresh->table = user_table(parsed.entries);
  for (auto& p : parsed.problems)
    log_->error("[auth] {}:{}:{}: {} (that line is ignored)", file->string(), p.line, p.column,
                p.message);
  if (const auto& settings = fresh->table.settings(); settings.size() > 1) {
    std::string list;
    for (const auto& s : settings) list += (list.empty() ? "" : ", ") + s;
    log_->warn(
        "[auth] users file {} mixes {} hash settings ({}): every Basic check runs crypt once "
        "for each, so that its time does not tell which users exist; one scheme and cost for "
        "all users costs one",
        file->string(), settings.size(), list);
  }
  if (users_)
    log_->info("[auth] users file {} changed: {} users", file->string(), fresh->table.size());
  users_ = std::move(fresh);
  return users_;
}

std::size_t authenticator::tracked_peers() {
  std::lock_guard lock(mu_);
  return peers_.size();
}

std::optional<authenticator::clock::time_point> authenticator::reserve(const std::string& peer,
                                                                       std::string_view key) {
  std::lock_guard lock(mu_);
  const auto now = clock::now();
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= throttle_.max_peers) {
      std::erase_if(peers_, [&](const auto& kv) {
        const auto& p = kv.second;
        return p.in_flight.empty() && p.next_turn <= now &&
               (p.failures == 0 || now - p.last_failure > throttle_.forget_after);
      });
      // Still nearly full of recent failures (from as many addresses): forget
      // the oldest down to three quarters, so that this sweep comes again only
      // after a quarter of max_peers new addresses. An address with an
      // attempt in flight is never forgotten.
      const std::size_t keep = throttle_.max_peers - throttle_.max_peers / 4;
      if (peers_.size() > keep) {
        std::vector<decltype(peers_)::iterator> idle;
        for (auto i = peers_.begin(); i != peers_.end(); ++i)
          if (i->second.in_flight.empty()) idle.push_back(i);
        auto drop = std::min(idle.size(), peers_.size() - keep);
        auto end = idle.begin() + static_cast<std::ptrdiff_t>(drop);
        std::nth_element(idle.begin(), end, idle.end(), [](auto a, auto b) {
          return a->second.last_failure < b->second.last_failure;
        });
        for (auto i = idle.begin(); i != end; ++i) peers_.erase(*i);
      }
    }
    it = peers_.emplace(peer, peer_state{}).first;
  }
  auto& p = it->second;
  if (p.failures > 0 && now - p.last_failure > throttle_.forget_after) p.failures = 0;
  for (auto& a : p.in_flight) {
    if (same(a.key, key)) {
      ++a.sharers;
      return a.turn;
    }
  }
  // Attempts in flight may all be failures: counting them keeps attempts
  // made at once as slow as the same attempts made one after the other.
  const auto n = p.failures + static_cast<unsigned>(p.in_flight.size());
  const auto turn = std::max(now, p.next_turn) + throttle_.delay(n);
  if (turn - now > throttle_.max_queue) return std::nullopt;
  p.next_turn = turn;
  p.in_flight.push_back({std::string(key), turn, 1, false});
  return turn;
}

void authenticator::finish(const std::string& peer, std::string_view key, bool failed) {
  std::lock_guard lock(mu_);
  const auto now = clock::now();
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;  // never: an address in flight is kept
  auto& p = it->second;
  auto a = std::find_if(p.in_flight.begin(), p.in_flight.end(),
                        [&](const attempt& x) { return same(x.key, key); });
  if (a == p.in_flight.end()) return;  // never: reserve() put it there
  a->failed |= failed;
  if (--a->sharers > 0) return;
  // The attempt's last sharer: one guess, one failure at most.
  if (p.failures > 0 && now - p.last_failure > throttle_.forget_after) p.failures = 0;
  if (a->failed) {
    ++p.failures;
    p.last_failure = now;
  }
  wipe(a->key.data(), a->key.size());
  p.in_flight.erase(a);
  if (p.in_flight.empty() && p.failures == 0 && p.next_turn <= now) peers_.erase(it);
}

asio::awaitable<bool> authenticator::verify_off_thread(std::string password,
                                                       std::shared_ptr<const users> u,
                                                       user_table::plan plan) {
  auto ex = co_await asio::this_coro::executor;
  using channel = asio::experimental::concurrent_channel<void(boost::system::error_code, bool)>;
  auto ch = std::make_shared<channel>(ex, 1);
  asio::post(*verifiers_, [ch, pw = password, u = std::move(u), plan = std::move(plan)]() mutable {
    // Every hash of the plan is checked, whatever the earlier ones said.
    bool ok = false;
    for (std::size_t i = 0; i < plan.hashes.size(); ++i) {
      bool match = verify_password(pw, std::string(plan.hashes[i]));
      if (plan.own == i) ok = match;
    }
    wipe(pw.data(), pw.size());
    ch->try_send(boost::system::error_code{}, ok);
  });
  wipe(password.data(), password.size());
  auto [ec, ok] = co_await ch->async_receive(nothrow);
  co_return !ec && ok;
}

asio::awaitable<authenticator::outcome> authenticator::basic(std::string_view authorization,
                                                             const std::string& peer) {
  outcome out;
  out.what = outcome::kind::challenge;
  auto parsed = protocol::parse_basic_authorization(authorization);
  if (!parsed.credentials && parsed.error == protocol::basic_error::not_basic) {
    out.reason = "unsupported authorization scheme (only Basic is on)";
    co_return out;
  }
  // Every attempt waits its turn before it is checked, the right password too.
  const std::string_view key = trim(authorization);
  auto turn = reserve(peer, key);
  if (!turn) {
    out.reason =
        "refused unchecked: Basic attempts from this address are queued beyond "
        "max_queue (" +
        std::to_string(throttle_.max_queue.count()) + " ms)";
    co_return out;
  }
  asio::steady_timer wait(co_await asio::this_coro::executor, *turn);
  if (auto [ec] = co_await wait.async_wait(nothrow); ec) {
    // Cancelled: never checked before its turn.
    finish(peer, key, false);
    out.reason = "cancelled while waiting for its turn: " + ec.message();
    co_return out;
  }
  if (!parsed.credentials) {
    finish(peer, key, true);
    out.reason = parsed.error == protocol::basic_error::control_character
                     ? "control character in the Basic user-id or password (RFC 7617 §2)"
                     : "malformed Basic credentials";
    co_return out;
  }
  std::string user = std::move(parsed.credentials->user);
  auto u = current_users();
  auto plan = u->table.check_plan(user);
  const bool known = plan.own.has_value();
  bool ok = co_await verify_off_thread(parsed.credentials->password, u, std::move(plan));
  wipe(parsed.credentials->password.data(), parsed.credentials->password.size());
  finish(peer, key, !ok);
  if (ok) {
    out.what = outcome::kind::authenticated;
    out.user = user;
    out.auth_type = "Basic";
    out.reason = "Basic";
    co_return out;
  }
  out.reason = known ? "wrong password for \"" + user + "\"" : "unknown user \"" + user + "\"";
  co_return out;
}

bool authenticator::peer_is_our_user(const std::string& peer, const connection_ends* given) {
  const std::string name(protocol::iis::token_header);
  std::string why = "the connection's ends are not known";
  const connection_ends ends = given ? *given : connection_ends{};
  auto owner = given ? spawner::tcp_peer_owner(peer, ends.peer_port, ends.local_address,
                                               ends.local_port, why)
                     : std::nullopt;
  if (!owner) {
    log_->warn("[auth] {} from {}:{} ignored: {}; the request is anonymous", name, peer,
               ends.peer_port, why);
    return false;
  }
  const auto self = spawner::current_account();
  if (!owner->account.sid.empty() && owner->account.sid == self.sid) return true;
  const std::string who =
      owner->account.name.empty() ? "an unknown account (" + why + ")" : owner->account.name;
  log_->warn(
      "[auth] {} from {}:{} ignored: the connection belongs to pid {} running as {}, not "
      "as this process's user {} (IIS's app pool); the request is anonymous",
      name, peer, ends.peer_port, owner->pid, who, self.name);
  return false;
}

std::optional<authenticator::outcome> authenticator::iis_token(const request_head& req,
                                                               const std::string& peer,
                                                               const connection_ends* ends) {
  // The connection's own peer decides: only IIS on this machine can have
  // duplicated a handle into this process.
  const auto d = decide_iis_token(req.fields, is_loopback_address(peer));
  using kind = iis_token_decision::kind;
  if (d.what == kind::no_token) return std::nullopt;
  if (d.what != kind::token) {
    log_->warn("[auth] {}", iis_token_warning(d, peer));
    return std::nullopt;
  }
  // Any local process may name a handle value (they are small multiples
  // of 4): only one running as our own user, IIS's worker process of the
  // app pool that started us, may have it used.
  outcome out;
#if defined(_WIN32)
  if (!peer_is_our_user(peer, ends)) return std::nullopt;
  std::string error;
  if (auto id = spawner::adopt_forwarded_token(d.handle, error)) {
    out.what = outcome::kind::authenticated;
    out.user = id->system_name;
    // IIS's Windows authentication reports the Negotiate provider (its
    // default, first in <providers>); the token does not tell which
    // package authenticated the user, so "Negotiate" stands for both.
    out.auth_type = "Negotiate";
    out.reason = std::string(protocol::iis::token_header) + " from " + peer;
    out.token_identity = std::move(id);
    return out;
  }
  out.reason = std::string(protocol::iis::token_header) + " from " + peer + ": " + error;
#else
  (void)ends;
  out.reason = "a forwarded token is Windows only";
#endif
  out.what = outcome::kind::unauthorized;
  return out;
}

asio::awaitable<authenticator::outcome> authenticator::authenticate(const request_head& req,
                                                                    const std::string& peer,
                                                                    const connection_ends* ends) {
  const auto& a = cfg_.authentication;
  outcome out;
  // Credentials must say one thing: with two, which one counts would depend
  // on who reads them (this host, a proxy, the application).
  if (auto n = req.fields.count("Authorization"); n > 1) {
    out.what = outcome::kind::bad_request;
    out.reason = std::to_string(n) + " Authorization fields";
    co_return out;
  }
  if (a.iis_token)
    if (auto by_iis = iis_token(req, peer, ends)) co_return std::move(*by_iis);
  if (a.trusted_header) {
    auto it = req.fields.find(*a.trusted_header);
    if (it && !config::address_in(peer, a.trusted_proxies)) {
      log_->warn("[auth] {} sent {} but is not in trusted_proxies: the header is ignored", peer,
                 *a.trusted_header);
    } else if (it) {
      const std::string from = *a.trusted_header + " from trusted proxy " + peer;
      auto name = trim(*it);
      // One name, or the proxy and we may not agree on who this is.
      out.what = outcome::kind::bad_request;
      if (auto n = req.fields.count(*a.trusted_header); n > 1) {
        out.reason = std::to_string(n) + " " + *a.trusted_header + " fields from trusted proxy " +
                     peer + " (one name expected)";
        co_return out;
      }
      if (name.find(',') != std::string_view::npos) {
        out.reason = from + " holds several names (\"" + std::string(name) + "\")";
        co_return out;
      }
      if (has_control(name)) {
        out.reason = from + " holds a control character";
        co_return out;
      }
      if (!name.empty()) {
        out.what = outcome::kind::authenticated;
        out.user = std::string(name);
        out.auth_type = "Proxy";
        out.reason = from;
        co_return out;
      }
      out.what = outcome::kind::anonymous;
    }
  }
  auto auth = req.fields.find("Authorization");
  if (a.basic && auth) co_return co_await basic(*auth, peer);
  if (a.anonymous) co_return out;
  if (a.basic) {
    out.what = outcome::kind::challenge;
    out.reason = "anonymous access is off ([authentication] anonymous = false)";
    co_return out;
  }
  out.what = outcome::kind::forbidden;
  out.reason = "anonymous access is off and no credentials came (no Basic, no trusted header)";
  co_return out;
}

}  // namespace cgihost::host
