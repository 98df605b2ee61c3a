// Fuzzes what the gateway's HTTP API reads from the network (docs/HTTP-API.md): arbitrary bytes as
// a /v1/chat/completions body through ParseChatRequest and ChatTurnParams, and as /hooks/agent and
// /hooks/wake bodies.
//
// Invariants checked:
//  - every refusal carries a message;
//  - an accepted chat request has at least one message and yields turn parameters that are an
//    object with a non-empty `message` string (with and without a selected session);
//  - accepted webhook bodies yield turn parameters with a non-empty `message` and `agentId`.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "kernel/openai_compat.h"

namespace {

using namespace oc::kernel::openai;
namespace json = boost::json;

void CheckTurn(const json::value& params) {
  FUZZ_CHECK(params.is_object());
  const json::value* message = params.as_object().if_contains("message");
  FUZZ_CHECK(message && message->is_string() && !message->as_string().empty());
}

void FuzzChat(std::string_view body) {
  auto request = ParseChatRequest(body);
  if (!request.ok()) {
    FUZZ_CHECK(!request.error().message.empty());
    return;
  }
  FUZZ_CHECK(!request->messages.empty());
  for (const TurnHeaders& headers : {TurnHeaders{}, TurnHeaders{"", "agent:default:openai:x", "k"}}) {
    auto params = ChatTurnParams(*request, headers, "00ff");
    if (params.ok()) {
      CheckTurn(*params);
    } else {
      FUZZ_CHECK(!params.error().message.empty());
    }
  }
}

void FuzzHooks(std::string_view body) {
  auto agent = ParseHookAgent(body);
  if (agent.ok()) {
    json::value params = HookTurnParams(*agent, "default");
    CheckTurn(params);
  } else {
    FUZZ_CHECK(!agent.error().message.empty());
  }
  auto wake = ParseHookWake(body);
  if (wake.ok()) {
    CheckTurn(WakeTurnParams(*wake, "default"));
  } else {
    FUZZ_CHECK(!wake.error().message.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  FuzzChat(body);
  FuzzHooks(body);
  return 0;
}
