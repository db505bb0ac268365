#include "spawner/password_file.hpp"

namespace cgihost::spawner {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// One entry line (without its end of line): the entry, or the column and
// message of what is wrong.
struct line_result {
  std::optional<password_entry> entry;
  std::size_t column = 0;
  std::string message;
};

line_result parse_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos)
    return {std::nullopt, 1, "expected ACCOUNT:HEX (the account's name, ':', its DPAPI blob)"};
  if (colon == 0) return {std::nullopt, 1, "no account name before ':'"};
  const std::string_view hex = line.substr(colon + 1);
  if (hex.empty()) return {std::nullopt, colon + 2, "no DPAPI blob after ':'"};
  password_entry e{std::string(line.substr(0, colon)), {}};
  e.blob.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); ++i)
    if (hex_value(hex[i]) < 0)
      return {std::nullopt, colon + 2 + i,
              "not a hexadecimal digit in the DPAPI blob: '" + std::string(1, hex[i]) + "'"};
  if (hex.size() % 2)
    return {std::nullopt, colon + 1 + hex.size(),
            "an odd number of hexadecimal digits: the blob is cut short"};
  for (std::size_t i = 0; i < hex.size(); i += 2)
    e.blob.push_back(static_cast<unsigned char>(hex_value(hex[i]) * 16 + hex_value(hex[i + 1])));
  return {std::move(e), 0, {}};
}

}  // namespace

bool same_account_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::optional<std::vector<password_entry>> parse_password_file(std::string_view text,
                                                               const std::string& file,
                                                               std::string& error) {
  std::vector<password_entry> out;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    auto r = parse_line(line);
    if (r.entry)
      for (const auto& earlier : out)
        if (same_account_name(earlier.account, r.entry->account)) {
          r = {std::nullopt, 1, "a second entry for account \"" + earlier.account + "\""};
          break;
        }
    if (!r.entry) {
      error =
          file + ":" + std::to_string(number) + ":" + std::to_string(r.column) + ": " + r.message;
      return std::nullopt;
    }
    out.push_back(std::move(*r.entry));
  }
  return out;
}

std::string format_password_file(const std::vector<password_entry>& entries) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out =
      "# cgihost logon passwords, written by `cgihost password`: ACCOUNT:HEX, the password\n"
      "# protected by DPAPI for this machine and this account. Do not edit.\n";
  for (const auto& e : entries) {
    out += e.account;
    out += ':';
    for (unsigned char b : e.blob) {
      out += digits[b >> 4];
      out += digits[b & 15];
    }
    out += '\n';
  }
  return out;
}

}  // namespace cgihost::spawner
