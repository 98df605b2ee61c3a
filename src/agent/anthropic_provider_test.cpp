#include "agent/anthropic_provider.h"

#include <gtest/gtest.h>

#include "agent/anthropic_wire.h"
#include "agent/test_http_server.h"

namespace oc::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test_server::CannedAnswer;
using test_server::RawChunkedStream;
using test_server::RawResponse;
using test_server::RunCoroutine;
using test_server::SplitEvery;
using test_server::TestHttpServer;

std::string KindOf(const Error& e) {
  const auto* data = e.data.if_object();
  if (!data) return "";
  auto kind = GetString(*data, "kind");
  return kind ? std::string(*kind) : "";
}

std::optional<int64_t> DataInt(const Error& e, std::string_view key) {
  const auto* data = e.data.if_object();
  return data ? GetInt(*data, key) : std::nullopt;
}

// ---- request body ----

TEST(AnthropicBodyTest, SystemMessagesToolsAndOptions) {
  LlmRequest req;
  req.model = "claude-test";
  req.messages.push_back({"system", "be brief", {}, "", ""});
  req.messages.push_back({"system", "answer in English", {}, "", ""});
  req.messages.push_back({"user", "weather?", {}, "", ""});
  req.messages.push_back({"assistant", "Checking.", {{"toolu_1", "get_weather", "{\"city\":\"Oslo\"}"}, {"toolu_2", "now", ""}}, "", ""});
  req.messages.push_back({"tool", "12C", {}, "toolu_1", "get_weather"});
  req.messages.push_back({"tool", "", {}, "toolu_2", "now"});
  req.messages.push_back({"assistant", "It is 12C.", {}, "", ""});
  req.tools.push_back({"get_weather", "Weather for a city", json::parse(R"({"type":"object","properties":{"city":{"type":"string"}}})")});
  req.tools.push_back({"now", "", nullptr});
  req.max_tokens = 256;
  req.temperature = 0.5;
  json::value body = json::parse(BuildAnthropicMessagesBody(req));

  EXPECT_EQ(body.at("model"), "claude-test");
  EXPECT_EQ(body.at("max_tokens"), 256);
  EXPECT_EQ(body.at("temperature"), 0.5);
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("system"), "be brief\n\nanswer in English");
  EXPECT_EQ(body.at("messages"), json::parse(R"([
      {"role":"user","content":"weather?"},
      {"role":"assistant","content":[
        {"type":"text","text":"Checking."},
        {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}},
        {"type":"tool_use","id":"toolu_2","name":"now","input":{}}]},
      {"role":"user","content":[
        {"type":"tool_result","tool_use_id":"toolu_1","content":"12C"},
        {"type":"tool_result","tool_use_id":"toolu_2"}]},
      {"role":"assistant","content":"It is 12C."}])"));
  EXPECT_EQ(body.at("tools"), json::parse(R"([
      {"name":"get_weather","description":"Weather for a city",
       "input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
      {"name":"now","input_schema":{"type":"object"}}])"));
}

TEST(AnthropicBodyTest, DefaultsAndMergingOfSameRoleMessages) {
  LlmRequest req;
  req.model = "m";
  req.stream = false;
  req.messages.push_back({"user", "first", {}, "", ""});
  req.messages.push_back({"user", "", {}, "", ""});  // empty: dropped
  req.messages.push_back({"user", "second", {}, "", ""});
  req.messages.push_back({"assistant", "", {{"t1", "ls", "not json"}}, "", ""});
  req.messages.push_back({"user", "also this", {}, "", ""});  // before the result: results go first
  req.messages.push_back({"tool", "a.txt", {}, "t1", "ls"});
  json::value body = json::parse(BuildAnthropicMessagesBody(req));
  const json::object& obj = body.as_object();
  EXPECT_EQ(obj.at("max_tokens"), kAnthropicDefaultMaxTokens);
  EXPECT_EQ(obj.at("stream"), false);
  EXPECT_FALSE(obj.contains("system"));
  EXPECT_FALSE(obj.contains("tools"));
  EXPECT_FALSE(obj.contains("temperature"));
  EXPECT_EQ(obj.at("messages"), json::parse(R"([
      {"role":"user","content":[{"type":"text","text":"first"},{"type":"text","text":"second"}]},
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"ls","input":{}}]},
      {"role":"user","content":[
        {"type":"tool_result","tool_use_id":"t1","content":"a.txt"},
        {"type":"text","text":"also this"}]}])"));
}

