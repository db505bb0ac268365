#include "host/router.hpp"

#include <algorithm>
#include <vector>

namespace cgihost::host {
namespace {

bool iends_with(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s = s.substr(s.size() - suffix.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto a = static_cast<unsigned char>(s[i]), b = static_cast<unsigned char>(suffix[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

// "*.EXT": the script is the first path segment ending in EXT, so that
// "/index.php/a/b" runs /index.php with PATH_INFO "/a/b" (RFC 3875 §4.1.5).
bool match_extension(std::string_view path, std::string_view ext, route& r) {
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    std::size_t seg_end = end == std::string_view::npos ? path.size() : end;
    std::string_view seg = path.substr(pos, seg_end - pos);
    if (seg.size() > ext.size() && iends_with(seg, ext)) {
      r.script_name = std::string(path.substr(0, seg_end));
      r.path_info = std::string(path.substr(seg_end));
      return true;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return false;
}

// "/cgi-bin/*": the script is the first segment after the prefix.
bool match_prefix(std::string_view path, std::string_view prefix, route& r) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  std::size_t end = path.find('/', prefix.size());
  r.script_name = std::string(path.substr(0, end));
  r.path_info = end == std::string_view::npos ? std::string() : std::string(path.substr(end));
  return true;
}

}  // namespace

route router::resolve(std::string_view path) const {
  route r;
  r.create_process_as_user = cfg_.cgi.create_process_as_user;
  r.cgi_timeout = cfg_.cgi.timeout;
  // Every location whose prefix matches applies, the shorter first, so a
  // deeper one inherits what it does not set itself (IIS <location> nesting).
  std::vector<const config::location*> matching;
  for (const auto& loc : cfg_.locations)
    if (path.substr(0, loc.prefix.size()) == loc.prefix) matching.push_back(&loc);
  std::stable_sort(matching.begin(), matching.end(),
                   [](auto* a, auto* b) { return a->prefix.size() < b->prefix.size(); });
  for (const auto* loc : matching) {
    if (loc->create_process_as_user) r.create_process_as_user = *loc->create_process_as_user;
    if (loc->timeout) r.cgi_timeout = *loc->timeout;
    r.location = loc;
  }
  for (const auto& h : cfg_.handlers) {
    bool hit = h.kind == config::handler::match_kind::extension ? match_extension(path, h.value, r)
                                                                 : match_prefix(path, h.value, r);
    if (hit) {
      r.handler = &h;
      r.module = h.module;
      return r;
    }
  }
  r.script_name = std::string(path);
  r.path_info.clear();
  r.module = config::module_kind::static_files;
  r.not_found = !cfg_.static_files.enabled;
  return r;
}

}  // namespace cgihost::host
