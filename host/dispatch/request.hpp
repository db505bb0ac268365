#pragma once
// The request as the dispatch and the modules see it, whichever front built
// it: the HTTP session from Beast's parser, `cgihost try` from its command
// line, a FastCGI listener from PARAMS. No Beast here: the front owns the
// bytes, and the views below stay valid until the exchange ends.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/text.hpp"

namespace cgihost::host {

// Header fields in the order received, names as sent; lookups ignore case.
class header_list {
 public:
  using field = std::pair<std::string_view, std::string_view>;

  void reserve(std::size_t n) { fields_.reserve(n); }
  void add(std::string_view name, std::string_view value) { fields_.emplace_back(name, value); }
  // Removes every field named `name`.
  void erase(std::string_view name) {
    std::erase_if(fields_, [&](const field& f) { return protocol::iequals(f.first, name); });
  }
  // The first field named `name`, or nullopt.
  std::optional<std::string_view> find(std::string_view name) const {
    for (const auto& f : fields_)
      if (protocol::iequals(f.first, name)) return f.second;
    return std::nullopt;
  }
  // The first field's value, or "" when there is none.
  std::string_view operator[](std::string_view name) const { return find(name).value_or(""); }
  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& f : fields_) n += protocol::iequals(f.first, name) ? 1 : 0;
    return n;
  }
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }
  std::size_t size() const { return fields_.size(); }

 private:
  std::vector<field> fields_;
};

// The request line and fields.
struct request_head {
  std::string_view method;  // as sent: "GET", "PROPFIND"
  std::string_view target;  // the request-target as sent: "/a/b.php?x=1"
  unsigned version = 11;    // 10 or 11 (HTTP/1.0, HTTP/1.1)
  header_list fields;

  bool is(std::string_view m) const { return method == m; }  // methods are case-sensitive
  bool is_head() const { return method == "HEAD"; }
};

}  // namespace cgihost::host