// ---- non-streamed answers ----

TEST(ParseAnthropicMessageTest, TextToolUseUsageAndModel) {
  auto r = ParseAnthropicMessage(R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-test-1",
      "content":[{"type":"thinking","thinking":"hmm","signature":"x"},
                 {"type":"text","text":"Let me look."},
                 {"type":"tool_use","id":"toolu_a","name":"read","input":{"path":"x"}},
                 {"type":"tool_use","id":"toolu_b","name":"now","input":{}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":2,"output_tokens":7}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Let me look.");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->model, "claude-test-1");
  EXPECT_EQ(r->usage.input, 15);
  EXPECT_EQ(r->usage.output, 7);
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "toolu_a");
  EXPECT_EQ(r->tool_calls[0].name, "read");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json::parse(R"({"path":"x"})"));
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
}

TEST(ParseAnthropicMessageTest, StopReasons) {
  EXPECT_EQ(AnthropicFinishReason("end_turn"), "stop");
  EXPECT_EQ(AnthropicFinishReason("stop_sequence"), "stop");
  EXPECT_EQ(AnthropicFinishReason("tool_use"), "tool_calls");
  EXPECT_EQ(AnthropicFinishReason("max_tokens"), "length");
  EXPECT_EQ(AnthropicFinishReason("refusal"), "refusal");
  auto r = ParseAnthropicMessage(R"({"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"stop_reason":"max_tokens"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "ab");
  EXPECT_EQ(r->finish_reason, "length");
}

