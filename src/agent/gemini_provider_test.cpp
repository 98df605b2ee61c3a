#include "agent/gemini_provider.h"

#include <gtest/gtest.h>

#include "agent/gemini_wire.h"
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

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- request body ----

TEST(GeminiBodyTest, CarriesSystemMessagesToolsResultsAndOptions) {
  LlmRequest req;
  req.model = "gemini-test";
  req.messages.push_back({"system", "be brief", {}, "", ""});
  req.messages.push_back({"user", "weather in Oslo and the time?", {}, "", ""});
  req.messages.push_back({"system", "facts: UTC", {}, "", ""});
  req.messages.push_back({"assistant", "Checking.",
                          {{"call_1", "get_weather", R"({"city":"Oslo"})"}, {"fc-77", "now", ""}}, "", ""});
  req.messages.push_back({"tool", "12C", {}, "call_1", "get_weather"});
  req.messages.push_back({"tool", "09:00", {}, "fc-77", ""});  // no name: taken from the call
  req.messages.push_back({"user", "thanks", {}, "", ""});
  req.tools.push_back({"get_weather", "Weather for a city",
                       json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})")});
  req.tools.push_back({"now", "The time", nullptr});
  req.max_tokens = 256;
  req.temperature = 0.5;
  auto lookup = [](const ToolCall& call) { return call.id == "call_1" ? std::string("c2lnLUE=") : std::string(); };
  json::value body = json::parse(BuildGeminiBody(req, lookup));

  EXPECT_EQ(body.at("systemInstruction"), json::parse(R"({"parts":[{"text":"be brief"},{"text":"facts: UTC"}]})"));
  EXPECT_EQ(body.at("generationConfig"), json::parse(R"({"maxOutputTokens":256,"temperature":0.5})"));
  EXPECT_EQ(body.at("contents"), json::parse(R"([
      {"role":"user","parts":[{"text":"weather in Oslo and the time?"}]},
      {"role":"model","parts":[
        {"text":"Checking."},
        {"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"c2lnLUE="},
        {"functionCall":{"name":"now","args":{},"id":"fc-77"}}]},
      {"role":"user","parts":[
        {"functionResponse":{"name":"get_weather","response":{"content":"12C"}}},
        {"functionResponse":{"name":"now","response":{"content":"09:00"},"id":"fc-77"}},
        {"text":"thanks"}]}])"));
  EXPECT_EQ(body.at("tools"), json::parse(R"([{"functionDeclarations":[
      {"name":"get_weather","description":"Weather for a city",
       "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
      {"name":"now","description":"The time"}]}])"));
}

TEST(GeminiBodyTest, MinimalRequestAndPlaceholderSignatureForForeignCalls) {
  LlmRequest req;
  req.model = "m";
  req.messages.push_back({"user", "go", {}, "", ""});
  req.messages.push_back({"assistant", "", {{"toolu_1", "ls", "not json"}, {"toolu_2", "ls", "[1]"}}, "", ""});
  req.messages.push_back({"tool", "a", {}, "toolu_1", "ls"});
  req.messages.push_back({"tool", "b", {}, "toolu_2", "ls"});
  req.messages.push_back({"assistant", "", {}, "", ""});  // nothing to say: no empty content
  json::value body = json::parse(BuildGeminiBody(req));
  const json::object& root = body.as_object();
  EXPECT_FALSE(root.contains("systemInstruction"));
  EXPECT_FALSE(root.contains("tools"));
  EXPECT_FALSE(root.contains("generationConfig"));
  EXPECT_EQ(root.at("contents"), json::parse(R"([
      {"role":"user","parts":[{"text":"go"}]},
      {"role":"model","parts":[
        {"functionCall":{"name":"ls","args":{},"id":"toolu_1"},"thoughtSignature":"skip_thought_signature_validator"},
        {"functionCall":{"name":"ls","args":{},"id":"toolu_2"}}]},
      {"role":"user","parts":[
        {"functionResponse":{"name":"ls","response":{"content":"a"},"id":"toolu_1"}},
        {"functionResponse":{"name":"ls","response":{"content":"b"},"id":"toolu_2"}}]}])"));
}

