#include "host/dispatch/iis_token.hpp"

#include "config/config.hpp"
#include "config/values.hpp"
#include "protocol/iis_token.hpp"

namespace cgihost::host {

bool is_loopback_address(std::string_view numeric_address) {
  static const std::vector<config::cidr> loopback = config::status_settings::loopback_only();
  return config::address_in(std::string(numeric_address), loopback);
}

iis_token_decision decide_iis_token(const header_list& fields, bool peer_is_loopback) {
  using kind = iis_token_decision::kind;
  const auto name = protocol::iis::token_header;
  iis_token_decision d;
  const auto value = fields.find(name);
  if (!value) return d;
  if (!peer_is_loopback) {
    d.what = kind::refused_not_loopback;
    return d;
  }
  if (fields.count(name) > 1) {
    d.what = kind::malformed;
    d.reason = "the header twice";
    return d;
  }
  auto handle = protocol::iis::parse_token_handle(*value);
  if (!handle) {
    d.what = kind::malformed;
    d.reason = handle.error().message();
    return d;
  }
  d.what = kind::token;
  d.handle = *handle;
  return d;
}

std::string iis_token_warning(const iis_token_decision& d, std::string_view peer_address) {
  const std::string peer(peer_address);
  const std::string name(protocol::iis::token_header);
  switch (d.what) {
    case iis_token_decision::kind::refused_not_loopback:
      return name + " from " + peer +
             " ignored: only IIS on this machine (a loopback peer) may forward a token; the "
             "request is anonymous";
    case iis_token_decision::kind::malformed:
      return name + " from " + peer + " ignored: " + d.reason + "; the request is anonymous";
    case iis_token_decision::kind::no_token:
    case iis_token_decision::kind::token:
      break;
  }
  return {};
}

}  // namespace cgihost::host
