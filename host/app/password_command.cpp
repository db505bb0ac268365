#include "host/app/password_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/load.hpp"

#if defined(_WIN32)
#include <windows.h>

#include "protocol/utf16.hpp"
#include "spawner/password_file.hpp"
#endif

namespace cgihost::host {

void define_password_command(CLI::App& app, password_args& a) {
  a.command = app.add_subcommand(
      "password",
      "Windows: the DPAPI-protected logon passwords of accounts ([identity] logon_password_file)");
  a.command->require_subcommand(1);
  a.set = a.command->add_subcommand(
      "set", "Store ACCOUNT's password, read from standard input (one line)");
  a.remove = a.command->add_subcommand("remove", "Remove ACCOUNT's stored password");
  a.list = a.command->add_subcommand("list", "List the accounts with a stored password");
  for (CLI::App* action : {a.set, a.remove, a.list})
    action->add_option("-c,--config", a.config, "The TOML config file")->required();
  for (CLI::App* action : {a.set, a.remove})
    action->add_option("ACCOUNT", a.account, "The account, as the config names it")->required();
}

bool password_chosen(const password_args& a) { return a.command && a.command->parsed(); }

#if !defined(_WIN32)

int run_password_command(const password_args&, const config::load_options&) {
  std::cerr << "cgihost: password: Windows only: there accounts log on with LogonUserW and DPAPI "
               "keeps their passwords; on POSIX children switch accounts without one\n";
  return 1;
}

#else

namespace {

int fail(const std::string& why) {
  std::cerr << "cgihost: password: " << why << "\n";
  return 1;
}

// One line of standard input, without its end of line: from the console
// with echo off (ReadConsoleW, then UTF-8), else as the bytes sent. False
// at the end of input with nothing read.
bool read_secret_line(const std::string& account, std::string& out) {
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  DWORD mode = 0;
  if (!GetConsoleMode(in, &mode)) {
    if (!std::getline(std::cin, out) && out.empty()) return false;
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return true;
  }
  std::cerr << "Password for " << account << ": " << std::flush;
  SetConsoleMode(in, (mode & ~ENABLE_ECHO_INPUT) | ENABLE_LINE_INPUT);
  std::u16string line;
  wchar_t c = 0;
  DWORD n = 0;
  bool any = false;
  while (ReadConsoleW(in, &c, 1, &n, nullptr) && n == 1 && c != L'\n') {
    any = true;
    if (c != L'\r') line.push_back(static_cast<char16_t>(c));
  }
  SetConsoleMode(in, mode);
  std::cerr << "\n";
  out = protocol::utf16_to_utf8_lossy(line);
  SecureZeroMemory(line.data(), line.size() * sizeof(char16_t));
  return any;
}

// The config's spelling of `name` when an account children run as has it;
// "" when none does.
std::string configured_name(const config::config& cfg, const std::string& name) {
  const std::string folded = spawner::fold_account_name(name);
  for (const auto& a : config::child_accounts(cfg))
    if (!a.value->name.empty() && spawner::fold_account_name(a.value->name) == folded)
      return a.value->name;
  return {};
}

int set_password(const config::config& cfg, const std::filesystem::path& file,
                 std::vector<spawner::password_entry>& entries, const std::string& given) {
  const std::string name = configured_name(cfg, given);
  if (name.empty())
    return fail("account \"" + given +
                "\" is none the config runs children as (identity.process, identity.anonymous, "
                "[accounts], a location's process_identity)");
  std::string password, error;
  if (!read_secret_line(name, password)) return fail("no password on standard input");
  if (password.empty()) return fail("an empty password: nothing stored");
  auto blob = spawner::protect_password(name, password, error);
  spawner::wipe_secret(password);
  if (!blob) return fail(error);
  const std::string folded = spawner::fold_account_name(name);
  std::erase_if(entries,
                [&](const auto& e) { return spawner::fold_account_name(e.account) == folded; });
  entries.push_back({name, std::move(*blob)});
  if (!spawner::write_password_file(file, entries, error)) return fail(error);
  std::cerr << "cgihost: password: stored for " << name << " in " << file.string() << "\n";
  return 0;
}

int remove_password(const std::filesystem::path& file,
                    std::vector<spawner::password_entry>& entries, const std::string& given) {
  const std::string folded = spawner::fold_account_name(given);
  const auto removed = std::erase_if(
      entries, [&](const auto& e) { return spawner::fold_account_name(e.account) == folded; });
  if (removed == 0)
    return fail("no password stored for account \"" + given + "\" in " + file.string());
  std::string error;
  if (!spawner::write_password_file(file, entries, error)) return fail(error);
  std::cerr << "cgihost: password: removed for " << given << " from " << file.string() << "\n";
  return 0;
}

}  // namespace

int run_password_command(const password_args& a, const config::load_options& options) {
  auto r = config::load_file(a.config, options);
  if (!r.ok()) {
    for (const auto& d : r.errors) std::cerr << d.to_string() << '\n';
    return 1;
  }
  const auto& file = r.value->identity.logon_password_file;
  if (!file)
    return fail(a.config +
                " sets no [identity] logon_password_file: every account logs on by S4U, "
                "without a password");
  std::string error;
  auto entries = spawner::read_password_file(*file, error);
  if (!entries) return fail(error);
  if (a.list->parsed()) {
    for (const auto& e : *entries) std::cout << e.account << "\n";
    return 0;
  }
  if (a.remove->parsed()) return remove_password(*file, *entries, a.account);
  return set_password(*r.value, *file, *entries, a.account);
}

#endif

}  // namespace cgihost::host