TEST(ParseAnthropicMessageTest, MalformedAnswersAreBadRequest) {
  for (const char* body : {"", "not json", "[]", "{}", R"({"content":"text"})"}) {
    auto r = ParseAnthropicMessage(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << body;
    EXPECT_EQ(KindOf(r.error()), "bad_request") << body;
  }
}

TEST(ParseAnthropicMessageTest, ErrorObjectInA200IsAnError) {
  auto r = ParseAnthropicMessage(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_NE(r.error().message.find("Overloaded (overloaded_error)"), std::string::npos) << r.error().message;
}

// ---- error classification ----

TEST(AnthropicErrorTest, ErrorTypesToKinds) {
  struct Case {
    const char* type;
    const char* kind;
    ErrorCode code;
  };
  for (const Case& c : std::vector<Case>{{"overloaded_error", "server", ErrorCode::kInternalError},
                                         {"api_error", "server", ErrorCode::kInternalError},
                                         {"something_new", "server", ErrorCode::kInternalError},
                                         {"rate_limit_error", "rate_limit", ErrorCode::kUnknownError},
                                         {"authentication_error", "auth", ErrorCode::kUnauthorized},
                                         {"permission_error", "auth", ErrorCode::kForbidden},
                                         {"timeout_error", "timeout", ErrorCode::kTimeout},
                                         {"invalid_request_error", "bad_request", ErrorCode::kInvalidRequest},
                                         {"not_found_error", "bad_request", ErrorCode::kInvalidRequest},
                                         {"request_too_large", "bad_request", ErrorCode::kInvalidRequest}}) {
    Error e = AnthropicErrorFromObject(json::object{{"type", c.type}, {"message", "msg"}}, "stream error");
    EXPECT_EQ(KindOf(e), c.kind) << c.type;
    EXPECT_EQ(e.code, c.code) << c.type;
    EXPECT_EQ(e.message, std::string("stream error: msg (") + c.type + ")");
    EXPECT_FALSE(DataInt(e, "httpStatus").has_value());
  }
  EXPECT_EQ(KindOf(AnthropicErrorFromObject(json::value(), "stream error")), "server");
}

TEST(AnthropicErrorTest, HttpAnswerMessageAndKind) {
  Error e = AnthropicErrorFromHttpAnswer(
      "anthropic", 400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})",
      std::nullopt);
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.message, "anthropic: HTTP 400: max_tokens: Field required (invalid_request_error)");
  EXPECT_EQ(DataInt(e, "httpStatus"), 400);

  Error overloaded = AnthropicErrorFromHttpAnswer(
      "anthropic", 529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", 1500);
  EXPECT_EQ(KindOf(overloaded), "server");
  EXPECT_EQ(DataInt(overloaded, "retryAfterMs"), 1500);

  Error html = AnthropicErrorFromHttpAnswer("a", 502, "<html>Bad Gateway</html>", std::nullopt);
  EXPECT_EQ(html.message, "a: HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(KindOf(html), "server");
}

// ---- stream assembly ----

TEST(AnthropicStreamAssemblerTest, TextAndToolUseBlocks) {
  std::string text;
  AnthropicStreamAssembler a([&](std::string_view d) { text.append(d); });
  for (const char* event : {
           R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}})",
           R"({"type":"ping"})",
           R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me"}})",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" check."}})",
           R"({"type":"content_block_stop","index":0})",
           R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}})",
           R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})",
           R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"pa"}})",
           R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"th\":1}"}})",
           R"({"type":"content_block_stop","index":1})",
           R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"now","input":{}}})",
           R"({"type":"content_block_stop","index":2})",
           R"({"type":"some_future_event","index":3})",
           R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}})",
           R"({"type":"message_stop"})", "garbage after message_stop is ignored"}) {
    EXPECT_TRUE(a.OnEvent(event)) << event;
  }
  EXPECT_TRUE(a.done());
  auto r = a.Finish();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text, "Let me check.");
  EXPECT_EQ(r->text, "Let me check.");
  EXPECT_EQ(r->model, "claude-x");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input, 30);
  EXPECT_EQ(r->usage.output, 42);
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "toolu_1");
  EXPECT_EQ(r->tool_calls[0].name, "read");
  EXPECT_EQ(r->tool_calls[0].arguments, "{\"path\":1}");
  EXPECT_EQ(r->tool_calls[1].id, "toolu_2");
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
}

TEST(AnthropicStreamAssemblerTest, ThinkingDeltasNeverReachTheTextSink) {
  std::string text;
  AnthropicStreamAssembler a([&](std::string_view d) { text.append(d); });
  EXPECT_TRUE(a.OnEvent(R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"));
  EXPECT_TRUE(a.OnEvent(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"secret"}})"));
  EXPECT_TRUE(a.OnEvent(R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}})"));
  EXPECT_TRUE(a.OnEvent(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}})"));
  auto r = a.Finish();  // a stop_reason without message_stop is complete enough
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text, "");
  EXPECT_TRUE(r->tool_calls.empty());
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST(AnthropicStreamAssemblerTest, ErrorsAndEarlyEnd) {
  AnthropicStreamAssembler error_event(nullptr);
  EXPECT_FALSE(error_event.OnEvent(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"));
  EXPECT_FALSE(error_event.OnEvent(R"({"type":"message_stop"})"));
  auto r = error_event.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "rate_limit");

  AnthropicStreamAssembler malformed(nullptr);
  EXPECT_FALSE(malformed.OnEvent("{not json"));
  EXPECT_EQ(KindOf(malformed.Finish().error()), "bad_request");

  AnthropicStreamAssembler early(nullptr);
  EXPECT_TRUE(early.OnEvent(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"half"}})"));
  auto ended = early.Finish();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(KindOf(ended.error()), "network");
  EXPECT_EQ(ended.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(ended.error().message.find("stream ended early"), std::string::npos);
}

// ---- the provider against a local server ----

std::string Event(std::string_view type, std::string_view data) {
  return "event: " + std::string(type) + "\r\ndata: " + std::string(data) + "\r\n\r\n";
}

std::string MessageStart(int input_tokens = 21) {
  return Event("message_start",
               R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],)"
               R"("model":"claude-test","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":)" +
                   std::to_string(input_tokens) + R"(,"output_tokens":1}}})");
}

