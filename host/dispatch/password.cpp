#include "host/dispatch/password.hpp"

#include <crypt.h>
#include <string.h>

#include <cstring>
#include <memory>

namespace cgihost::host {

bool crypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
  bool same = false;
  if (out != nullptr && out[0] != '*') {
    // Constant time over the hash's length: no early exit on the first difference.
    std::size_t n = std::strlen(out);
    unsigned char diff = n == hash.size() ? 0 : 1;
    for (std::size_t i = 0; i < hash.size(); ++i)
      diff |= static_cast<unsigned char>(hash[i] ^ (i < n ? out[i] : 0));
    same = diff == 0;
  }
  wipe(data.get(), sizeof(crypt_data));
  return same;
}

void wipe(void* p, std::size_t n) noexcept { ::explicit_bzero(p, n); }

}  // namespace cgihost::host