TEST(GeminiSchemaTest, NarrowsJsonSchemaToTheSubsetGeminiAccepts) {
  json::value schema = json::parse(R"({
    "$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
    "properties":{
      "path":{"type":"string","format":"uri","minLength":1,"description":"where"},
      "when":{"type":["string","null"],"format":"date-time"},
      "mode":{"const":"fast"},
      "level":{"type":"integer","enum":[1,2,3],"minimum":1,"format":"int32"},
      "color":{"enum":["red","green",null]},
      "tags":{"type":"array","items":{"type":"string","examples":["x"]},"maxItems":4},
      "limit":{"anyOf":[{"type":"integer"},{"type":"null"}],"description":"max"},
      "target":{"oneOf":[{"type":"string"},{"type":"number"}]},
      "nested":{"properties":{"a":{"type":"boolean"}},"patternProperties":{"x":{}}}
    },
    "required":["path","ghost"],
    "allOf":[{"required":["mode"]}]})");
  EXPECT_EQ(GeminiSchemaFromJsonSchema(schema), json::parse(R"({
    "type":"object",
    "properties":{
      "path":{"type":"string","minLength":1,"description":"where"},
      "when":{"type":"string","nullable":true,"format":"date-time"},
      "mode":{"type":"string","enum":["fast"]},
      "level":{"type":"integer","minimum":1,"format":"int32"},
      "color":{"type":"string","enum":["red","green"]},
      "tags":{"type":"array","items":{"type":"string"},"maxItems":4},
      "limit":{"nullable":true,"description":"max","type":"integer"},
      "target":{"anyOf":[{"type":"string"},{"type":"number"}]},
      "nested":{"type":"object","properties":{"a":{"type":"boolean"}}}
    },
    "required":["path"]})"));
  EXPECT_EQ(GeminiSchemaFromJsonSchema(nullptr), json::parse(R"({"type":"object"})"));
  EXPECT_EQ(GeminiSchemaFromJsonSchema(json::parse("[1]")), json::parse(R"({"type":"object"})"));
}

// ---- answers ----

TEST(GeminiAnswerTest, ParsesTextCallsUsageAndSignatures) {
  auto r = ParseGeminiResponse(R"({"candidates":[{"content":{"role":"model","parts":[
      {"text":"thinking...","thought":true},
      {"text":"Let me "},{"text":"look."},
      {"functionCall":{"name":"read","args":{"path":"a.txt"}},"thoughtSignature":"U0lH"},
      {"functionCall":{"id":"srv-1","name":"ls"}}]},"finishReason":"STOP","index":0}],
      "usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":5,"thoughtsTokenCount":3,"totalTokenCount":20},
      "modelVersion":"gemini-2.5-flash"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->response.text, "Let me look.");
  EXPECT_EQ(r->response.finish_reason, "tool_calls");
  EXPECT_EQ(r->response.model, "gemini-2.5-flash");
  EXPECT_EQ(r->response.usage.input, 12);
  EXPECT_EQ(r->response.usage.output, 8);
  ASSERT_EQ(r->response.tool_calls.size(), 2u);
  EXPECT_EQ(r->response.tool_calls[0].id, "");
  EXPECT_EQ(r->response.tool_calls[0].name, "read");
  EXPECT_EQ(r->response.tool_calls[0].arguments, R"({"path":"a.txt"})");
  EXPECT_EQ(r->response.tool_calls[1].id, "srv-1");
  EXPECT_EQ(r->response.tool_calls[1].arguments, "{}");
  EXPECT_EQ(r->signatures, (std::vector<std::string>{"U0lH", ""}));

  int64_t next = 7;
  AssignGeminiCallIds(r->response, next);
  EXPECT_EQ(r->response.tool_calls[0].id, "call_7");
  EXPECT_EQ(r->response.tool_calls[1].id, "srv-1");
  EXPECT_EQ(next, 8);
}

