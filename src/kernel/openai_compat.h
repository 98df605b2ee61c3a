// The gateway's HTTP API as data (SPEC §11, docs/HTTP-API.md): OpenAI chat-completions requests →
// the parameters of a control-plane turn (Pipeline::StartAgentTurn), a run's summary → completion
// and stream-chunk JSON, the model list, and the request bodies of the /hooks/* webhooks. Pure
// functions: no I/O and no kernel state, so every rule is unit-tested (openai_compat_test.cpp);
// kernel_http_api.cpp does the serving.
//
// Errors are oc::Error values; ToApiError turns one into OpenAI's error shape. Error.data may carry
// {"param", "code"} for it (e.g. {"param":"model","code":"model_not_found"}).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::kernel::openai {

// Limits (docs/HTTP-API.md "Limits"); the body itself is capped by gateway.maxBodyBytes (413).
inline constexpr size_t kMaxMessages = 1000;           // messages[] entries
inline constexpr size_t kMaxKeyChars = 256;            // user, session key, idempotency key
inline constexpr size_t kMaxHookTextBytes = 64 * 1024;  // /hooks/agent message, /hooks/wake text
inline constexpr size_t kMaxHookNameChars = 64;        // /hooks/agent name, deliver.channel

// An error as OpenAI answers it: HTTP status and {"error":{message, type, param, code}}.
struct ApiError {
  unsigned status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // "" → null
  std::string code;   // "" → null
  json::value ToJson() const;
};
// kInvalidParams/kInvalidRequest → 400, kUnauthorized → 401 (code invalid_api_key), kNotFound →
// 404, kConflict → 409, kTimeout → 504 (type api_error, code timeout), anything else → 500
// api_error. Error.data {param?, code?} fill those fields.
ApiError ToApiError(const Error& error);

// One entry of messages[]: role and its text (string content, or the text parts of an array).
struct ChatMessage {
  std::string role;  // system, developer, user, assistant, tool, function
  std::string text;
  std::vector<std::string> tool_calls;  // names of an assistant message's tool_calls
};

// The fields of a chat-completions body the gateway uses; others (temperature, ...) are ignored.
struct ChatRequest {
  std::string model = "openclaw";  // when absent
  std::vector<ChatMessage> messages;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::optional<std::string> user;
};
// kInvalidRequest for bad JSON; kInvalidParams (data.param names the field) for a body that is not
// an object, no or too many messages, a message without a valid role, content that is neither a
// string, null nor an array of {type:"text", text} parts, a `user` over kMaxKeyChars.
Result<ChatRequest> ParseChatRequest(std::string_view body);

// "openclaw" → "" (no agent named: the default); "openclaw:<id>" → id. Anything else: kNotFound
// with data {param:"model", code:"model_not_found"}.
Result<std::string> AgentOfModel(std::string_view model);
// "agent:<id>:..." → id; "" for anything else.
std::string AgentOfSessionKey(std::string_view key);
// The session of OpenAI's `user`: agent:<agent>:openai:<user>, the user percent-encoded outside
// [A-Za-z0-9._@-] so distinct users never share a key and a user cannot add key segments.
std::string UserSessionKey(std::string_view agent_id, std::string_view user);

// The text of the turn. With `session_selected` the kernel holds the history: only the last user
// message. Otherwise (a fresh session) the messages before it (system, user, assistant, tool)
// are rendered as a transcript preamble; messages after it are ignored. kInvalidParams when there
// is no user message or the last one has no text.
Result<std::string> TurnText(const std::vector<ChatMessage>& messages, bool session_selected);

