#include "host/auth.hpp"

#include <crypt.h>
#include <string.h>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <sstream>

#include "config/htpasswd.hpp"
#include "protocol/basic_auth.hpp"

namespace cgihost::host {
namespace {
namespace http = boost::beast::http;

// A valid bcrypt hash of a random string: verified against when the user is
// unknown and the users file is empty, so that case takes as long as a real check.
constexpr const char* kDummyHash = "$2y$05$abcdefghijklmnopqrstuuDAbuf738junljI7X2EDTxMiNkc6bRNy";

constexpr auto kFailureWindow = std::chrono::minutes(1);
constexpr std::size_t kMaxTrackedPeers = 10000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

authenticator::authenticator(const config::config& cfg, std::shared_ptr<spdlog::logger> log)
    : cfg_(cfg), log_(std::move(log)) {
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
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
  bool same = false;
  if (out != nullptr && out[0] != '*') {
    // Constant time over the hash's length: no early exit on the first difference.
    std::size_t n = std::strlen(out);
    unsigned char diff = n == hash.size() ? 0 : 1;
    for (std::size_t i = 0; i < hash.size(); ++i)
      diff |= static_cast<unsigned char>(hash[i] ^ (i < n ? out[i] : 0));
    same = diff == 0;
  }
  ::explicit_bzero(data.get(), sizeof(crypt_data));
  return same;
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
  struct stat st {};
  if (::stat(file->c_str(), &st) != 0) {
    log_->error("[auth] users file {}: {}; keeping the users read before", file->string(),
                std::strerror(errno));
    if (!users_) users_ = std::make_shared<users>();
    return users_;
  }
  auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) +
                                                     std::chrono::nanoseconds(st.st_mtim.tv_nsec));
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
  for (auto& e : parsed.entries) fresh->hashes.emplace(e.user, e.hash);
  for (auto& p : parsed.problems)
    log_->error("[auth] {}:{}:{}: {} (that line is ignored)", file->string(), p.line, p.column,
                p.message);
  if (users_)
    log_->info("[auth] users file {} changed: {} users", file->string(), fresh->hashes.size());
  users_ = std::move(fresh);
  return users_;
}

std::chrono::milliseconds authenticator::failed(const std::string& peer) {
  std::lock_guard lock(mu_);
  const auto now = clock::now();
  if (failures_.size() > kMaxTrackedPeers) {
    std::erase_if(failures_, [&](const auto& kv) { return now - kv.second.last > kFailureWindow; });
    if (failures_.size() > kMaxTrackedPeers) failures_.clear();  // bounded, whatever happens
  }
  auto& f = failures_[peer];
  if (now - f.last > kFailureWindow) f.count = 0;
  f.last = now;
  ++f.count;
  // The first failure costs nothing (a typo); then 250 ms, doubling to 4 s.
  if (f.count < 2) return std::chrono::milliseconds(0);
  auto delay = std::chrono::milliseconds(250) * (1u << std::min(f.count - 2, 4u));
  return std::min(delay, std::chrono::milliseconds(4000));
}

asio::awaitable<bool> authenticator::verify_off_thread(const std::string& password,
                                                       const std::string& hash) {
  auto ex = co_await asio::this_coro::executor;
  using channel = asio::experimental::concurrent_channel<void(boost::system::error_code, bool)>;
  auto ch = std::make_shared<channel>(ex, 1);
  asio::post(*verifiers_, [ch, pw = std::string(password), h = std::string(hash)]() mutable {
    bool ok = verify_password(pw, h);
    ::explicit_bzero(pw.data(), pw.size());
    ch->try_send(boost::system::error_code{}, ok);
  });
  auto [ec, ok] = co_await ch->async_receive(asio::as_tuple(asio::use_awaitable));
  co_return !ec && ok;
}

asio::awaitable<authenticator::outcome> authenticator::authenticate(
    const http::request_header<>& req, const std::string& peer) {
  const auto& a = cfg_.authentication;
  outcome out;
  if (a.trusted_header) {
    auto it = req.find(*a.trusted_header);
    if (it != req.end()) {
      if (config::address_in(peer, a.trusted_proxies)) {
        auto name = trim(it->value());
        if (!name.empty()) {
          out.what = outcome::kind::authenticated;
          out.user = std::string(name);
          out.auth_type = "Proxy";
          out.reason = *a.trusted_header + " from trusted proxy " + peer;
          co_return out;
        }
      } else {
        log_->warn("[auth] {} sent {} but is not in trusted_proxies: the header is ignored", peer,
                   *a.trusted_header);
      }
    }
  }
  auto auth = req.find(http::field::authorization);
  if (a.basic && auth != req.end()) {
    out.what = outcome::kind::challenge;
    auto parsed = protocol::parse_basic_authorization(auth->value());
    if (!parsed.credentials) {
      out.reason = parsed.error == protocol::basic_error::not_basic
                       ? "unsupported authorization scheme (only Basic is on)"
                       : "malformed Basic credentials";
      if (parsed.error == protocol::basic_error::malformed) out.delay = failed(peer);
      co_return out;
    }
    std::string user = std::move(parsed.credentials->user);
    std::string password = std::move(parsed.credentials->password);
    auto u = current_users();
    auto found = u->hashes.find(user);
    // An unknown user is checked against a real hash too: the answer takes as long.
    std::string hash = found != u->hashes.end() ? found->second
                       : u->hashes.empty()      ? std::string(kDummyHash)
                                                : u->hashes.begin()->second;
    bool ok = co_await verify_off_thread(password, hash);
    ::explicit_bzero(password.data(), password.size());
    if (ok && found != u->hashes.end()) {
      out.what = outcome::kind::authenticated;
      out.user = user;
      out.auth_type = "Basic";
      out.reason = "Basic";
      co_return out;
    }
    out.reason = found == u->hashes.end() ? "unknown user \"" + user + "\""
                                          : "wrong password for \"" + user + "\"";
    out.delay = failed(peer);
    co_return out;
  }
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
