// Internal to the pipeline's source files: reading control-plane and tool parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <vector>

#include "agent/agent.h"
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

// A kernel tool's spec: an object schema with these properties and required names.
inline agent::ToolSpec ToolSpecOf(std::string name, std::string description, json::object properties,
                                  std::vector<std::string_view> required = {}) {
  json::array req;
  for (auto r : required) req.emplace_back(r);
  json::object schema{{"type", "object"}, {"properties", std::move(properties)}};
  if (!req.empty()) schema["required"] = std::move(req);
  return agent::ToolSpec{std::move(name), std::move(description), std::move(schema)};
}

// One property of a tool's input schema.
inline json::object Prop(std::string_view type, std::string_view description) {
  return json::object{{"type", type}, {"description", description}};
}

// "agent:..." names a session; anything else is a conversation address.
inline bool IsSessionKey(std::string_view key) { return key.rfind("agent:", 0) == 0; }

}  // namespace oc::kernel::internal