std::string TextBlock(int index, const std::vector<std::string>& pieces) {
  std::string i = std::to_string(index);
  std::string out = Event("content_block_start",
                          R"({"type":"content_block_start","index":)" + i + R"(,"content_block":{"type":"text","text":""}})");
  for (const std::string& p : pieces) {
    out += Event("content_block_delta", R"({"type":"content_block_delta","index":)" + i +
                                            R"(,"delta":{"type":"text_delta","text":")" + p + "\"}}");
  }
  return out + Event("content_block_stop", R"({"type":"content_block_stop","index":)" + i + "}");
}

std::string MessageEnd(std::string_view stop_reason, int output_tokens = 4) {
  return Event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":")" + std::string(stop_reason) +
                                    R"(","stop_sequence":null},"usage":{"output_tokens":)" +
                                    std::to_string(output_tokens) + "}}") +
         Event("message_stop", R"({"type":"message_stop"})");
}

const std::string kPing = Event("ping", R"({"type": "ping"})");

class AnthropicProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> Make(std::string key = "sk-ant-test", std::string path = "") {
    return MakeAnthropicProvider(http, AnthropicSettings{"anthropic", server.base_url() + path, std::move(key)});
  }
  Result<LlmResponse> Complete(Provider& p, const LlmRequest& req, std::chrono::milliseconds timeout = 5s) {
    deltas.clear();
    return RunCoroutine(io, p.Complete(req, [this](std::string_view d) { deltas.emplace_back(d); }, timeout));
  }
  static LlmRequest Simple(bool stream = true) {
    LlmRequest req;
    req.model = "claude-test";
    req.stream = stream;
    req.messages.push_back({"system", "be brief", {}, "", ""});
    req.messages.push_back({"user", "hi", {}, "", ""});
    return req;
  }
  // Serves `raw` cut into pieces of `n` bytes with a short pause between them, so each read sees a
  // fragment (SSE lines and chunk headers split anywhere).
  void QueueInPieces(const std::string& raw, size_t n) { server.Queue(CannedAnswer{SplitEvery(raw, n), 1ms}); }

  asio::io_context io;
  TestHttpServer server{io.get_executor()};
  HttpClient http{io.get_executor()};
  std::vector<std::string> deltas;
};

