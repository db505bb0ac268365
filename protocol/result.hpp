#pragma once
// A value or the std::error_code that says why there is none. protocol/ uses
// only the standard library, and g++ 12 has no std::expected in C++20 mode.

#include <cassert>
#include <system_error>
#include <utility>
#include <variant>

namespace cgihost::protocol {

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  result(std::error_code ec) : v_(ec) { assert(ec); }  // NOLINT: implicit by design
  template <class E>
  requires std::is_error_code_enum_v<E> result(E e)
      : result(make_error_code(e)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

}  // namespace cgihost::protocol