TEST(GeminiAnswerTest, FinishReasonsIdsAndDurations) {
  EXPECT_EQ(GeminiFinishReason("STOP", false), "stop");
  EXPECT_EQ(GeminiFinishReason("STOP", true), "tool_calls");
  EXPECT_EQ(GeminiFinishReason("MAX_TOKENS", false), "length");
  EXPECT_EQ(GeminiFinishReason("SAFETY", false), "SAFETY");
  EXPECT_EQ(GeminiFinishReason("MALFORMED_FUNCTION_CALL", false), "MALFORMED_FUNCTION_CALL");

  EXPECT_TRUE(IsSynthesizedGeminiCallId("call_12"));
  EXPECT_FALSE(IsSynthesizedGeminiCallId("call_"));
  EXPECT_FALSE(IsSynthesizedGeminiCallId("call_abc"));
  EXPECT_FALSE(IsSynthesizedGeminiCallId("toolu_1"));

  EXPECT_EQ(ParseGoogleDuration(json::value("2s")), 2000);
  EXPECT_EQ(ParseGoogleDuration(json::value("0.25s")), 250);
  EXPECT_EQ(ParseGoogleDuration(json::value("8.941621227s")), 8942);
  EXPECT_EQ(ParseGoogleDuration(json::parse(R"({"seconds":3,"nanos":500000000})")), 3500);
  EXPECT_EQ(ParseGoogleDuration(json::value("999999999s")), 24LL * 3600 * 1000);  // capped
  EXPECT_EQ(ParseGoogleDuration(json::value("2")), std::nullopt);
  EXPECT_EQ(ParseGoogleDuration(json::value("-1s")), std::nullopt);
  EXPECT_EQ(ParseGoogleDuration(json::value("s")), std::nullopt);
  EXPECT_EQ(ParseGoogleDuration(json::value(5)), std::nullopt);
}

TEST(GeminiAnswerTest, MalformedBlockedAndErrorAnswers) {
  EXPECT_EQ(KindOf(ParseGeminiResponse("{not json").error()), "bad_request");
  EXPECT_EQ(KindOf(ParseGeminiResponse("[]").error()), "bad_request");
  EXPECT_EQ(KindOf(ParseGeminiResponse(R"({"candidates":[]})").error()), "bad_request");

  auto blocked = ParseGeminiResponse(R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}})");
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(KindOf(blocked.error()), "bad_request");
  EXPECT_TRUE(Contains(blocked.error().message, "prompt blocked (SAFETY)")) << blocked.error().message;

  auto error = ParseGeminiResponse(R"({"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(KindOf(error.error()), "server");

  auto safety = ParseGeminiResponse(R"({"candidates":[{"content":{"parts":[{"text":"partial"}]},"finishReason":"SAFETY"}]})");
  ASSERT_TRUE(safety.ok());
  EXPECT_EQ(safety->response.finish_reason, "SAFETY");
  EXPECT_EQ(safety->response.text, "partial");
}

