#pragma once
// A handler's `methods` (IIS verbs): which request methods it runs. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/dispatch/refusal.hpp"
#include "host/dispatch/router.hpp"

namespace cgihost::host {

// The Allow field for `methods`: "GET, HEAD, POST" (RFC 9110 §10.2.1).
std::string allow_field(const std::vector<std::string>& methods);

// nullopt when the route's handler runs `method` (it has no `methods`, or
// `method` is one of them, compared case-sensitively, as methods are); else
// the 405 refusal "handler.method" whose `allow` lists them. A route without
// a handler (a static file, the status page) is its module's to check.
std::optional<refusal> check_method(const route& r, std::string_view method);

}  // namespace cgihost::host
