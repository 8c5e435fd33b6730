#pragma once
// Errors are values: every fallible function returns Status or Result<T>. Exceptions never
// cross a part boundary; asserts are for programmer errors only.

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace tideline {

// Serialized nowhere; values may change.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from a user: flags, config, query text, data
  kNotFound,
  kAlreadyExists,
  kIoError,
  kCorruption,  // stored or wire data that cannot be decoded
  kParseError,
  kTypeError,
  kUnavailable,  // a remote service is down or unreachable
  kTimeout,      // a bounded wait (network connect/read/write, a request) ran out of time
  kCancelled,    // stopped by a signal or a caller
  kUnimplemented,
  kInternal,
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message"
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Status>;

inline std::unexpected<Status> error(StatusCode code, std::string message) {
  return std::unexpected<Status>(Status(code, std::move(message)));
}
inline std::unexpected<Status> error(Status s) {
  return std::unexpected<Status>(std::move(s));
}

inline Status invalid_argument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status io_error(std::string m) {
  return {StatusCode::kIoError, std::move(m)};
}
inline Status corruption(std::string m) {
  return {StatusCode::kCorruption, std::move(m)};
}
inline Status not_found(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status internal_error(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}
inline Status unimplemented(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}
inline Status unavailable(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}

namespace detail {
// Converts to Status and to any Result<T>, so the macros below work in functions returning
// either.
struct ErrorReturn {
  Status status;
  operator Status() const { return status; }  // NOLINT(google-explicit-constructor)
  template <typename T>
  operator std::expected<T, Status>() const {  // NOLINT(google-explicit-constructor)
    return std::unexpected<Status>(status);
  }
};
inline Status to_status(Status s) {
  return s;
}
template <typename T>
Status to_status(const Result<T>& r) {
  return r ? Status() : r.error();
}
}  // namespace detail

}  // namespace tideline

#define TL_CONCAT_INNER(a, b) a##b
#define TL_CONCAT(a, b) TL_CONCAT_INNER(a, b)

// Returns the error of a Status/Result expression from the enclosing function (which returns
// Status or Result<U>).
#define TL_RETURN_IF_ERROR(expr)                                                         \
  do {                                                                                   \
    ::tideline::Status tl_status_ = ::tideline::detail::to_status((expr));               \
    if (!tl_status_.ok()) return ::tideline::detail::ErrorReturn{std::move(tl_status_)}; \
  } while (0)

// Same, for functions returning plain Status.
#define TL_RETURN_STATUS_IF_ERROR(expr)                                    \
  do {                                                                     \
    ::tideline::Status tl_status_ = ::tideline::detail::to_status((expr)); \
    if (!tl_status_.ok()) return tl_status_;                               \
  } while (0)

// `TL_ASSIGN_OR_RETURN(auto x, make_x());` inside a function returning Status or Result<U>.
#define TL_ASSIGN_OR_RETURN(lhs, expr) \
  TL_ASSIGN_OR_RETURN_IMPL(TL_CONCAT(tl_result_, __LINE__), lhs, expr)
#define TL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                            \
  auto tmp = (expr);                                                        \
  if (!tmp) return ::tideline::detail::ErrorReturn{std::move(tmp).error()}; \
  lhs = std::move(*tmp)

// TL_ASSIGN_OR_RETURN for functions that return plain Status.
#define TL_ASSIGN_OR_RETURN_S(lhs, expr) \
  TL_ASSIGN_OR_RETURN_S_IMPL(TL_CONCAT(tl_result_s_, __LINE__), lhs, expr)
#define TL_ASSIGN_OR_RETURN_S_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp) return std::move(tmp).error();         \
  lhs = std::move(*tmp)
