#pragma once
// Recoverable errors are values. Exceptions are used only for fatal startup errors.

#include <optional>
#include <string>
#include <utility>

namespace sockstate {

/// Success, or an error message with context ("netlink: recvmsg: Interrupted system call").
/// Value type; not synchronized.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  /// Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }
  /// Returns a copy with "context: " prepended to the message (no-op when ok).
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Error(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

/// A value or an error Status. Value type; not synchronized.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}       // NOLINT
  Result(Status error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return error_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status error_;
};

}  // namespace sockstate
