#pragma once
// The command line of cgihost (a contract: tests call exactly this).
//   cgihost serve --config FILE | -c FILE
//   cgihost dev [DIR] [--listen HOST:PORT]
//   cgihost check-config --config FILE | -c FILE
//   cgihost --help | --version
// Exit codes: 0 success (and after a graceful stop), 1 invalid config or
// start-up failure, 2 usage error (one line on stderr saying why).

namespace cgihost::host {

int main_cli(int argc, char** argv);

}  // namespace cgihost::host
