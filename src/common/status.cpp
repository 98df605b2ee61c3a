#include "common/status.h"

#include <array>

namespace oc {
namespace {
constexpr std::array<std::string_view, 14> kNames = {
    "UNKNOWN_ERROR",      "INVALID_REQUEST", "METHOD_NOT_FOUND",  "INVALID_PARAMS",
    "INTERNAL_ERROR",     "UNAUTHORIZED",    "FORBIDDEN",         "NOT_FOUND",
    "CONFLICT",           "TIMEOUT",         "APP_NOT_REGISTERED", "CAPABILITY_DENIED",
    "HOOK_NOT_SUBSCRIBED", "CONNECTION_CLOSED",
};
}  // namespace

std::string_view ErrorCodeName(ErrorCode code) { return kNames[static_cast<size_t>(code)]; }

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  return std::nullopt;
}

boost::json::value Error::ToJson() const {
  boost::json::object o;
  o["code"] = ErrorCodeName(code);
  o["message"] = message;
  if (!data.is_null()) o["data"] = data;
  return o;
}

Error Error::FromJson(const boost::json::value& v) {
  Error e;
  const auto* o = v.if_object();
  if (!o) {
    e.message = "malformed error";
    return e;
  }
  if (auto* c = o->if_contains("code"); c && c->is_string())
    e.code = ErrorCodeFromName(c->get_string()).value_or(ErrorCode::kUnknownError);
  if (auto* m = o->if_contains("message"); m && m->is_string()) e.message = m->get_string();
  if (auto* d = o->if_contains("data")) e.data = *d;
  return e;
}

Error MakeError(ErrorCode code, std::string message) { return Error{code, std::move(message), nullptr}; }
Error MakeError(ErrorCode code, std::string message, boost::json::value data) {
  return Error{code, std::move(message), std::move(data)};
}

}  // namespace oc
