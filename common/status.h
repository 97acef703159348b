// Status and StatusOr<T>: the error type returned by everything that can fail
// because of the world (peers, network, disk, user input).
//
// A Status is either OK or carries a code and a message written for the user:
// it names the file, line, node or peer involved and says what to do.
// Programmer errors are CHECKs, never Statuses.
//
// Thread-safety: values; safe to copy between threads.
#ifndef IAK_COMMON_STATUS_H_
#define IAK_COMMON_STATUS_H_

#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include <glog/logging.h>

namespace iak {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad user input: flag, spec, malformed line
  kNotFound,          // a file, key, node that should exist does not
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state to do this
  kDataLoss,          // truncated or corrupted file or message
  kDeadlineExceeded,  // a wait ran past its deadline
  kUnavailable,       // a peer is down or unreachable; retrying may help
  kCancelled,         // the operation was stopped (shutdown, Ctrl-C)
  kInternal,
  kIoError,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "INVALID_ARGUMENT: ratings.csv:12: expected 4 columns, found 3".
  std::string ToString() const;

  // Returns a copy whose message is "context: message" (no-op when OK).
  Status WithContext(const std::string& context) const;

  // Marks an intentionally ignored status.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

inline Status InvalidArgumentError(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFoundError(std::string m) {
  return Status(StatusCode::kNotFound, std::move(m));
}
inline Status FailedPreconditionError(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status DataLossError(std::string m) {
  return Status(StatusCode::kDataLoss, std::move(m));
}
inline Status DeadlineExceededError(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status UnavailableError(std::string m) {
  return Status(StatusCode::kUnavailable, std::move(m));
}
inline Status CancelledError(std::string m) {
  return Status(StatusCode::kCancelled, std::move(m));
}
inline Status InternalError(std::string m) {
  return Status(StatusCode::kInternal, std::move(m));
}
inline Status IoError(std::string m) {
  return Status(StatusCode::kIoError, std::move(m));
}

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit by design
    CHECK(!status_.ok()) << "StatusOr built from an OK status without a value";
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  const T& value() const& {
    CHECK(ok()) << status_;
    return *value_;
  }
  T& value() & {
    CHECK(ok()) << status_;
    return *value_;
  }
  T&& value() && {
    CHECK(ok()) << status_;
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace iak

#define IAK_STATUS_CONCAT_INNER(a, b) a##b
#define IAK_STATUS_CONCAT(a, b) IAK_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define IAK_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::iak::Status iak_status_ = (expr);        \
    if (!iak_status_.ok()) return iak_status_; \
  } while (0)

// `IAK_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value or returns the
// error of a StatusOr expression.
#define IAK_ASSIGN_OR_RETURN(lhs, expr) \
  IAK_ASSIGN_OR_RETURN_IMPL(IAK_STATUS_CONCAT(iak_statusor_, __LINE__), lhs, expr)
#define IAK_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // IAK_COMMON_STATUS_H_
