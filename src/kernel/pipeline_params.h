// Internal to the pipeline's source files: reading control-plane and tool parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace oc::kernel::internal {

inline Error BadParam(std::string path, std::string message) {
  return MakeError(ErrorCode::kInvalidParams, path + ": " + message, json::object{{"path", path}});
}

// The string at `key`, "" when absent or not a string.
inline std::string Str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

inline std::optional<std::string> OptStr(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

inline int64_t IntOr(const json::object& o, std::string_view key, int64_t fallback) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : fallback;
}

// "agent:..." names a session; anything else is a conversation address.
inline bool IsSessionKey(std::string_view key) { return key.rfind("agent:", 0) == 0; }

}  // namespace oc::kernel::internal