TEST_F(AnthropicProviderTest, StreamedTextSplitAtAwkwardBoundaries) {
  std::string sse = MessageStart() + kPing + TextBlock(0, {"Hel", "lo, wor", "ld"}) + MessageEnd("end_turn");
  std::vector<std::string> http_chunks;
  for (size_t i = 0, n = 13; i < sse.size(); i += n, n = n * 7 % 61 + 3) http_chunks.push_back(sse.substr(i, n));
  QueueInPieces(RawChunkedStream(http_chunks), 11);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Hello, world");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hel", "lo, wor", "ld"}));
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.input, 21);
  EXPECT_EQ(r->usage.output, 4);
  EXPECT_EQ(r->model, "claude-test");
  EXPECT_TRUE(r->tool_calls.empty());

  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/messages");
  EXPECT_EQ(req.Header("x-api-key"), "sk-ant-test");
  EXPECT_EQ(req.Header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.Header("accept"), "text/event-stream");
  EXPECT_FALSE(req.HasHeader("authorization"));
  json::value body = req.Json();
  EXPECT_EQ(body.at("model"), "claude-test");
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("max_tokens"), kAnthropicDefaultMaxTokens);
  EXPECT_EQ(body.at("system"), "be brief");
  EXPECT_EQ(body.at("messages"), json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST_F(AnthropicProviderTest, ToolRoundTrip) {
  // Turn 1 (streamed): the model asks for a tool, its input split over several deltas and chunks.
  std::string sse =
      MessageStart() + TextBlock(0, {"Looking."}) +
      Event("content_block_start",
            R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"grep","input":{}}})") +
      Event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"pattern\":"}})") +
      kPing +
      Event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"TODO\"}"}})") +
      Event("content_block_stop", R"({"type":"content_block_stop","index":1})") + MessageEnd("tool_use", 30);
  QueueInPieces(RawChunkedStream(SplitEvery(sse, 40)), 17);
  // Turn 2 (not streamed): the final answer.
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"id":"msg_2","type":"message","role":"assistant","model":"claude-test",
                                             "content":[{"type":"text","text":"Found 3."}],"stop_reason":"end_turn",
                                             "usage":{"input_tokens":50,"output_tokens":5}})")}});
  auto provider = Make();
  LlmRequest req = Simple();
  req.tools.push_back({"grep", "Search files", json::parse(R"({"type":"object","properties":{"pattern":{"type":"string"}}})")});
  auto first = Complete(*provider, req);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(deltas, std::vector<std::string>{"Looking."});  // input JSON never reaches the text sink
  EXPECT_EQ(first->finish_reason, "tool_calls");
  EXPECT_EQ(first->usage.output, 30);
  ASSERT_EQ(first->tool_calls.size(), 1u);
  EXPECT_EQ(first->tool_calls[0].id, "toolu_01");
  EXPECT_EQ(first->tool_calls[0].name, "grep");
  EXPECT_EQ(json::parse(first->tool_calls[0].arguments), json::parse(R"({"pattern":"TODO"})"));

  req.stream = false;
  req.messages.push_back({"assistant", first->text, first->tool_calls, "", ""});
  req.messages.push_back({"tool", "a.cpp:1\nb.cpp:7\nc.cpp:9", {}, "toolu_01", "grep"});
  auto second = Complete(*provider, req);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->text, "Found 3.");
  EXPECT_EQ(second->finish_reason, "stop");
  EXPECT_EQ(second->usage.input, 50);

  ASSERT_EQ(server.requests().size(), 2u);
  json::value body1 = server.requests()[0].Json();
  EXPECT_EQ(body1.at("tools"), json::parse(R"([{"name":"grep","description":"Search files",
      "input_schema":{"type":"object","properties":{"pattern":{"type":"string"}}}}])"));
  const auto& captured = server.requests()[1];
  EXPECT_FALSE(captured.HasHeader("accept"));
  json::value body2 = captured.Json();
  EXPECT_EQ(body2.at("stream"), false);
  EXPECT_EQ(body2.at("messages"), json::parse(R"([
      {"role":"user","content":"hi"},
      {"role":"assistant","content":[{"type":"text","text":"Looking."},
        {"type":"tool_use","id":"toolu_01","name":"grep","input":{"pattern":"TODO"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"a.cpp:1\nb.cpp:7\nc.cpp:9"}]}])"));
}