TEST(GeminiErrorTest, HttpAnswersAndErrorObjects) {
  std::string quota = R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.Help","links":[]},
      {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"22s"}]}})";
  Error e = GeminiErrorFromHttpAnswer("gemini", 429, quota, std::nullopt);
  EXPECT_EQ(KindOf(e), "rate_limit");
  EXPECT_EQ(DataInt(e, "retryAfterMs"), 22000);
  EXPECT_EQ(DataInt(e, "httpStatus"), 429);
  EXPECT_EQ(e.message, "gemini: HTTP 429: Quota exceeded (RESOURCE_EXHAUSTED)");
  EXPECT_EQ(DataInt(GeminiErrorFromHttpAnswer("gemini", 429, quota, 1500), "retryAfterMs"), 1500);  // header wins

  Error array = GeminiErrorFromHttpAnswer("g", 400, "[" + quota + "]", std::nullopt);
  EXPECT_EQ(KindOf(array), "bad_request");  // the HTTP status decides
  EXPECT_TRUE(Contains(array.message, "Quota exceeded"));

  Error html = GeminiErrorFromHttpAnswer("g", 502, "<html>Bad Gateway</html>", std::nullopt);
  EXPECT_EQ(KindOf(html), "server");
  EXPECT_EQ(html.message, "g: HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(GeminiErrorFromHttpAnswer("g", 403, "", std::nullopt).code, ErrorCode::kForbidden);

  // Inside a 2xx stream: the code, else the status string.
  EXPECT_EQ(KindOf(GeminiErrorFromObject(json::parse(R"({"code":401,"message":"x"})"), 0, std::nullopt)), "auth");
  EXPECT_EQ(KindOf(GeminiErrorFromObject(json::parse(R"({"message":"x","status":"RESOURCE_EXHAUSTED"})"), 0,
                                         std::nullopt)),
            "rate_limit");
  EXPECT_EQ(KindOf(GeminiErrorFromObject(json::parse(R"({"status":"DEADLINE_EXCEEDED"})"), 0, std::nullopt)),
            "timeout");
  EXPECT_EQ(KindOf(GeminiErrorFromObject(json::parse(R"({"status":"INTERNAL"})"), 0, std::nullopt)), "server");
  EXPECT_EQ(KindOf(GeminiErrorFromObject(json::value("boom"), 0, std::nullopt)), "bad_request");
}

TEST(GeminiStreamAssemblerTest, AssemblesTextCallsAndTheLastUsage) {
  std::vector<std::string> text;
  GeminiStreamAssembler a([&](std::string_view d) { text.emplace_back(d); });
  for (const char* event : {
           R"({"candidates":[{"content":{"role":"model","parts":[{"text":"plan","thought":true}]}}]})",
           R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}],"usageMetadata":{"promptTokenCount":9}})",
           R"({"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]}}],"modelVersion":"g-1"})",
           R"({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"ls","args":{"p":1}},"thoughtSignature":"c2ln"}]},
               "finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":6}})",
           ""}) {
    EXPECT_TRUE(a.OnEvent(event)) << event;
  }
  auto r = a.Finish();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text, (std::vector<std::string>{"Hel", "lo"}));
  EXPECT_EQ(r->response.text, "Hello");
  EXPECT_EQ(r->response.finish_reason, "tool_calls");
  EXPECT_EQ(r->response.model, "g-1");
  EXPECT_EQ(r->response.usage.input, 9);
  EXPECT_EQ(r->response.usage.output, 6);
  ASSERT_EQ(r->response.tool_calls.size(), 1u);
  EXPECT_EQ(r->response.tool_calls[0].arguments, R"({"p":1})");
  EXPECT_EQ(r->signatures, std::vector<std::string>{"c2ln"});
}

TEST(GeminiStreamAssemblerTest, ErrorsAndEarlyEnd) {
  GeminiStreamAssembler error_chunk(nullptr);
  EXPECT_FALSE(error_chunk.OnEvent(R"({"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED",
      "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}})"));
  EXPECT_FALSE(error_chunk.OnEvent(R"({"candidates":[]})"));
  auto r = error_chunk.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "rate_limit");
  EXPECT_EQ(DataInt(r.error(), "retryAfterMs"), 3000);

  GeminiStreamAssembler malformed(nullptr);
  EXPECT_FALSE(malformed.OnEvent("{not json"));
  EXPECT_EQ(KindOf(malformed.Finish().error()), "bad_request");

  GeminiStreamAssembler blocked(nullptr);
  EXPECT_FALSE(blocked.OnEvent(R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}})"));
  EXPECT_EQ(KindOf(blocked.Finish().error()), "bad_request");

  GeminiStreamAssembler early(nullptr);
  EXPECT_TRUE(early.OnEvent(R"({"candidates":[{"content":{"parts":[{"text":"half"}]}}]})"));
  auto ended = early.Finish();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(KindOf(ended.error()), "network");
  EXPECT_TRUE(Contains(ended.error().message, "stream ended early"));
}

// ---- the provider against a local server ----

