#include "spawner/windows_names.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace cgihost::spawner {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Win32 turns these names into devices in every folder, whatever follows
// the first dot and with spaces before it ("nul .txt"): CON, PRN, AUX, NUL,
// COM and LPT with a digit or a superscript 1-3, CONIN$ and CONOUT$.
bool is_device_name(std::string_view component) {
  std::string_view base = component.substr(0, component.find('.'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  static constexpr std::array<std::string_view, 6> plain = {"CON", "PRN",    "AUX",
                                                            "NUL", "CONIN$", "CONOUT$"};
  for (auto name : plain)
    if (iequal(base, name)) return true;
  if (base.size() < 4) return false;
  const std::string_view head = base.substr(0, 3), tail = base.substr(3);
  if (!iequal(head, "COM") && !iequal(head, "LPT")) return false;
  if (tail.size() == 1) return tail[0] >= '0' && tail[0] <= '9';
  // ¹ ² ³ in UTF-8 (U+00B9, U+00B2, U+00B3).
  return tail == "\xC2\xB9" || tail == "\xC2\xB2" || tail == "\xC2\xB3";
}

}  // namespace

std::optional<std::string_view> windows_name_refusal(std::string_view component) {
  if (component.empty() || component == ".") return std::nullopt;
  if (component == "..") return "the parent folder (\"..\")";
  for (char c : component) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') return "a backslash (a separator on Windows)";
    if (c == ':') return "a ':' (an alternate data stream or a drive)";
    if (c == '*' || c == '?' || c == '<' || c == '>' || c == '"') return "a wildcard (* ? < > \")";
    if (c == '|') return "a '|'";
    if (u < 0x20 || u == 0x7f) return "a control character";
  }
  if (component.back() == '.' || component.back() == ' ')
    return "a trailing dot or space (Windows drops them: another file's name)";
  if (is_device_name(component)) return "a device name (CON, NUL, COM1, ... in any folder)";
  return std::nullopt;
}

bool may_be_short_name(std::string_view component) {
  const auto tilde = component.find('~');
  if (tilde == std::string_view::npos) return false;
  const auto dot = component.find('.');
  const std::string_view base = component.substr(0, dot);
  if (base.empty() || base.size() > 8 || tilde >= base.size()) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view ext = component.substr(dot + 1);
  return !ext.empty() && ext.size() <= 3 && ext.find('.') == std::string_view::npos &&
         ext.find('~') == std::string_view::npos;
}

std::optional<std::string> windows_path_refusal(std::string_view relative) {
  if (!relative.empty() && (relative.front() == '/' || relative.front() == '\\'))
    return std::string(relative) + ": an absolute path";
  while (true) {
    const auto slash = relative.find('/');
    const std::string_view component = relative.substr(0, slash);
    if (auto why = windows_name_refusal(component))
      return std::string(component) + ": " + std::string(*why);
    if (slash == std::string_view::npos) return std::nullopt;
    relative.remove_prefix(slash + 1);
  }
}

namespace {

// Adds the `separator`-separated components of `text` to `out`; ".." climbs
// when `may_climb` and there is a component to climb from, else escapes.
void add_components(std::string_view text, char separator, bool may_climb, beneath_path& out) {
  while (true) {
    const auto cut = text.find(separator);
    const std::string_view part = text.substr(0, cut);
    if (part == "..") {
      if (!may_climb || out.parts.empty())
        out.escapes = true;
      else
        out.parts.pop_back();
    } else if (!part.empty() && part != ".") {
      if (windows_name_refusal(part) || part.find('/') != std::string_view::npos)
        out.refused = true;
      out.parts.emplace_back(part);
    }
    if (cut == std::string_view::npos) break;
    text.remove_prefix(cut + 1);
  }
}

}  // namespace

beneath_path split_beneath(std::string_view relative) {
  beneath_path out;
  if (relative.empty()) {
    out.refused = true;  // as openat2 with "": ENOENT
    return out;
  }
  if (relative.front() == '/' || relative.front() == '\\') {
    out.escapes = true;
    return out;
  }
  add_components(relative, '/', false, out);
  out.folder = relative.back() == '/';
  return out;
}

beneath_path splice_link(const beneath_path& path, std::size_t link_at, std::string_view target) {
  beneath_path out;
  out.folder = path.folder;
  if (target.empty() || target.front() == '\\' || target.front() == '/') {
    out.escapes = true;
    return out;
  }
  const std::size_t before = std::min(link_at, path.parts.size());
  out.parts.assign(path.parts.begin(), path.parts.begin() + static_cast<std::ptrdiff_t>(before));
  add_components(target, '\\', true, out);
  for (std::size_t i = before + 1; i < path.parts.size(); ++i) out.parts.push_back(path.parts[i]);
  return out;
}

}  // namespace cgihost::spawner
