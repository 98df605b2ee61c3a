// The IPC method table (SPEC §4.2, §4.3), declared once. The kernel's dispatcher, parameter
// validation, the C++ SDK and the tests all read this table, so names and shapes cannot drift.
#pragma once

#include <span>
#include <string_view>

#include "common/json.h"

namespace oc::protocol {

enum class Direction { kAppToKernel, kKernelToApp };

struct MethodSpec {
  std::string_view name;
  Direction direction;
  // JSON Schema (subset, see common/json_schema.h) for `params`, as JSON text.
  std::string_view params_schema;
  // False only for app.register: everything else needs a registered connection.
  bool requires_registration;
};

std::span<const MethodSpec> AllMethods();
// Finds a method by name and direction; nullptr when unknown.
const MethodSpec* FindMethod(std::string_view name, Direction direction);

// Validates params against the method's schema. Error: INVALID_PARAMS with data.path such as
// "params.events[0]".
Status ValidateParams(const MethodSpec& spec, const json::value& params);

// Events the kernel sends (besides "hook:<name>").
inline constexpr std::string_view kEventConfigChanged = "config:changed";
inline constexpr std::string_view kEventAppShutdown = "app:shutdown";
inline constexpr std::string_view kHookEventPrefix = "hook:";

// capability.register types.
inline constexpr std::string_view kCapabilityTypes[] = {"channel", "tool", "hook",
                                                       "gateway_method", "http_route", "provider"};

}  // namespace oc::protocol
