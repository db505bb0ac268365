// Any request headers: the environment never holds a variable name that
// could break execve or spoof another variable.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "protocol/cgi_env.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  cgihost::protocol::cgi::request_view r;
  r.method = "GET";
  r.target = "/";
  // "name:value\n" pairs.
  while (!in.empty()) {
    auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    auto colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon),
                           colon == std::string_view::npos ? "" : line.substr(colon + 1));
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  }
  auto vars = cgihost::protocol::cgi::build_env(r);
  for (const auto& [name, value] : vars) {
    if (name.empty() || name.find_first_of(std::string_view("=\0 \t\r\n", 6)) != std::string::npos)
      std::abort();
    if (name == "HTTP_PROXY" || name == "HTTP_AUTHORIZATION") std::abort();
    if (name.rfind("HTTP_", 0) == 0)
      for (char c : name)
        if (c >= 'a' && c <= 'z') std::abort();
  }
  return 0;
}
