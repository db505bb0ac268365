#pragma once
// `cgihost service install|uninstall|run` (Windows only): the privileged
// spawner as a Windows service (spawner/windows/service.hpp).
//   cgihost service install -c CONFIG [--name NAME]
//     CreateServiceW: LocalSystem, automatic start, binary path
//     "<this exe>" service run -c "<CONFIG, absolute>" --name NAME
//   cgihost service uninstall [--name NAME]     (stopped first when running)
//   cgihost service run -c CONFIG [--name NAME] [--console]
//     the service's body, under the service manager; --console: the same in
//     the foreground (tests, debugging), stopped by Ctrl-C.
// NAME defaults to "cgihost"; the pipe is \\.\pipe\NAME-spawner, which the
// front end's `[identity] spawner_service = "NAME"` names. Exit codes as
// cgihost's: 0 done, 1 failure (a config error, the service manager's
// refusal, the pipe's name taken), 2 usage error.

#include <string>

#include "config/load.hpp"

namespace cgihost::host {

struct service_args {
  std::string action;  // "install", "uninstall" or "run"
  std::string config;
  std::string name = "cgihost";
  bool console = false;
};

#if defined(_WIN32)
int service_command(const service_args& args, const config::load_options& options);
#endif

}  // namespace cgihost::host
