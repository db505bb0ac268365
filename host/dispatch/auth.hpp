#pragma once
// Authentication: who a request is. HTTP Basic against the users file
// (bcrypt, sha512-crypt, yescrypt verified by libxcrypt's crypt_r, off the io
// threads, compared in constant time), or a trusted reverse proxy's header
// (believed only from [authentication] trusted_proxies), or (Windows, with
// iis_token = true) the token IIS's HttpPlatformHandler forwards in
// X-IIS-WindowsAuthToken from a loopback peer, else anonymous.
// Basic attempts from one address are spaced: each waits its turn before it
// is checked (throttle_policy); the users file is reloaded when it changes.
// Thread-safe: one per server.

#include <spdlog/logger.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "config/htpasswd.hpp"
#include "host/dispatch/request.hpp"
#include "spawner/identity.hpp"

namespace cgihost::host {

namespace asio = boost::asio;

// How Basic attempts from one address are spaced. Each attempt waits its
// turn before it is checked, the right password too: delay(n) after the turn
// of the attempt before it, where n counts the address's failures on record
// and its attempts in flight (any of which may fail). Attempts made at once
// are thus checked one after the other and take as long as the same attempts
// made in sequence; the first attempt of an address with nothing on record
// waits nothing. An attempt with the same Authorization value as one in
// flight shares that one's turn (a browser's parallel requests) and counts
// once. Since the answer never comes before the turn, one cannot stop
// waiting and read it from the time.
struct throttle_policy {
  std::chrono::milliseconds first_delay{250};                       // delay(1), doubling to...
  std::chrono::milliseconds max_delay{4000};                        // ...at most this
  std::chrono::milliseconds forget_after{std::chrono::minutes(1)};  // since the last failure
  // An attempt whose turn is further away than this is refused at once,
  // unchecked (an attacker cannot queue hours of attempts).
  std::chrono::milliseconds max_queue{std::chrono::seconds(30)};
  // Addresses kept (with failures on record); beyond it the oldest are
  // forgotten. Addresses with an attempt in flight are never dropped.
  std::size_t max_peers = 10000;

  std::chrono::milliseconds delay(unsigned failures) const;
};

// The users file as checked. Every check runs crypt once per distinct hash
// setting (scheme and cost) in the file, in one fixed order: the user's own
// hash for its setting, another user's hash (a dummy whose result is ignored)
// for each other setting. A wrong password thus costs the same for every
// name, a known user of any scheme or an unknown one: the time of the answer
// does not tell which users exist.
class user_table {
 public:
  user_table() = default;
  explicit user_table(const std::vector<config::htpasswd_entry>& entries);

  // The user's hash, or nullptr for an unknown name.
  const std::string* find(std::string_view user) const;
  // The hashes a check of `user` runs crypt on, in order, and which of them
  // is the user's own (nullopt: unknown user). With no users, one bcrypt dummy.
  struct plan {
    std::vector<std::string_view> hashes;
    std::optional<std::size_t> own;
  };
  plan check_plan(std::string_view user) const;
  std::size_t size() const { return hashes_.size(); }
  // The distinct settings, in the order checks run them ("$2b$05$", "$6$", ...).
  const std::vector<std::string>& settings() const { return settings_; }

 private:
  std::map<std::string, std::string, std::less<>> hashes_;
  std::vector<std::string> settings_;
  std::vector<std::string> dummies_;  // one hash per setting, same order
};

// The connection's other numbers: the peer's port and our (listener's)
// end. Windows' iis_token check looks the peer's process up by them.
struct connection_ends {
  std::uint16_t peer_port = 0;
  std::string local_address;
  std::uint16_t local_port = 0;
};

class authenticator {
 public:
  using clock = std::chrono::steady_clock;