std::string Event(std::string_view parts_json, std::string_view finish = "", std::string_view extra = "") {
  std::string out = R"(data: {"candidates":[{"content":{"role":"model","parts":)" + std::string(parts_json) + "}";
  if (!finish.empty()) out += R"(,"finishReason":")" + std::string(finish) + "\"";
  out += R"(,"index":0}])" + std::string(extra) + "}\r\n\r\n";
  return out;
}

const std::string kUsage = R"(,"usageMetadata":{"promptTokenCount":21,"candidatesTokenCount":4},"modelVersion":"gemini-test-001")";

class GeminiProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> Make(std::string key = "g-key", std::string path = "/") {
    return MakeGeminiProvider(http, GeminiSettings{"gemini", server.base_url() + path, std::move(key)});
  }
  Result<LlmResponse> Complete(Provider& p, const LlmRequest& req, std::chrono::milliseconds timeout = 5s) {
    deltas.clear();
    return RunCoroutine(io, p.Complete(req, [this](std::string_view d) { deltas.emplace_back(d); }, timeout));
  }
  static LlmRequest Simple(bool stream = true) {
    LlmRequest req;
    req.model = "gemini-test";
    req.stream = stream;
    req.messages.push_back({"user", "hi", {}, "", ""});
    return req;
  }
  void QueueInPieces(const std::string& raw, size_t n) { server.Queue(CannedAnswer{SplitEvery(raw, n), 1ms}); }

  asio::io_context io;
  TestHttpServer server{io.get_executor()};
  HttpClient http{io.get_executor()};
  std::vector<std::string> deltas;
};

TEST_F(GeminiProviderTest, StreamedTextSplitAtAwkwardBoundaries) {
  std::string sse = Event(R"([{"text":"Hel"}])") + Event(R"([{"text":"lo, wör"}])") +
                    Event(R"([{"text":"ld"}])", "STOP", kUsage);
  std::vector<std::string> http_chunks;
  for (size_t i = 0, n = 13; i < sse.size(); i += n, n = n * 7 % 61 + 3) http_chunks.push_back(sse.substr(i, n));
  QueueInPieces(RawChunkedStream(http_chunks), 11);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Hello, wörld");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hel", "lo, wör", "ld"}));
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.input, 21);
  EXPECT_EQ(r->usage.output, 4);
  EXPECT_EQ(r->model, "gemini-test-001");
  EXPECT_TRUE(r->tool_calls.empty());

  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse");
  EXPECT_EQ(req.Header("x-goog-api-key"), "g-key");
  EXPECT_FALSE(req.HasHeader("authorization"));
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.Header("accept"), "text/event-stream");
  EXPECT_EQ(req.Json(), json::parse(R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"));
}

TEST_F(GeminiProviderTest, ToolRoundTripSendsResultsAndTheThoughtSignatureBack) {
  // Round 1 (streamed): the model asks for two tools; Gemini sends no ids.
  std::string sse = Event(R"([{"text":"Let me check."}])") +
                    Event(R"([{"functionCall":{"name":"grep","args":{"pattern":"TODO"}},"thoughtSignature":"U0lHLTE="},)"
                          R"({"functionCall":{"name":"ls","args":{"path":"src"}}}])",  // one SSE line
                          "STOP", kUsage);
  QueueInPieces(RawChunkedStream(SplitEvery(sse, 40)), 17);
  auto provider = Make();
  LlmRequest req = Simple();
  req.tools.push_back({"grep", "Search files",
                       json::parse(R"({"type":"object","properties":{"pattern":{"type":"string"}},"additionalProperties":false})")});
  req.tools.push_back({"ls", "List a directory", json::parse(R"({"type":"object","properties":{"path":{"type":"string"}}})")});
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(deltas, std::vector<std::string>{"Let me check."});
  EXPECT_EQ(r->finish_reason, "tool_calls");
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_1");
  EXPECT_EQ(r->tool_calls[0].name, "grep");
  EXPECT_EQ(r->tool_calls[0].arguments, R"({"pattern":"TODO"})");
  EXPECT_EQ(r->tool_calls[1].id, "call_2");
  EXPECT_EQ(r->tool_calls[1].arguments, R"({"path":"src"})");
  json::value first_body = server.requests().at(0).Json();
  EXPECT_EQ(first_body.at("tools"), json::parse(R"([{"functionDeclarations":[
      {"name":"grep","description":"Search files","parameters":{"type":"object","properties":{"pattern":{"type":"string"}}}},
      {"name":"ls","description":"List a directory","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}]}])"));

  // Round 2 (not streamed): the agent sends the assistant turn back with the results.
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Found 3."}]},
                                             "finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":40,"candidatesTokenCount":3}})")}});
  req.stream = false;
  req.messages.push_back({"assistant", r->text, r->tool_calls, "", ""});
  req.messages.push_back({"tool", "a.cpp:1: TODO", {}, r->tool_calls[0].id, "grep"});
  req.messages.push_back({"tool", "a.cpp\nb.cpp", {}, r->tool_calls[1].id, "ls"});
  auto second = Complete(*provider, req);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->text, "Found 3.");
  EXPECT_EQ(second->finish_reason, "stop");
  EXPECT_EQ(second->usage.input, 40);

  const auto& captured = server.requests().at(1);
  EXPECT_EQ(captured.target, "/v1beta/models/gemini-test:generateContent");
  EXPECT_FALSE(captured.HasHeader("accept"));
  EXPECT_EQ(captured.Json().at("contents"), json::parse(R"([
      {"role":"user","parts":[{"text":"hi"}]},
      {"role":"model","parts":[
        {"text":"Let me check."},
        {"functionCall":{"name":"grep","args":{"pattern":"TODO"}},"thoughtSignature":"U0lHLTE="},
        {"functionCall":{"name":"ls","args":{"path":"src"}}}]},
      {"role":"user","parts":[
        {"functionResponse":{"name":"grep","response":{"content":"a.cpp:1: TODO"}}},
        {"functionResponse":{"name":"ls","response":{"content":"a.cpp\nb.cpp"}}}]}])"));
}

