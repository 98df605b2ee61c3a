#include "hooks/intercept_answer.h"

namespace oc::hooks {
namespace {

InterceptAnswer Invalid(std::string why) {
  return {InterceptAnswer::Action::kInvalid, nullptr, std::move(why)};
}

InterceptAnswer Modify(const json::value& data, const json::value& original) {
  Status valid = ValidateModifiedData(data, original);
  if (!valid.ok()) return Invalid(valid.error().message);
  return {InterceptAnswer::Action::kModify, data, {}};
}

}  // namespace

Status ValidateModifiedData(const json::value& modified, const json::value& original) {
  if (!modified.is_object())
    return MakeError(ErrorCode::kInvalidParams,
                     "modified data must be an object, got " + std::string(JsonTypeName(modified)));
  if (!original.is_object()) return Status::Ok();
  const json::object& now = modified.get_object();
  for (const auto& [key, before] : original.get_object()) {
    auto it = now.find(key);
    if (it == now.end()) continue;  // absent fields are kept as they are (shallow merge)
    if (JsonTypeName(it->value()) != JsonTypeName(before))
      return MakeError(ErrorCode::kInvalidParams,
                       "field " + std::string(key) + " changed from " + std::string(JsonTypeName(before)) +
                           " to " + std::string(JsonTypeName(it->value())));
  }
  return Status::Ok();
}

InterceptAnswer InterpretInterceptAnswer(const json::value& result, const json::value& original) {
  if (result.is_null()) return {InterceptAnswer::Action::kBlock, nullptr, {}};
  if (!result.is_object())
    return Invalid("result must be an object or null, got " + std::string(JsonTypeName(result)));
  const json::object& answer = result.get_object();
  const json::value* action_value = answer.if_contains("action");
  if (action_value == nullptr) return Modify(result, original);  // shorthand: the data itself
  if (!action_value->is_string()) return Invalid("action must be a string");
  std::string_view action = action_value->get_string();
  if (action == "continue") return {};
  if (action == "block") {
    auto reason = GetString(answer, "reason");
    return {InterceptAnswer::Action::kBlock, nullptr, std::string(reason.value_or(""))};
  }
  if (action == "modify") {
    const json::value* data = answer.if_contains("data");
    if (data == nullptr) return Invalid("modify without data");
    return Modify(*data, original);
  }
  return Invalid("unknown action: " + std::string(action));
}

}  // namespace oc::hooks
