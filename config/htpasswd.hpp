#pragma once
// The users file of HTTP Basic authentication: "name:hash" lines.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cgihost::config {

struct htpasswd_entry {
  std::string user;
  std::string hash;
  std::uint32_t line = 0;
};

struct htpasswd_problem {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string message;
};

struct htpasswd_file {
  std::vector<htpasswd_entry> entries;
  std::vector<htpasswd_problem> problems;
};

// True for the hashes libxcrypt verifies that we accept: bcrypt ($2y$, $2b$),
// sha512-crypt ($6$) and yescrypt ($y$). Apache's $apr1$, {SHA}, DES and plain
// text are refused: a users file must never hold a weak or unverifiable hash.
bool supported_hash(std::string_view hash) noexcept;

// The setting of a supported hash: its scheme and cost, the text before the
// salt ("$2b$05$", "$6$rounds=9000$", "$y$j9T$"), the same for every hash
// that costs the same to check: bcrypt's $2y$ reads as $2b$ (one algorithm)
// and "$6$rounds=5000$" as "$6$" (the default). Empty for any other text.
std::string hash_setting(std::string_view hash);

// Parses the text of a users file. Blank lines and lines starting with '#'
// are skipped; every other line must be "name:hash" with a supported hash.
htpasswd_file parse_htpasswd(std::string_view text);

}  // namespace cgihost::config
