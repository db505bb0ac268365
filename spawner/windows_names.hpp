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

#include <optional>
#include <string>
#include <string_view>

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

}  // namespace cgihost::spawner
