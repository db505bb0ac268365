#pragma once

#include <cstdint>
#include <string>

namespace cgihost::config {

// One problem found while loading a config, printed as FILE:LINE:COL: message.
struct diagnostic {
  std::string file;
  std::uint32_t line = 1;
  std::uint32_t column = 1;
  std::string message;
  std::string to_string() const;
};

}  // namespace cgihost::config
