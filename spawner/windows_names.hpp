#pragma once
// The names Windows would not take at their word: the rules of the
// classic IIS source-disclosure attacks, as one pure function, so that they
// are tested on every platform (the Windows files beneath a root apply them
// to every path component before they open anything).
//
// Windows (Win32's path rules and NTFS) gives some names a meaning of their
// own: `index.php::$DATA` is the file's data stream, `index.php.` and
// `index.php ` are `index.php` (Win32 drops trailing dots and spaces), `CON`,
// `nul.txt` and `COM1.php` are devices in any folder, `a\b` has a separator
// the URL did not show, `PROGRA~1` may be another file's 8.3 short name. A
// handler chosen by such a name would serve a script's source as a file.
//
// Case: NTFS is case-insensitive, and cgihost serves `/INDEX.PHP` for
// index.php as IIS does. The file's real name (path_below) is what a handler
// must be chosen by; open_beneath_noting_symlinks reports a name that differs
// from the one asked for (case included) as `via_symlink`, so that the static
// handler judges the real name.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgihost::spawner {

// Why Windows would not open exactly the file the one path component
// `component` names (no '/' in it): a backslash, a ':' (an alternate data
// stream, a drive), a wildcard or a control character, a trailing dot or
// space, "..", or a device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with
// any extension); nullopt for a plain name. "" and "." are plain (they add
// nothing to a path).
std::optional<std::string_view> windows_name_refusal(std::string_view component);

// Whether `component` has the shape of an 8.3 short name with a '~'
// ("PROGRA~1", "INDEX~1.PHP"; Wine's "LONG~DBZ.PHP"): then only the file
// system can tell whether it is another file's short name, and the opener
// compares the name the file system reports.
bool may_be_short_name(std::string_view component);

// windows_name_refusal of every component of the relative path `relative`
// ('/'-separated): nullopt, or "COMPONENT: reason" for the first refused one.
// An absolute path ("/a", "C:/a", "//host/share") is refused too.
std::optional<std::string> windows_path_refusal(std::string_view relative);

// A relative path beneath a root as the names the Windows walk opens one by
// one (spawner/windows/files.cpp).
struct beneath_path {
  std::vector<std::string> parts;  // never "", "." or ".."
  bool folder = false;             // it ended in '/': a folder is asked for
  bool escapes = false;            // absolute, or ".." (a request's own are refused outright; a
                                   // link's may climb, but never above the root)
  bool refused = false;            // a name windows_name_refusal refuses (or "" as the whole path)
};

// The components of a request's relative path ('/'-separated).
beneath_path split_beneath(std::string_view relative);

// Where a relative symbolic link leads: the components of `path` before the
// link (its component `link_at`), the link's `target` as Windows stores it
// ('\'-separated; one starting with '\' is relative to the drive's root
// and escapes), then the components after the link.
beneath_path splice_link(const beneath_path& path, std::size_t link_at, std::string_view target);

}  // namespace cgihost::spawner
