#include "config/htpasswd.hpp"

#include <set>

namespace cgihost::config {

bool supported_hash(std::string_view hash) noexcept {
  auto starts = [&](std::string_view p) { return hash.substr(0, p.size()) == p; };
  if (starts("$2y$") || starts("$2b$")) return hash.size() == 60;
  if (starts("$6$")) return hash.size() > 3 + 1 + 86 && hash.find('$', 3) != std::string_view::npos;
  if (starts("$y$")) return hash.size() > 8 && hash.find('$', 3) != std::string_view::npos;
  return false;
}

std::string hash_setting(std::string_view hash) {
  if (!supported_hash(hash)) return {};
  if (hash[1] == '2') return "$2b$" + std::string(hash.substr(4, 3));
  auto end = hash.find('$', 3);  // supported_hash: there is one
  if (hash[1] == 'y') return std::string(hash.substr(0, end + 1));
  std::string_view field = hash.substr(3, end - 3);
  if (field.substr(0, 7) != "rounds=" || field == "rounds=5000") return "$6$";
  return std::string(hash.substr(0, end + 1));
}

namespace {

std::string hash_kind(std::string_view hash) {
  if (hash.substr(0, 6) == "$apr1$") return "Apache MD5 ($apr1$)";
  if (hash.substr(0, 5) == "{SHA}") return "unsalted SHA-1 ({SHA})";
  if (hash.substr(0, 3) == "$1$") return "MD5-crypt ($1$)";
  if (hash.substr(0, 3) == "$5$") return "sha256-crypt ($5$)";
  if (hash.substr(0, 4) == "$2a$") return "old bcrypt ($2a$)";
  if (hash.substr(0, 2) == "$2" || hash.substr(0, 3) == "$6$" || hash.substr(0, 3) == "$y$")
    return "a malformed hash";
  if (hash.size() == 13) return "DES-crypt or plain text";
  return "plain text or an unknown scheme";
}

}  // namespace

htpasswd_file parse_htpasswd(std::string_view text) {
  htpasswd_file out;
  std::set<std::string, std::less<>> seen;
  std::uint32_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      out.problems.push_back({line_no, 1, "expected \"name:hash\""});
      continue;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view hash = line.substr(colon + 1);
    if (!supported_hash(hash)) {
      out.problems.push_back({line_no, static_cast<std::uint32_t>(colon + 2),
                              "user \"" + std::string(user) + "\": unsupported password hash, " +
                                  hash_kind(hash) +
                                  " (use bcrypt $2y$, sha512-crypt $6$ or yescrypt $y$)"});
      continue;
    }
    if (!seen.emplace(user).second) {
      out.problems.push_back({line_no, 1, "user \"" + std::string(user) + "\" appears twice"});
      continue;
    }
    out.entries.push_back({std::string(user), std::string(hash), line_no});
  }
  return out;
}

}  // namespace cgihost::config
