#pragma once
#include <string_view>

namespace cgihost::host {

// The Content-Type for a file name, from its extension (case-insensitive);
// "application/octet-stream" when the extension is unknown.
std::string_view mime_type(std::string_view file_name) noexcept;

}  // namespace cgihost::host
