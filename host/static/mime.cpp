#include "host/static/mime.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace cgihost::host {

std::string_view mime_type(std::string_view name) noexcept {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 42> kTypes{{
      {"7z", "application/x-7z-compressed"},
      {"avif", "image/avif"},
      {"bmp", "image/bmp"},
      {"css", "text/css; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"gif", "image/gif"},
      {"gz", "application/gzip"},
      {"htm", "text/html; charset=utf-8"},
      {"html", "text/html; charset=utf-8"},
      {"ico", "image/vnd.microsoft.icon"},
      {"jpeg", "image/jpeg"},
      {"jpg", "image/jpeg"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"md", "text/markdown; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"mp3", "audio/mpeg"},
      {"mp4", "video/mp4"},
      {"oga", "audio/ogg"},
      {"ogg", "audio/ogg"},
      {"ogv", "video/ogg"},
      {"otf", "font/otf"},
      {"pdf", "application/pdf"},
      {"png", "image/png"},
      {"svg", "image/svg+xml"},
      {"tar", "application/x-tar"},
      {"tif", "image/tiff"},
      {"tiff", "image/tiff"},
      {"ttf", "font/ttf"},
      {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},
      {"wav", "audio/wav"},
      {"webm", "video/webm"},
      {"webmanifest", "application/manifest+json"},
      {"webp", "image/webp"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"xhtml", "application/xhtml+xml"},
      {"xml", "application/xml"},
      {"yaml", "application/yaml"},
      {"zip", "application/zip"},
  }};
  static_assert(std::is_sorted(kTypes.begin(), kTypes.end()));
  auto dot = name.rfind('.');
  auto slash = name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return "application/octet-stream";
  std::string_view ext = name.substr(dot + 1);
  char lower[16];
  if (ext.empty() || ext.size() > sizeof lower) return "application/octet-stream";
  for (std::size_t i = 0; i < ext.size(); ++i)
    lower[i] = (ext[i] >= 'A' && ext[i] <= 'Z') ? static_cast<char>(ext[i] - 'A' + 'a') : ext[i];
  std::string_view key(lower, ext.size());
  auto it = std::lower_bound(kTypes.begin(), kTypes.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  if (it != kTypes.end() && it->first == key) return it->second;
  return "application/octet-stream";
}

}  // namespace cgihost::host
