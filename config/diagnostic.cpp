#include "config/diagnostic.hpp"

namespace cgihost::config {

std::string diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace cgihost::config