TEST_F(AnthropicProviderTest, HttpErrorsAreClassified) {
  struct Case {
    int status;
    std::string headers;
    std::string error_type;
    std::string kind;
    ErrorCode code;
    std::optional<int64_t> retry_after;
  };
  std::vector<Case> cases = {
      {400, "", "invalid_request_error", "bad_request", ErrorCode::kInvalidRequest, std::nullopt},
      {401, "", "authentication_error", "auth", ErrorCode::kUnauthorized, std::nullopt},
      {403, "", "permission_error", "auth", ErrorCode::kForbidden, std::nullopt},
      {404, "", "not_found_error", "bad_request", ErrorCode::kInvalidRequest, std::nullopt},
      {429, "retry-after: 7\r\n", "rate_limit_error", "rate_limit", ErrorCode::kUnknownError, 7000},
      {500, "", "api_error", "server", ErrorCode::kInternalError, std::nullopt},
      {529, "", "overloaded_error", "server", ErrorCode::kInternalError, std::nullopt},
  };
  auto provider = Make();
  for (const Case& c : cases) {
    std::string body = R"({"type":"error","error":{"type":")" + c.error_type + R"(","message":"details here"}})";
    for (bool stream : {true, false}) {
      server.Queue(CannedAnswer{{RawResponse(c.status, "Status", c.headers, body)}});
      auto r = Complete(*provider, Simple(stream));
      ASSERT_FALSE(r.ok()) << c.status;
      EXPECT_EQ(KindOf(r.error()), c.kind) << c.status;
      EXPECT_EQ(r.error().code, c.code) << c.status;
      EXPECT_EQ(DataInt(r.error(), "httpStatus"), c.status);
      EXPECT_EQ(DataInt(r.error(), "retryAfterMs"), c.retry_after) << c.status;
      EXPECT_EQ(r.error().message,
                "anthropic: HTTP " + std::to_string(c.status) + ": details here (" + c.error_type + ")");
    }
  }
  EXPECT_TRUE(deltas.empty());
}

TEST_F(AnthropicProviderTest, ErrorEventInsideTheStream) {
  std::string sse = MessageStart() + TextBlock(0, {"Hi"}) +
                    Event("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  QueueInPieces(RawChunkedStream({sse}), 23);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_EQ(r.error().message, "anthropic: stream error: Overloaded (overloaded_error)");
  EXPECT_EQ(deltas, std::vector<std::string>{"Hi"});
}

TEST_F(AnthropicProviderTest, StreamThatEndsEarlyIsANetworkError) {
  // The body ends cleanly (terminating chunk) but without message_delta or message_stop.
  server.Queue(CannedAnswer{{RawChunkedStream({MessageStart() + TextBlock(0, {"half an ans"})})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_NE(r.error().message.find("stream ended early"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.rfind("anthropic: ", 0), 0u);
  EXPECT_EQ(deltas, std::vector<std::string>{"half an ans"});  // already delivered
}

TEST_F(AnthropicProviderTest, ResetMidStreamIsANetworkError) {
  CannedAnswer answer{{RawChunkedStream({MessageStart() + TextBlock(0, {"partial"})}, false)}};
  answer.then = CannedAnswer::Then::kReset;
  server.Queue(answer);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
}

TEST_F(AnthropicProviderTest, SilentServerIsATimeout) {
  CannedAnswer silent;
  silent.silent = true;
  server.Queue(silent);
  auto provider = Make();
  auto r = Complete(*provider, Simple(), 150ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "timeout");
}

TEST_F(AnthropicProviderTest, NoKeyNoHeaderAndABaseUrlEndingInV1) {
  std::string sse = MessageStart() + TextBlock(0, {"ok"}) + MessageEnd("end_turn");
  server.Queue(CannedAnswer{{RawChunkedStream({sse})}});
  auto provider = Make("", "/proxy/v1/");
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "ok");
  const auto& req = server.requests().at(0);
  EXPECT_EQ(req.target, "/proxy/v1/messages");
  EXPECT_FALSE(req.HasHeader("x-api-key"));
  EXPECT_EQ(req.Header("anthropic-version"), "2023-06-01");
}

TEST_F(AnthropicProviderTest, ServerIgnoringStreamTrueIsReadAsJson) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"type":"message","content":[{"type":"text","text":"whole"}],"stop_reason":"end_turn"})")}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "whole");
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST_F(AnthropicProviderTest, UnreachableServerIsANetworkError) {
  auto provider = MakeAnthropicProvider(http, AnthropicSettings{"claude", "http://127.0.0.1:1", "k"});
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(provider->name(), "claude");
  EXPECT_EQ(r.error().message.rfind("claude: ", 0), 0u);
}

}  // namespace
}  // namespace oc::agent
