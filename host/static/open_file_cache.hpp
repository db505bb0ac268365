#pragma once
// The files static requests opened lately, kept open with what they are
// (nginx's open_file_cache): a request for the same path beneath the same
// root reuses the descriptor instead of opening the file again, for at most
// `valid` after it was opened (beneath the root, as look_up_static opens).
// Each reuse looks at the open file again (one fstat): a file changed in
// place (size, modification time, owner, group, mode) is opened afresh, so
// its validators and the account's read check always judge the file as it
// is now, and its bytes are read from it. What the descriptor cannot tell —
// the name now leading elsewhere (the file removed, renamed over, a folder
// on the way replaced) — is seen at most `valid` late. Shared by the io
// threads.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "spawner/files.hpp"

namespace cgihost::host {

class open_file_cache {
 public:
  using clock = std::chrono::steady_clock;

  // An open file and what a response says of it, computed once.
  struct entry {
    spawner::unique_fd fd;
    spawner::file_info st;
    std::string etag;
    std::string last_modified;
  };

  // Keeps at most `capacity` files, each for at most `valid` after it was opened.
  open_file_cache(clock::duration valid, std::size_t capacity);

  // The file kept for `relative` beneath the folder `root`, when it was
  // opened less than `valid` ago and has not changed since; else nullptr
  // (a changed or expired one is dropped).
  std::shared_ptr<const entry> find(spawner::native_handle root, std::string_view relative);

  // Keeps `e` for `relative` beneath `root` (replacing what was kept for it).
  void put(spawner::native_handle root, std::string_view relative, std::shared_ptr<const entry> e);

  std::size_t size() const;

 private:
  struct key {
    spawner::native_handle root;
    std::string relative;
  };
  struct key_view {
    spawner::native_handle root;
    std::string_view relative;
  };
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(const key_view& k) const noexcept;
    std::size_t operator()(const key& k) const noexcept {
      return (*this)(key_view{k.root, k.relative});
    }
  };
  struct key_equal {
    using is_transparent = void;
    static key_view view(const key& k) { return {k.root, k.relative}; }
    static key_view view(const key_view& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return view(a).root == view(b).root && view(a).relative == view(b).relative;
    }
  };
  struct slot {
    std::shared_ptr<const entry> file;
    clock::time_point opened;
  };

  const clock::duration valid_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<key, slot, key_hash, key_equal> files_;
};

}  // namespace cgihost::host