TEST_F(GeminiProviderTest, ServerIdsAreKeptAndEchoedAndNoKeyMeansNoHeader) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"candidates":[{"content":{"role":"model","parts":[
                                             {"functionCall":{"id":"fc_9","name":"exec","args":{"cmd":"ls"}}}]},"finishReason":"STOP"}]})")}});
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"MAX_TOKENS"}]})")}});
  auto provider = Make("", "/v1beta/");  // a base URL that already names the version
  LlmRequest req = Simple(false);
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "fc_9");
  EXPECT_EQ(r->finish_reason, "tool_calls");

  req.messages.push_back({"assistant", "", r->tool_calls, "", ""});
  req.messages.push_back({"tool", "x", {}, "fc_9", "exec"});
  auto second = Complete(*provider, req);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->finish_reason, "length");

  const auto& captured = server.requests().at(1);
  EXPECT_EQ(captured.target, "/v1beta/models/gemini-test:generateContent");
  EXPECT_FALSE(captured.HasHeader("x-goog-api-key"));
  json::value contents = captured.Json().at("contents");
  EXPECT_EQ(contents.at(1), json::parse(R"({"role":"model","parts":[
      {"functionCall":{"name":"exec","args":{"cmd":"ls"},"id":"fc_9"},"thoughtSignature":"skip_thought_signature_validator"}]})"));
  EXPECT_EQ(contents.at(2), json::parse(R"({"role":"user","parts":[
      {"functionResponse":{"name":"exec","response":{"content":"x"},"id":"fc_9"}}]})"));
}

