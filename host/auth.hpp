#pragma once
// Authentication: who a request is. HTTP Basic against the users file
// (bcrypt, sha512-crypt, yescrypt verified by libxcrypt's crypt_r, off the io
// threads, compared in constant time), or a trusted reverse proxy's header
// (believed only from [authentication] trusted_proxies), else anonymous.
// Repeated failures from one address are slowed down; the users file is
// reloaded when it changes. Thread-safe: one per server.

#include <spdlog/logger.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/config.hpp"

namespace cgihost::host {

namespace asio = boost::asio;

class authenticator {
 public:
  using clock = std::chrono::steady_clock;

  struct outcome {
    enum class kind {
      anonymous,      // no credentials, anonymous access on
      authenticated,  // `user` by `auth_type`
      challenge,      // 401 with a Basic challenge (after `delay`)
      forbidden,      // 403: no way in (anonymous off and no challenge possible)
    };
    kind what = kind::anonymous;
    std::string user;
    std::string auth_type;  // "Basic", or "Proxy" for the trusted header
    std::string reason;     // for the error log
    std::chrono::milliseconds delay{0};
  };

  // Keeps a reference to `cfg`. Reads the users file when Basic is on.
  authenticator(const config::config& cfg, std::shared_ptr<spdlog::logger> log);
  ~authenticator();
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  // Decides who the request is; `peer` is the numeric client address.
  asio::awaitable<outcome> authenticate(const boost::beast::http::request_header<>& req,
                                        const std::string& peer);

  // False when every request is anonymous whatever it sends (no Basic, no
  // trusted header, anonymous access on): authenticate() would say so.
  bool active() const {
    const auto& a = cfg_.authentication;
    return a.basic || a.trusted_header.has_value() || !a.anonymous;
  }

  // The WWW-Authenticate value: Basic realm="...".
  std::string challenge() const;

  // True when `password` matches crypt hash `hash` (constant-time compare).
  static bool verify_password(const std::string& password, const std::string& hash);

 private:
  struct users {
    std::map<std::string, std::string, std::less<>> hashes;
    std::chrono::system_clock::time_point loaded_mtime{};
  };
  std::shared_ptr<const users>
  current_users();  // reloaded when the file changed (checked once a second)
  std::chrono::milliseconds failed(
      const std::string& peer);  // the delay for this address's next 401
  // Runs verify_password on a verifier thread; the strings must outlive the wait.
  asio::awaitable<bool> verify_off_thread(const std::string& password, const std::string& hash);

  const config::config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  // crypt_r takes tens of milliseconds: never on an io thread. Only with Basic on.
  std::optional<asio::thread_pool> verifiers_;
  std::mutex mu_;
  std::shared_ptr<const users> users_;
  clock::time_point checked_at_{};
  struct failures {
    unsigned count = 0;
    clock::time_point last{};
  };
  std::unordered_map<std::string, failures> failures_;
};

}  // namespace cgihost::host
