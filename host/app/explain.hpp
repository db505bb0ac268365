#pragma once
// `cgihost try --explain`: the decision chain of one request, printed without
// running anything: handler and location matched, authenticated name, mapped
// account, the setting that chose it, and each pre-spawn check as pass/fail.

#include "config/config.hpp"
#include "host/app/try_command.hpp"

namespace cgihost::host {

// Prints the explanation to stdout. Returns 0 when every check passes (the
// request would run), 1 when one fails, 2 for a bad URL (said on stderr).
int run_explain(const config::config& cfg, const try_request& request);

}  // namespace cgihost::host
