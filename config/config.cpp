#include "config/config.hpp"

namespace cgihost::config {

const char* to_string(module_kind m) noexcept {
  switch (m) {
    case module_kind::fastcgi:
      return "fastcgi";
    case module_kind::cgi:
      return "cgi";
    case module_kind::static_files:
      return "static";
  }
  return "?";
}

const char* to_string(stderr_handling m) noexcept {
  switch (m) {
    case stderr_handling::log:
      return "log";
    case stderr_handling::log_and_500:
      return "log_and_500";
    case stderr_handling::ignore:
      return "ignore";
  }
  return "?";
}

std::vector<named_account> child_accounts(const config& cfg) {
  std::vector<named_account> out{{&cfg.identity.process, "identity.process"},
                                 {&cfg.identity.anonymous, "identity.anonymous"}};
  for (const auto& [user, a] : cfg.accounts) out.push_back({&a, "accounts.\"" + user + "\""});
  for (std::size_t i = 0; i < cfg.locations.size(); ++i)
    if (const auto& a = cfg.locations[i].process_identity)
      out.push_back({&*a, "locations[" + std::to_string(i) + "].process_identity"});
  return out;
}

}  // namespace cgihost::config
