#pragma once
// The logon password file (`[identity] logon_password_file`): the passwords
// of the accounts that log on with LogonUserW, each a DPAPI blob, never plain
// text. Written by `cgihost password`, read by the privileged spawner
// (account_token in identity.hpp).
//
// The format: UTF-8 text, one entry a line, `ACCOUNT:HEX` — the account's
// name as the config gives it (Windows names hold no ':'), then the
// CryptProtectData blob in hexadecimal (two digits a byte, either case).
// Blank lines and lines starting with '#' are ignored; a line may end in
// CRLF. A name is matched without regard to case, as Windows matches them;
// two entries for one name are an error.
//
// On Windows the blob is CryptProtectData of the password's UTF-8 bytes with
// CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN (the LocalSystem
// service decrypts what an administrator wrote) and the case-folded account
// name as the entropy, so a blob copied to another account's line does not
// decrypt. The file is owned by the Administrators and its protected DACL
// grants only SYSTEM and the Administrators: a machine-wide DPAPI blob
// decrypts for any process of the machine that can read the file, so a file
// that lets anyone else read it is refused (an ACE granting them a read
// right, or their owning it: an owner may change the DACL), as ssh refuses a
// private key others may read. As ssh does, the file's owner may be the
// account reading it.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cgihost::spawner {

struct password_entry {
  std::string account;              // as the config names it
  std::vector<unsigned char> blob;  // CryptProtectData's output
  bool operator==(const password_entry&) const = default;
};

// The entries of a password file's `text`; nullopt with `error` as
// "FILE:LINE:COL: message" (`file` as given, columns in bytes from 1) for
// the first line that is not an entry, a comment or blank.
std::optional<std::vector<password_entry>> parse_password_file(std::string_view text,
                                                               const std::string& file,
                                                               std::string& error);

// The text of a password file with these entries, in this order, after a
// comment that says what the file is.
std::string format_password_file(const std::vector<password_entry>& entries);

// Whether two account names are the same, ASCII letters compared without
// regard to case: what parse_password_file calls a second entry. (Windows
// code matches names by fold_account_name, which folds every letter.)
bool same_account_name(std::string_view a, std::string_view b);

#if defined(_WIN32)
// `name` case-folded (LCMapStringEx, invariant locale, lowercase): the
// DPAPI entropy of its blob, and what same_account_name compares.
std::string fold_account_name(const std::string& name);

// The file's entries, after checking that its DACL grants read access to no
// one but SYSTEM and the Administrators; an empty list when the file does
// not exist. nullopt with `error` (the file, and the account its DACL admits
// or the line that is wrong) otherwise.
std::optional<std::vector<password_entry>> read_password_file(const std::filesystem::path& file,
                                                              std::string& error);

// Replaces the file with these entries atomically (a temporary file beside
// it, then MoveFileExW with MOVEFILE_REPLACE_EXISTING), created with a
// protected DACL granting full access to SYSTEM and the Administrators only.
// False with `error` on failure (the file is then as it was).
bool write_password_file(const std::filesystem::path& file,
                         const std::vector<password_entry>& entries, std::string& error);

// `password` protected for `account` (see above); nullopt with `error`.
std::optional<std::vector<unsigned char>> protect_password(const std::string& account,
                                                           const std::string& password,
                                                           std::string& error);

// The password in `blob` for `account`, in `password` (the caller wipes it:
// wipe_secret); false with `error` when DPAPI refuses it (another account's
// blob, another machine's, a damaged one).
bool unprotect_password(const std::string& account, const std::vector<unsigned char>& blob,
                        std::string& password, std::string& error);

// Overwrites a secret's bytes (SecureZeroMemory: not optimized away) and
// empties it.
void wipe_secret(std::string& secret);
#endif

}  // namespace cgihost::spawner
