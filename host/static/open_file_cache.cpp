#include "host/static/open_file_cache.hpp"

#include <functional>
#include <system_error>
#include <utility>

namespace cgihost::host {
namespace {

// What a change of the file in place shows in its fstat.
bool same_file(const spawner::file_info& a, const spawner::file_info& b) {
  return a.what == b.what && a.size == b.size && a.modified == b.modified &&
         a.modified_nanoseconds == b.modified_nanoseconds && a.owner == b.owner &&
         a.group == b.group && a.mode == b.mode && a.security == b.security;
}

}  // namespace

open_file_cache::open_file_cache(clock::duration valid, std::size_t capacity)
    : valid_(valid), capacity_(capacity) {}

std::size_t open_file_cache::key_hash::operator()(const key_view& k) const noexcept {
  return std::hash<std::string_view>{}(k.relative) ^ std::hash<spawner::native_handle>{}(k.root);
}

std::shared_ptr<const open_file_cache::entry> open_file_cache::find(spawner::native_handle root,
                                                                    std::string_view relative) {
  std::shared_ptr<const entry> found;
  const auto now = clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = files_.find(key_view{root, relative});
    if (it == files_.end()) return nullptr;
    if (now - it->second.opened >= valid_) {
      files_.erase(it);
      return nullptr;
    }
    found = it->second.file;
  }
  std::error_code ec;
  auto st = spawner::info_of(found->fd.get(), ec);
  if (st && same_file(*st, found->st)) return found;
  std::lock_guard lock(mutex_);
  auto it = files_.find(key_view{root, relative});
  if (it != files_.end() && it->second.file == found) files_.erase(it);
  return nullptr;
}

void open_file_cache::put(spawner::native_handle root, std::string_view relative,
                          std::shared_ptr<const entry> e) {
  const auto now = clock::now();
  std::lock_guard lock(mutex_);
  if (files_.size() >= capacity_) {
    std::erase_if(files_, [&](const auto& kv) { return now - kv.second.opened >= valid_; });
    if (files_.size() >= capacity_) files_.clear();
  }
  files_.insert_or_assign(key{root, std::string(relative)}, slot{std::move(e), now});
}

std::size_t open_file_cache::size() const {
  std::lock_guard lock(mutex_);
  return files_.size();
}

}  // namespace cgihost::host