// What the gateway reads from the request headers (lower-case names).
struct TurnHeaders {
  std::string agent_id;         // x-openclaw-agent-id
  std::string session_key;      // x-openclaw-session-key
  std::string idempotency_key;  // idempotency-key
};
// Parameters for Pipeline::StartAgentTurn: {message, agentId, sessionKey, idempotencyKey?}.
// Agent: the header, else the model's, else the session key's, else "default". Session: the header
// names one directly; else `user` → UserSessionKey; else a fresh "agent:<agent>:openai:<fresh_id>".
// The idempotency key is namespaced "openai:<key>" so it never matches another API's runs.
// kInvalidParams for a header over kMaxKeyChars or a session key of another agent than the one
// named; AgentOfModel's error for an unknown model; TurnText's errors.
Result<json::value> ChatTurnParams(const ChatRequest& request, const TurnHeaders& headers, std::string_view fresh_id);

// The answer's identity, shared by the completion and every chunk of one stream.
struct CompletionMeta {
  std::string id;  // "chatcmpl-<runId>"
  std::string model;
  int64_t created = 0;  // seconds since the epoch
};
// {prompt_tokens, completion_tokens, total_tokens} from a run summary's usage {input, output}.
json::value UsageJson(const json::value& summary);
// {id, object:"chat.completion", created, model, choices:[{index:0, message:{role:"assistant",
// content: summary.text}, finish_reason:"stop"}], usage}.
json::value CompletionJson(const CompletionMeta& meta, const json::value& summary);
// {id, object:"chat.completion.chunk", created, model, choices:[{index:0, delta, finish_reason}]}
// (finish_reason null when absent).
json::value ChunkJson(const CompletionMeta& meta, json::object delta, std::optional<std::string_view> finish_reason);
// The extra last chunk of stream_options.include_usage: choices [] and usage.
json::value UsageChunkJson(const CompletionMeta& meta, const json::value& summary);
// One server-sent event: "data: <json>\n\n".
std::string SseData(const json::value& payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";
// What a finished wait for the run means for the caller: nullopt when summary.status is "ok";
// 502 api_error carrying the run's error when it failed; 504 (code timeout) when `summary` is
// nullopt, i.e. the run was still going when the wait ended (it keeps running).
std::optional<ApiError> RunError(const std::optional<json::value>& summary);
// The events that end a stream once the wait for the run is over: the run's whole text as one
// delta when nothing was streamed (a repeated idempotent request, a chat command), the chunk with
// finish_reason "stop", the usage chunk when asked, then [DONE]. A failed or timed-out run gives
// an error event {"error":{...}} (which OpenAI's clients raise) instead of the finish chunk.
std::string StreamEnd(const CompletionMeta& meta, const std::optional<json::value>& summary, bool streamed_text,
                      bool include_usage);
// GET /v1/models: "openclaw" then "openclaw:<id>" for each agent id, in the order given.
json::value ModelsJson(const std::vector<std::string>& agent_ids, int64_t created);

// ---- webhooks (/hooks/agent, /hooks/wake) ---------------------------------------------------

struct HookAgentRequest {
  std::string message;
  std::string agent_id;     // "" = gateway.webhooks.agentId
  std::string session_key;  // "" = agent:<agent>:hook:<name>
  std::string name = "webhook";
  std::string deliver_channel, deliver_to;  // both or neither
  std::string idempotency_key;
};
// {message, agentId?, sessionKey?, name?, deliver? {channel, to}, idempotencyKey?}; unknown fields
// are refused. kInvalidRequest for bad JSON, kInvalidParams (message "<field>: ...") otherwise.
Result<HookAgentRequest> ParseHookAgent(std::string_view body);
// StartAgentTurn parameters for a hook turn, `default_agent` when the request names none.
json::value HookTurnParams(const HookAgentRequest& request, std::string_view default_agent);

struct WakeRequest {
  std::string text;
  std::string agent_id;  // "" = gateway.webhooks.agentId
};
// {text, mode?: "now", agentId?}; other modes and unknown fields are refused.
Result<WakeRequest> ParseHookWake(std::string_view body);
// StartAgentTurn parameters: the agent's main session, the text marked "[wake] ".
json::value WakeTurnParams(const WakeRequest& request, std::string_view default_agent);

}  // namespace oc::kernel::openai
