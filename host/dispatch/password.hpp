#pragma once
// What Basic authentication needs of the platform: a password checked
// against a users file's crypt(3) hash, and secrets wiped from memory.
// password.cpp for POSIX (libcrypt's crypt_r), password_windows.cpp for
// Windows, which has no crypt(3): there a users file is refused at load
// (config/load.cpp) and nothing reaches crypt_matches.

#include <cstddef>
#include <string>

namespace cgihost::host {

// Whether `password` hashes to `hash` (bcrypt, sha512-crypt, yescrypt, ...),
// compared in constant time over the hash's length.
bool crypt_matches(const std::string& password, const std::string& hash);

// Overwrites `n` bytes at `p` with zeros in a way the compiler keeps.
void wipe(void* p, std::size_t n) noexcept;

}  // namespace cgihost::host
