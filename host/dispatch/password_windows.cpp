// host/dispatch/password.hpp on Windows: no crypt(3). config/load.cpp refuses
// [authentication] users_file there, so no hash ever reaches crypt_matches;
// should one, it matches nothing.
#include <windows.h>

#include "host/dispatch/password.hpp"

namespace cgihost::host {

bool crypt_matches(const std::string&, const std::string&) { return false; }

void wipe(void* p, std::size_t n) noexcept { SecureZeroMemory(p, n); }

}  // namespace cgihost::host
