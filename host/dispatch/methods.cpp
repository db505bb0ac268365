#include "host/dispatch/methods.hpp"

#include <algorithm>

namespace cgihost::host {

std::string allow_field(const std::vector<std::string>& methods) {
  std::string out;
  for (const auto& m : methods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

std::optional<refusal> check_method(const route& r, std::string_view method) {
  if (!r.handler || r.handler->methods.empty()) return std::nullopt;
  const auto& allowed = r.handler->methods;
  if (std::find(allowed.begin(), allowed.end(), method) != allowed.end()) return std::nullopt;
  refusal no;
  no.status = boost::beast::http::status::method_not_allowed;
  no.code = "handler.method";
  no.allow = allow_field(allowed);
  no.reason = "method " + std::string(method) + " is not in the methods of handler " +
              r.handler->match + " (" + no.allow + ")";
  return no;
}

}  // namespace cgihost::host