  struct outcome {
    enum class kind {
      anonymous,      // no credentials, anonymous access on
      authenticated,  // `user` by `auth_type`
      challenge,      // 401 with a Basic challenge
      forbidden,      // 403: no way in (anonymous off and no challenge possible)
      bad_request,    // 400: ambiguous credentials (two Authorization fields; from a
                      // trusted proxy, the header twice, a comma or a control character)
      unauthorized,   // 401 without a challenge: IIS forwarded a token handle that is
                      // none (IIS's 401.1, a logon that failed), `reason` says why
    };
    kind what = kind::anonymous;
    std::string user;
    std::string auth_type;  // "Basic", "Proxy" for the trusted header, "Negotiate" for IIS's token
    std::string reason;     // for the error log
    // Windows, iis_token: the forwarded token's user with a primary token of
    // it (the handle IIS gave is closed already); `user` is its DOMAIN\user.
    std::optional<spawner::identity> token_identity;
  };

  // Keeps a reference to `cfg`. Reads the users file when Basic is on.
  authenticator(const config::config& cfg, std::shared_ptr<spdlog::logger> log,
                throttle_policy throttle = {});
  ~authenticator();
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  // Decides who the request is; `peer` is the numeric client address. A Basic
  // attempt completes only after its turn (throttle_policy), waited on a
  // timer of the caller's executor.
  // `ends` (may be null: not known) must outlive the coroutine. A pointer, not
  // a class by value: GCC 12 destroys a coroutine's by-value class argument
  // built from a temporary twice (free(): invalid pointer).
  asio::awaitable<outcome> authenticate(const request_head& req, const std::string& peer,
                                        const connection_ends* ends = nullptr);

  // False when every request is anonymous whatever it sends (no Basic, no
  // trusted header, no iis_token, anonymous access on): authenticate() would say so.
  bool active() const {
    const auto& a = cfg_.authentication;
    return a.basic || a.trusted_header.has_value() || a.iis_token || !a.anonymous;
  }

  // The WWW-Authenticate value: Basic realm="...".
  std::string challenge() const;

  // True when `password` matches crypt hash `hash` (constant-time compare).
  static bool verify_password(const std::string& password, const std::string& hash);

  // The addresses the throttle keeps now (for tests: it stays bounded).
  std::size_t tracked_peers();

 private:
  struct users {
    user_table table;
    std::filesystem::file_time_type loaded_mtime{};
  };
  std::shared_ptr<const users>
  current_users();  // reloaded when the file changed (checked once a second)

  // The throttle: reserve() books the turn of an attempt with Authorization
  // value `key` (nullopt: the queue is too long, refuse unchecked); each
  // reserve() is followed by one finish() with how that attempt ended.
  std::optional<clock::time_point> reserve(const std::string& peer, std::string_view key);
  void finish(const std::string& peer, std::string_view key, bool failed);

  // Runs the check plan on a verifier thread; `u` keeps the hashes alive.
  asio::awaitable<bool> verify_off_thread(std::string password, std::shared_ptr<const users> u,
                                          user_table::plan plan);
  asio::awaitable<outcome> basic(std::string_view authorization, const std::string& peer);
  // iis_token: the outcome of X-IIS-WindowsAuthToken, or nullopt when the
  // request is to be judged without it (no header; or one ignored, logged).
  std::optional<outcome> iis_token(const request_head& req, const std::string& peer,
                                   const connection_ends* ends);
  // Windows: whether the process owning the connection runs as this
  // process's user (IIS's w3wp of our app pool); false is logged.
  bool peer_is_our_user(const std::string& peer, const connection_ends* ends);

  const config::config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  const throttle_policy throttle_;
  // crypt_r takes tens of milliseconds: never on an io thread. Only with Basic on.
  std::optional<asio::thread_pool> verifiers_;
  std::mutex mu_;
  std::shared_ptr<const users> users_;
  clock::time_point checked_at_{};
  struct attempt {
    std::string key;  // the Authorization value (wiped when done)
    clock::time_point turn;
    unsigned sharers = 0;
    bool failed = false;
  };
  struct peer_state {
    unsigned failures = 0;  // within forget_after of the last one
    clock::time_point last_failure{};
    clock::time_point next_turn{};  // the turn of the last attempt booked
    std::vector<attempt> in_flight;
  };
  std::unordered_map<std::string, peer_state> peers_;
};

}  // namespace cgihost::host