TEST_F(GeminiProviderTest, HttpErrorsAreClassified) {
  struct Case {
    int status;
    std::string headers;
    std::string body;
    std::string kind;
    ErrorCode code;
    std::optional<int64_t> retry_after;
  };
  const std::string quota =
      R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[
          {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}})";
  std::vector<Case> cases = {
      {400, "", R"({"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}})", "bad_request",
       ErrorCode::kInvalidRequest, std::nullopt},
      {401, "", R"({"error":{"code":401,"message":"API key not valid","status":"UNAUTHENTICATED"}})", "auth",
       ErrorCode::kUnauthorized, std::nullopt},
      {403, "", R"({"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}})", "auth",
       ErrorCode::kForbidden, std::nullopt},
      {429, "", quota, "rate_limit", ErrorCode::kUnknownError, 2000},
      {429, "Retry-After: 5\r\n", quota, "rate_limit", ErrorCode::kUnknownError, 5000},
      {503, "", "[" + std::string(R"({"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}})") + "]",
       "server", ErrorCode::kInternalError, std::nullopt},
      {500, "", "Internal Server Error", "server", ErrorCode::kInternalError, std::nullopt},
  };
  auto provider = Make();
  for (const Case& c : cases) {
    for (bool stream : {true, false}) {
      server.Queue(CannedAnswer{{RawResponse(c.status, "Status", c.headers, c.body)}});
      auto r = Complete(*provider, Simple(stream));
      ASSERT_FALSE(r.ok()) << c.status;
      EXPECT_EQ(KindOf(r.error()), c.kind) << c.status;
      EXPECT_EQ(r.error().code, c.code) << c.status;
      EXPECT_EQ(DataInt(r.error(), "httpStatus"), c.status);
      EXPECT_EQ(DataInt(r.error(), "retryAfterMs"), c.retry_after) << c.status << " " << c.headers;
      EXPECT_EQ(r.error().message.rfind("gemini: HTTP " + std::to_string(c.status), 0), 0u) << r.error().message;
    }
  }
  EXPECT_TRUE(deltas.empty());
}

TEST_F(GeminiProviderTest, StreamThatEndsWithoutFinishReasonEndedEarly) {
  server.Queue(CannedAnswer{{RawChunkedStream({Event(R"([{"text":"half an ans"}])")})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_TRUE(Contains(r.error().message, "stream ended early")) << r.error().message;
  EXPECT_EQ(r.error().message.rfind("gemini: ", 0), 0u);
  EXPECT_EQ(deltas, std::vector<std::string>{"half an ans"});  // already delivered
}

TEST_F(GeminiProviderTest, ErrorObjectInsideTheStreamIsAnError) {
  std::string sse = Event(R"([{"text":"Hi"}])") +
                    "data: {\"error\":{\"code\":500,\"message\":\"An internal error has occurred\",\"status\":\"INTERNAL\"}}\n\n";
  QueueInPieces(RawChunkedStream({sse}), 23);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_TRUE(Contains(r.error().message, "An internal error has occurred"));
  EXPECT_EQ(r.error().message.rfind("gemini: stream error", 0), 0u) << r.error().message;
}

TEST_F(GeminiProviderTest, ResetMidStreamIsANetworkErrorAndSilenceATimeout) {
  CannedAnswer reset{{RawChunkedStream({Event(R"([{"text":"partial"}])")}, false)}};
  reset.then = CannedAnswer::Then::kReset;
  server.Queue(reset);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");

  CannedAnswer silent;
  silent.silent = true;
  server.Queue(silent);
  auto t = Complete(*provider, Simple(), 150ms);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(KindOf(t.error()), "timeout");
}

TEST_F(GeminiProviderTest, UnframedJsonArrayAnswerToAStreamRequestIsRead) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"([{"candidates":[{"content":{"parts":[{"text":"who"}]}}]},
                                             {"candidates":[{"content":{"parts":[{"text":"le"}]},"finishReason":"STOP"}]}])")}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "whole");
  EXPECT_EQ(deltas, (std::vector<std::string>{"who", "le"}));
}

TEST_F(GeminiProviderTest, ModelNameIsOnePathSegment) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "", R"({"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}]})")}});
  auto provider = Make();
  LlmRequest req = Simple(false);
  req.model = "models/gemini 2.5?x";
  ASSERT_TRUE(Complete(*provider, req).ok());
  EXPECT_EQ(server.requests().at(0).target, "/v1beta/models/gemini%202.5%3Fx:generateContent");
}

}  // namespace
}  // namespace oc::agent
