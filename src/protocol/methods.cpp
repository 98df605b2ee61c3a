#include "protocol/methods.h"

#include <vector>

#include "common/json_schema.h"

namespace oc::protocol {
namespace {

constexpr MethodSpec kMethods[] = {
    // app → kernel
    {"app.register", Direction::kAppToKernel,
     R"({"type":"object","required":["manifest"],"properties":{
          "manifest":{"type":"object"},"spawnToken":{"type":"string"},"resumeToken":{"type":"string"}}})",
     false},
    {"app.heartbeat", Direction::kAppToKernel,
     R"({"type":"object","properties":{"status":{"type":["string","object","null"]}}})", true},
    {"app.ready", Direction::kAppToKernel,
     R"({"type":"object","properties":{"metadata":{"type":["object","null"]}}})", true},
    {"app.shutdown", Direction::kAppToKernel,
     R"({"type":"object","properties":{"reason":{"type":"string"},"timeout":{"type":"integer","minimum":0}}})",
     true},
    {"capability.register", Direction::kAppToKernel,
     R"({"type":"object","required":["type","config"],"properties":{
          "type":{"enum":["channel","tool","hook","gateway_method","http_route","provider"]},
          "config":{"type":"object"}}})",
     true},
    {"capability.unregister", Direction::kAppToKernel,
     R"({"type":"object","required":["capabilityId"],"properties":{"capabilityId":{"type":"string"}}})",
     true},
    {"hook.subscribe", Direction::kAppToKernel,
     R"({"type":"object","required":["events"],"properties":{
          "events":{"type":"array","items":{"type":"string","minLength":1}}}})",
     true},
    {"hook.unsubscribe", Direction::kAppToKernel,
     R"({"type":"object","required":["events"],"properties":{
          "events":{"type":"array","items":{"type":"string","minLength":1}}}})",
     true},
    {"hook.result", Direction::kAppToKernel,
     R"({"type":"object","required":["eventId","result"],"properties":{"eventId":{"type":"string"}}})",
     true},
    {"config.get", Direction::kAppToKernel,
     R"({"type":"object","properties":{"path":{"type":"string"}}})", true},
    {"config.watch", Direction::kAppToKernel,
     R"({"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"}}}})", true},
    {"stream.cancel", Direction::kAppToKernel,
     R"({"type":"object","required":["requestId"],"properties":{"requestId":{"type":"string"}}})", true},
    // The message pipeline (SPEC §4.2, §4.4). A session key is a conversation address
    // "<channel>:<conversation>" or a session's own key ("agent:<agentId>:...").
    {"session.get", Direction::kAppToKernel,
     R"({"type":"object","required":["key"],"properties":{"key":{"type":"string","minLength":1}}})", true},
    {"session.list", Direction::kAppToKernel,
     R"({"type":"object","properties":{
          "filter":{"type":"object","properties":{"agentId":{"type":"string"},"channelId":{"type":"string"},
                    "accountId":{"type":"string"},"active":{"type":"boolean"}}},
          "limit":{"type":"integer","minimum":1,"maximum":1000},
          "offset":{"type":"integer","minimum":0}}})",
     true},
    // Not in SPEC §4.2: the supervisor's view of every app, for core/verified apps (diagnostics).
    {"apps.list", Direction::kAppToKernel, R"({"type":"object","additionalProperties":false})", true},
    {"message.dispatch", Direction::kAppToKernel,
     R"({"type":"object","required":["sessionKey","content"],"properties":{
          "sessionKey":{"type":"string","minLength":3},"content":{"type":"string","minLength":1},
          "metadata":{"type":"object"}}})",
     true},
    {"agent.queue", Direction::kAppToKernel,
     R"({"type":"object","required":["sessionKey","text"],"properties":{
          "sessionKey":{"type":"string","pattern":"^[^:]+:.+$"},"text":{"type":"string"},
          "metadata":{"type":"object","properties":{
            "channelId":{"type":"string"},"from":{"type":"string"},"accountId":{"type":"string"},
            "chatType":{"enum":["direct","group"]},"groupId":{"type":"string"},
            "messageId":{"type":["string","integer"]},"senderName":{"type":"string"},
            "mentioned":{"type":"boolean"}}}}})",
     true},

    // kernel → app
    {"tool.invoke", Direction::kKernelToApp,
     R"({"type":"object","required":["tool","input","context"],"properties":{
          "tool":{"type":"string"},"context":{"type":"object"}}})",
     true},
    {"gateway.invoke", Direction::kKernelToApp,
     R"({"type":"object","required":["method","params"],"properties":{"method":{"type":"string"}}})", true},
    {"http.request", Direction::kKernelToApp,
     R"({"type":"object","required":["method","path"],"properties":{
          "method":{"type":"string"},"path":{"type":"string"},"query":{"type":"string"},
          "headers":{"type":"object"},"body":{"type":"string"}}})",
     true},
    {"provider.complete", Direction::kKernelToApp, R"({"type":"object"})", true},
};

// Parsed once, in table order; read-only afterwards (thread-safe static initialisation).
const json::value& ParsedSchema(const MethodSpec& spec) {
  static const std::vector<json::value> schemas = [] {
    std::vector<json::value> out;
    for (const auto& m : kMethods) out.push_back(json::parse(m.params_schema));
    return out;
  }();
  return schemas[static_cast<size_t>(&spec - kMethods)];
}

}  // namespace

std::span<const MethodSpec> AllMethods() { return kMethods; }

const MethodSpec* FindMethod(std::string_view name, Direction direction) {
  for (const auto& m : kMethods)
    if (m.name == name && m.direction == direction) return &m;
  return nullptr;
}

Status ValidateParams(const MethodSpec& spec, const json::value& params) {
  auto violations = ValidateSchema(ParsedSchema(spec), params, "params");
  if (violations.empty()) return {};
  return ViolationsToError(violations);
}

}  // namespace oc::protocol
