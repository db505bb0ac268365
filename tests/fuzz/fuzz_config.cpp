// Any config text: the loader returns a config or diagnostics, never crashes,
// and every diagnostic has a position.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  cgihost::config::load_options o;
  o.running_as_root = true;
  // No system look-ups per input: a fixed set of accounts.
  o.lookup = [](const std::string& name) -> std::optional<cgihost::config::account> {
    if (name == "root") return cgihost::config::account{"root", 0, 0, "/root"};
    if (name == "nobody" || name == "www-data")
      return cgihost::config::account{name, 65534, 65534, "/"};
    return std::nullopt;
  };
  auto r = cgihost::config::load_string(text, "fuzz.toml", "/nonexistent-fuzz-base", o);
  if (r.ok() == !r.errors.empty()) std::abort();
  for (const auto& d : r.errors)
    if (d.line == 0 || d.column == 0 || d.message.empty()) std::abort();
  return 0;
}
