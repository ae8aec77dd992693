#pragma once
// Expected failures are values: Result<T> holds either a T or an Error.
// Matrix errors keep errcode, message, HTTP status and retry_after_ms.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tyr {

struct Error {
  std::string code;             // Matrix errcode (M_FORBIDDEN…) or a Tyr code (TYR_NETWORK…)
  std::string message;          // human-readable
  int status = 0;               // HTTP status; 0 when no response was received
  int64_t retry_after_ms = -1;  // from 429 answers; -1 when absent

  std::string to_string() const {
    std::string s = code.empty() ? std::string("error") : code;
    if (status != 0) s += " (HTTP " + std::to_string(status) + ")";
    if (!message.empty()) s += ": " + message;
    return s;
  }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)) {}  // NOLINT
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }

 private:
  std::optional<Error> err_;
};

}  // namespace tyr
