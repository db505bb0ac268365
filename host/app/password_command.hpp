#pragma once
// `cgihost password`: the logon passwords of the accounts children run as,
// kept DPAPI-protected in `[identity] logon_password_file`
// (spawner/password_file.hpp). Windows only: elsewhere each action says so
// and fails.
//   cgihost password set -c CONFIG ACCOUNT     the password from stdin, one line
//                                              (echo off when it is a console)
//   cgihost password remove -c CONFIG ACCOUNT
//   cgihost password list -c CONFIG            the account names, never a password

#include <string>

namespace CLI {
class App;
}
namespace cgihost::config {
struct load_options;
}

namespace cgihost::host {

struct password_args {
  CLI::App* command = nullptr;  // `password`; the three below are its actions
  CLI::App* set = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* list = nullptr;
  std::string config;
  std::string account;
};

// Adds `password` and its actions to `app`, parsing into `args`.
void define_password_command(CLI::App& app, password_args& args);

// Whether the command line chose `password`.
bool password_chosen(const password_args& args);

// Runs the chosen action: 0 when done, 1 with the reason on stderr (a config
// error, no logon_password_file, an account the config does not name, a
// file refused or not written, not Windows).
int run_password_command(const password_args& args, const config::load_options& options);

}  // namespace cgihost::host
