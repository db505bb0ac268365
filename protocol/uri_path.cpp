#include "protocol/uri_path.hpp"

#include <vector>

namespace cgihost::protocol {
namespace {

class path_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cgihost.path"; }
  std::string message(int ev) const override {
    switch (static_cast<path_error>(ev)) {
      case path_error::not_origin_form:
        return "request target is not a path";
      case path_error::bad_percent_encoding:
        return "malformed percent-encoding in path";
      case path_error::encoded_nul:
        return "encoded NUL in path";
      case path_error::encoded_slash:
        return "encoded slash in a path segment";
      case path_error::backslash:
        return "backslash in path";
      case path_error::control_character:
        return "control character in path";
      case path_error::escapes_root:
        return "path climbs above the document root";
      case path_error::fragment:
        return "fragment in request target";
    }
    return "unknown path error";
  }
};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strips "scheme://authority" from an absolute-form target (RFC 9112 §3.2.2).
bool strip_absolute_form(std::string_view& target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size()) {
      bool same = true;
      for (std::size_t i = 0; i < scheme.size(); ++i) {
        char c = target[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i]) {
          same = false;
          break;
        }
      }
      if (same) {
        target.remove_prefix(scheme.size());
        auto slash = target.find_first_of("/?");
        if (slash == std::string_view::npos) {
          target = "/";
        } else if (target[slash] == '?') {
          return false;  // "http://host?q" has no path; refuse rather than guess
        } else {
          target.remove_prefix(slash);
        }
        return true;
      }
    }
  }
  return true;
}

}  // namespace

const std::error_category& path_category() noexcept {
  static const path_category_impl instance;
  return instance;
}

result<normalized_target> normalize_target(std::string_view target) {
  if (!strip_absolute_form(target)) return path_error::not_origin_form;
  if (target.empty() || target.front() != '/') return path_error::not_origin_form;
  if (target.find('#') != std::string_view::npos) return path_error::fragment;

  normalized_target out;
  std::string_view raw_path = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    raw_path = target.substr(0, q);
    out.query.assign(target.substr(q + 1));
    out.has_query = true;
  }

  std::vector<std::string> segments;
  bool trailing_slash = false;
  std::size_t pos = 1;  // skip the leading '/'
  while (true) {
    std::size_t end = raw_path.find('/', pos);
    bool last = end == std::string_view::npos;
    std::string_view raw = raw_path.substr(pos, last ? std::string_view::npos : end - pos);

    std::string seg;
    seg.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      bool encoded = false;
      if (c == '%') {
        if (i + 2 >= raw.size()) return path_error::bad_percent_encoding;
        int hi = hex_value(raw[i + 1]);
        int lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0) return path_error::bad_percent_encoding;
        c = static_cast<char>(hi * 16 + lo);
        encoded = true;
        i += 2;
      }
      auto u = static_cast<unsigned char>(c);
      if (u == 0) return encoded ? path_error::encoded_nul : path_error::control_character;
      if (c == '/' && encoded) return path_error::encoded_slash;
      if (c == '\\') return path_error::backslash;
      if (u < 0x20 || u == 0x7f) return path_error::control_character;
      seg.push_back(c);
    }

    if (seg.empty() || seg == ".") {
      trailing_slash = last;  // "/a/" and "/a/." both name the folder "a"
    } else if (seg == "..") {
      if (segments.empty()) return path_error::escapes_root;
      segments.pop_back();
      trailing_slash = last;
    } else {
      segments.push_back(std::move(seg));
      trailing_slash = false;
    }
    if (last) break;
    pos = end + 1;
  }

  out.path = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i) out.path.push_back('/');
    out.path += segments[i];
  }
  if (trailing_slash && !segments.empty()) out.path.push_back('/');
  return out;
}

}  // namespace cgihost::protocol
