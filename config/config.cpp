#include "config/config.hpp"

namespace cgihost::config {

const char* to_string(module_kind m) noexcept {
  switch (m) {
    case module_kind::fastcgi:
      return "fastcgi";
    case module_kind::cgi:
      return "cgi";
    case module_kind::static_files:
      return "static";
  }
  return "?";
}

}  // namespace cgihost::config
