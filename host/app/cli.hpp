#pragma once
// The command line of cgihost (a contract: tests call exactly this).
//   cgihost serve --config FILE | -c FILE
//   cgihost dev [DIR] [--listen HOST:PORT]
//   cgihost check-config --config FILE | -c FILE
//   cgihost try --config FILE [--user NAME] [--method M] [--header 'K: V']... [--data @FILE] URL
//   cgihost password set|remove -c FILE ACCOUNT | password list -c FILE   (Windows only)
//   cgihost service install -c FILE [--name NAME] | uninstall [--name NAME]
//                 | run -c FILE [--name NAME] [--console]   (Windows build only:
//                   the privileged spawner service, service_command.hpp; elsewhere
//                   `service` is an unknown command, exit 2)
//   cgihost --help | --version
// Exit codes: 0 success (and after a graceful stop), 1 invalid config or
// start-up failure, 2 usage error (one line on stderr saying why); try: 0
// when the client would get a status below 500, else 1.

namespace cgihost::host {

int main_cli(int argc, char** argv);

}  // namespace cgihost::host
