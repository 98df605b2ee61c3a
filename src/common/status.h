// Errors are values. Every subsystem boundary returns Status or Result<T>; the code is one of the
// protocol's error codes (SPEC §4) so an error can cross the wire unchanged.
#pragma once

#include <boost/json/value.hpp>

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace oc {

enum class ErrorCode {
  kUnknownError,
  kInvalidRequest,
  kMethodNotFound,
  kInvalidParams,
  kInternalError,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kConflict,
  kTimeout,
  kAppNotRegistered,
  kCapabilityDenied,
  kHookNotSubscribed,
  kConnectionClosed,
};

// "INVALID_REQUEST" etc., exactly as on the wire.
std::string_view ErrorCodeName(ErrorCode code);
// Unknown names map to nullopt; callers usually fall back to kUnknownError.
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name);

struct Error {
  ErrorCode code = ErrorCode::kUnknownError;
  std::string message;
  boost::json::value data;  // null when absent; e.g. {"path": "params.events[0]"}

  // {code, message, data?} as in a response frame.
  boost::json::value ToJson() const;
  static Error FromJson(const boost::json::value& v);
};

Error MakeError(ErrorCode code, std::string message);
Error MakeError(ErrorCode code, std::string message, boost::json::value data);

// Success or an Error. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(error_);
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

// A value or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  // Anything convertible to T (e.g. json::object for Result<json::value>), in one step.
  template <class U, class = std::enable_if_t<std::is_convertible_v<U&&, T> &&
                                              !std::is_same_v<std::decay_t<U>, T> &&
                                              !std::is_same_v<std::decay_t<U>, Error> &&
                                              !std::is_same_v<std::decay_t<U>, Status>>>
  Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT
  Result(Status s) : v_(std::in_place_index<1>, s.error()) { assert(!s.ok()); }  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace oc

// Propagate an error in one line: OC_TRY(status_expr) or OC_ASSIGN(auto x, result_expr).
#define OC_CONCAT_INNER(a, b) a##b
#define OC_CONCAT(a, b) OC_CONCAT_INNER(a, b)
#define OC_TRY(expr)                         \
  do {                                       \
    auto oc_try_status_ = (expr);            \
    if (!oc_try_status_.ok()) return oc_try_status_.error(); \
  } while (0)
#define OC_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                   \
  if (!tmp.ok()) return tmp.error();   \
  lhs = std::move(tmp).value()
#define OC_ASSIGN(lhs, expr) OC_ASSIGN_IMPL(OC_CONCAT(oc_result_, __LINE__), lhs, expr)
