// The scripted behaviour of the test LLM server, free of I/O: it routes a request, records chat
// requests, picks the script step for each, and renders the answer in the wire format of the
// endpoint that was called (whole, or as the pieces a stream is made of). server.cpp only moves
// these bytes. Endpoints (wire.h, render_*.cpp):
//   POST /v1/chat/completions, /chat/completions         OpenAI chat completions (SSE when stream)
//   POST /v1/messages                                     Anthropic Messages (SSE when stream)
//   POST /v1beta/models/<model>:generateContent           Gemini (also under /v1/models/...)
//   POST /v1beta/models/<model>:streamGenerateContent     Gemini, SSE with ?alt=sse, else a JSON array
//   POST /api/chat                                        Ollama native (NDJSON unless stream:false)
//   GET /v1/models, /models                               OpenAI model list
//   POST /_script, POST /_reset, GET /_requests, GET /_stats   control
//
// Script steps are JSON objects (all fields optional; unknown fields are rejected so typos in tests
// fail loudly): match, delayMs, chunkDelayMs, status, error {message,type,param,code,status,details},
// retryAfter, headers {name: value}, content, chunkChars, toolCalls [{id?, name, arguments}],
// finishReason, usage {prompt_tokens, completion_tokens}, model, dropAfterChunks, errorAfterChunks,
// hang, rawBody, rawChunks. One step drives every format: `error` (or a status >= 400) answers with
// the format's own error object (OpenAI {error:{message,type,param,code}}, Anthropic
// {type:"error",error:{type,message}}, Gemini {error:{code,message,status}}, Ollama {error:"..."});
// with `errorAfterChunks` n the answer is a 200 stream that carries n content pieces and then the
// format's in-stream error. A chat request takes the first queued step whose `match` is a substring
// of the last user message's text (a step without `match` fits any request); when none fits, the
// answer echoes the last message ("tool result: <content>" after a tool result). Threading: not
// thread-safe; the server uses it from its one io_context thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::testllm {

struct ScriptedToolCall {
  std::string id;  // "call_<n>" unless given (formats with their own id style restyle default ids)
  bool explicit_id = false;
  std::string name;
  std::string arguments;  // JSON text; an object in the step is serialised
};

struct ScriptStep {
  std::optional<std::string> match;
  int64_t delay_ms = 0;        // before the response starts
  int64_t chunk_delay_ms = 0;  // between streamed chunks
  std::optional<int> status;
  std::optional<json::object> error;  // {message, type, param, code}; missing fields get defaults
  std::optional<std::string> retry_after;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> content;
  size_t chunk_chars = 8;  // content and arguments are streamed in pieces of this many characters
  std::vector<ScriptedToolCall> tool_calls;
  std::optional<std::string> finish_reason;
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> completion_tokens;
  std::optional<std::string> model;
  std::optional<size_t> drop_after_chunks;
  std::optional<size_t> error_after_chunks;
  bool hang = false;
  std::optional<std::string> raw_body;
  std::optional<std::vector<std::string>> raw_chunks;  // sent verbatim as text/event-stream chunks
};

// Parses one step. kInvalidParams naming the offending field. `next_call_id` numbers the default
// tool-call ids so they stay unique across the server's life.
Result<ScriptStep> ParseStep(const json::value& step, int64_t& next_call_id);

struct IncomingRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after the '?', still percent-encoded ("" when none)
  std::string authorization;
  json::object headers;  // lower-cased names
  std::string body;
};

// What the connection should do. The server applies: wait delay_ms; then hang (read until the
// peer goes), or close without answering (not streamed and drop_after_chunks set), or send
// `status` + `headers` + `body`, or (streamed) send the header then each of `chunks` as one HTTP
// chunk, closing abruptly after drop_after_chunks of them (no terminating chunk).
struct PlannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // content-type included
  std::string body;
  bool streamed = false;
  std::vector<std::string> chunks;
  int64_t delay_ms = 0;
  int64_t chunk_delay_ms = 0;
  bool hang = false;
  std::optional<size_t> drop_after_chunks;
};

// {"error":{"message","type","param","code"}} as OpenAI sends it.
std::string ErrorBody(std::string_view message, std::string_view type, json::value param, json::value code);

struct WireOps;
struct ChatRequest;

class LlmScript {
 public:
  // Keeps the last `max_recorded` chat requests for /_requests (the count in /_stats is exact
  // regardless); a benchmark with long conversations can pass a small number to bound memory.
  // `default_reply`: the answer when no script step fits, instead of echoing the last message
  // (a benchmark comparing gateways whose prompts differ wants the same answer for both).
  explicit LlmScript(size_t max_recorded = 10000, std::optional<std::string> default_reply = std::nullopt)
      : max_recorded_(max_recorded), default_reply_(std::move(default_reply)) {}

  // Routes any request: the chat and models endpoints, the control endpoints (/_script, /_reset,
  // /_requests, /_stats), 404/405 error objects otherwise.
  PlannedResponse Handle(const IncomingRequest& request);

  // Transport counters shown by /_stats (the server updates them).
  void ConnectionOpened() { ++connections_open_, ++connections_total_; }
  void ConnectionClosed() { --connections_open_; }

  size_t pending() const { return steps_.size(); }
  size_t total_requests() const { return total_requests_; }

 private:
  PlannedResponse HandleChat(const IncomingRequest& request, const WireOps& wire);
  // Keeps a chat request for /_requests; `valid` says whether messages/tools were read.
  void Record(const IncomingRequest& request, const json::value& body, const ChatRequest& chat, bool valid);
  PlannedResponse HandleScript(const IncomingRequest& request);
  json::object Stats() const;
  json::value RecordedRequests() const;
  ScriptStep TakeStep(std::string_view last_user_text);

  std::deque<ScriptStep> steps_;
  size_t max_recorded_;
  std::optional<std::string> default_reply_;
  std::deque<json::object> recorded_;
  size_t total_requests_ = 0;
  int64_t next_call_id_ = 1;
  int64_t next_request_serial_ = 1;
  int64_t connections_open_ = 0;
  int64_t connections_total_ = 0;
};

}  // namespace oc::testllm
