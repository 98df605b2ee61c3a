#include "agent/openai_provider.h"

#include <gtest/gtest.h>

#include "agent/openai_wire.h"
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

std::vector<std::string> Events(std::string_view input, size_t piece = 0, size_t max = 1 << 20) {
  SseParser parser(max);
  std::vector<std::string> out;
  auto on_event = [&](std::string_view data) { out.emplace_back(data); };
  if (piece == 0) {
    parser.Feed(input, on_event);
  } else {
    for (size_t i = 0; i < input.size(); i += piece) parser.Feed(input.substr(i, piece), on_event);
  }
  return out;
}

// ---- SseParser ----

TEST(SseParserTest, LfCrlfAndCrLineEndsAreEquivalent) {
  std::vector<std::string> expected = {"one", "two"};
  EXPECT_EQ(Events("data: one\n\ndata: two\n\n"), expected);
  EXPECT_EQ(Events("data: one\r\n\r\ndata: two\r\n\r\n"), expected);
  EXPECT_EQ(Events("data: one\r\rdata: two\r\r"), expected);
  EXPECT_EQ(Events("data: one\r\n\ndata: two\r\r\n"), expected);  // mixed
}

TEST(SseParserTest, ChunkingDoesNotMatterEvenInsideACrlf) {
  std::string input = "data: alpha\r\n\r\n: comment\r\ndata: be\r\ndata: ta\r\n\r\ndata:gamma\r\r";
  auto whole = Events(input);
  ASSERT_EQ(whole, (std::vector<std::string>{"alpha", "be\nta", "gamma"}));
  for (size_t piece = 1; piece <= 7; ++piece) EXPECT_EQ(Events(input, piece), whole) << piece;
}

TEST(SseParserTest, CommentsAndOtherFieldsAreIgnored) {
  EXPECT_EQ(Events(": keep-alive\n\nevent: x\nid: 7\nretry: 10\ndata: payload\n\n"),
            std::vector<std::string>{"payload"});
  EXPECT_TRUE(Events(": only a comment\n\n").empty());  // no data: no event
}

TEST(SseParserTest, DataLinesJoinWithNewlineAndOnlyOneSpaceIsStripped) {
  EXPECT_EQ(Events("data: a\ndata:  b\ndata\ndata:c\n\n"), std::vector<std::string>{"a\n b\n\nc"});
  EXPECT_EQ(Events("data:\n\n"), std::vector<std::string>{""});
}

TEST(SseParserTest, AnEventWithoutItsBlankLineWaitsForFlush) {
  SseParser parser;
  std::vector<std::string> out;
  auto on_event = [&](std::string_view d) { out.emplace_back(d); };
  EXPECT_TRUE(parser.Feed("data: [DONE]\n", on_event));
  EXPECT_TRUE(out.empty());
  parser.Flush(on_event);
  EXPECT_EQ(out, std::vector<std::string>{"[DONE]"});

  SseParser partial_line;
  out.clear();
  EXPECT_TRUE(partial_line.Feed("data: tail", on_event));
  partial_line.Flush(on_event);
  EXPECT_EQ(out, std::vector<std::string>{"tail"});
}

TEST(SseParserTest, OversizedEventStopsTheParser) {
  SseParser parser(16);
  std::vector<std::string> out;
  auto on_event = [&](std::string_view d) { out.emplace_back(d); };
  EXPECT_TRUE(parser.Feed("data: short\n\n", on_event));
  EXPECT_FALSE(parser.Feed("data: 0123456789abcdef\n\n", on_event));
  EXPECT_FALSE(parser.Feed("data: x\n\n", on_event));  // stays stopped
  EXPECT_EQ(out, std::vector<std::string>{"short"});

  SseParser lines(16);  // many small data lines add up
  EXPECT_FALSE(lines.Feed("data: 12345\ndata: 12345\ndata: 12345\n", on_event));
  SseParser endless(16);  // a line that never ends
  EXPECT_FALSE(endless.Feed(std::string(40, 'x'), on_event));
}

// ---- request body ----

TEST(ChatBodyTest, CarriesMessagesToolsAndOptions) {
  LlmRequest req;
  req.model = "gpt-4o";
  req.messages.push_back({"system", "be brief", {}, "", ""});
  req.messages.push_back({"user", "weather?", {}, "", ""});
  req.messages.push_back({"assistant", "", {{"call_1", "get_weather", "{\"city\":\"Oslo\"}"}, {"call_2", "now", ""}}, "", ""});
  req.messages.push_back({"tool", "12C", {}, "call_1", "get_weather"});
  req.tools.push_back({"get_weather", "Weather for a city", json::parse(R"({"type":"object","properties":{"city":{"type":"string"}}})")});
  req.tools.push_back({"now", "The time", nullptr});
  req.max_tokens = 256;
  req.temperature = 0.5;
  json::value body = json::parse(BuildChatCompletionsBody(req));

  EXPECT_EQ(body.at("model"), "gpt-4o");
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("stream_options"), json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(body.at("max_tokens"), 256);
  EXPECT_EQ(body.at("temperature"), 0.5);
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0], json::parse(R"({"role":"system","content":"be brief"})"));
  EXPECT_EQ(messages[1], json::parse(R"({"role":"user","content":"weather?"})"));
  EXPECT_EQ(messages[2], json::parse(R"({"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
      {"id":"call_2","type":"function","function":{"name":"now","arguments":"{}"}}]})"));
  EXPECT_EQ(messages[3], json::parse(R"({"role":"tool","tool_call_id":"call_1","content":"12C"})"));
  EXPECT_EQ(body.at("tools"), json::parse(R"([
      {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
      {"type":"function","function":{"name":"now","description":"The time","parameters":{"type":"object"}}}])"));
}

TEST(ChatBodyTest, NonStreamingHasNoStreamOptionsAndNoToolsKeyWithoutTools) {
  LlmRequest req;
  req.model = "m";
  req.stream = false;
  req.messages.push_back({"assistant", "text and a call", {{"c", "f", "{}"}}, "", ""});
  json::value body = json::parse(BuildChatCompletionsBody(req));
  EXPECT_EQ(body.at("stream"), false);
  EXPECT_FALSE(body.as_object().contains("stream_options"));
  EXPECT_FALSE(body.as_object().contains("tools"));
  EXPECT_FALSE(body.as_object().contains("max_tokens"));
  EXPECT_FALSE(body.as_object().contains("temperature"));
  EXPECT_EQ(body.at("messages").at(0).at("content"), "text and a call");
}

// ---- non-streamed answers ----

TEST(ParseChatCompletionTest, TextToolCallsUsageAndModel) {
  auto r = ParseChatCompletion(R"({"id":"x","model":"gpt-4o-2024","choices":[{"index":0,"finish_reason":"tool_calls",
      "message":{"role":"assistant","content":null,"tool_calls":[
        {"id":"call_a","type":"function","function":{"name":"ls","arguments":"{\"path\":\".\"}"}},
        {"id":"call_b","type":"function","function":{"name":"read","arguments":{"path":"x"}}}]}}],
      "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->model, "gpt-4o-2024");
  EXPECT_EQ(r->usage.input, 11);
  EXPECT_EQ(r->usage.output, 7);
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_a");
  EXPECT_EQ(r->tool_calls[0].name, "ls");
  EXPECT_EQ(r->tool_calls[0].arguments, "{\"path\":\".\"}");
  EXPECT_EQ(json::parse(r->tool_calls[1].arguments), json::parse(R"({"path":"x"})"));  // object → text
}

TEST(ParseChatCompletionTest, ContentPartsAreJoined) {
  auto r = ParseChatCompletion(R"({"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "ab");
}

TEST(ParseChatCompletionTest, MalformedAnswersAreBadRequest) {
  for (const char* body : {"", "not json", "[]", "{}", R"({"choices":[]})", R"({"choices":[{"index":0}]})"}) {
    auto r = ParseChatCompletion(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << body;
    EXPECT_EQ(KindOf(r.error()), "bad_request") << body;
  }
}

TEST(ParseChatCompletionTest, ErrorObjectInA200IsAnError) {
  auto r = ParseChatCompletion(R"({"error":{"message":"upstream overloaded","code":502}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_EQ(DataInt(r.error(), "httpStatus"), 502);
  EXPECT_NE(r.error().message.find("upstream overloaded"), std::string::npos);
}

// ---- error classification ----

TEST(ErrorClassificationTest, StatusToKind) {
  EXPECT_EQ(KindForHttpStatus(400), "bad_request");
  EXPECT_EQ(KindForHttpStatus(404), "bad_request");
  EXPECT_EQ(KindForHttpStatus(401), "auth");
  EXPECT_EQ(KindForHttpStatus(403), "auth");
  EXPECT_EQ(KindForHttpStatus(408), "timeout");
  EXPECT_EQ(KindForHttpStatus(429), "rate_limit");
  EXPECT_EQ(KindForHttpStatus(500), "server");
  EXPECT_EQ(KindForHttpStatus(503), "server");
}

TEST(ErrorClassificationTest, RetryAfterForms) {
  EXPECT_EQ(ParseRetryAfter("", "2", 0), 2000);
  EXPECT_EQ(ParseRetryAfter("50", "2", 0), 50);  // the ms header wins
  EXPECT_EQ(ParseRetryAfter("12.5", "", 0), 13);
  EXPECT_EQ(ParseRetryAfter("", "0.5", 0), 500);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
  EXPECT_EQ(ParseRetryAfter("", "Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000);
  EXPECT_EQ(ParseRetryAfter("", "Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);  // in the past
  EXPECT_EQ(ParseRetryAfter("", "", 0), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", "-1", 0), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", "Sun, 06 Foo 1994 08:49:37 GMT", 0), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", "99999999999", 0), 24LL * 3600 * 1000);  // capped
}

TEST(ErrorClassificationTest, MessageComesFromTheErrorObject) {
  Error e = ErrorFromHttpAnswer("openai", 400,
                                R"({"error":{"message":"Invalid 'messages'","type":"invalid_request_error","code":"bad_msgs"}})",
                                std::nullopt);
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.message, "openai: HTTP 400: Invalid 'messages' (bad_msgs)");
  EXPECT_EQ(DataInt(e, "httpStatus"), 400);
  EXPECT_FALSE(DataInt(e, "retryAfterMs").has_value());

  Error plain = ErrorFromHttpAnswer("local", 502, "<html>Bad Gateway</html>", 1500);
  EXPECT_EQ(plain.code, ErrorCode::kInternalError);
  EXPECT_EQ(plain.message, "local: HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(DataInt(plain, "retryAfterMs"), 1500);
}

// ---- stream assembly ----

TEST(ChatStreamAssemblerTest, MergesToolCallDeltasByIndex) {
  std::string text;
  ChatStreamAssembler a([&](std::string_view d) { text.append(d); });
  for (const char* event : {
           R"({"model":"m1","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me"},"finish_reason":null}],"usage":null})",
           R"({"choices":[{"index":0,"delta":{"content":" check."}}]})",
           R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":""}}]}}]})",
           R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]}}]})",
           R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"ls","arguments":"{}"}}]}}]})",
           R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":1}"}}]}}]})",
           R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
           R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9}})", "[DONE]",
           R"(garbage after done is ignored)"}) {
    EXPECT_TRUE(a.OnEvent(event)) << event;
  }
  auto r = a.Finish();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text, "Let me check.");
  EXPECT_EQ(r->text, "Let me check.");
  EXPECT_EQ(r->model, "m1");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input, 5);
  EXPECT_EQ(r->usage.output, 9);
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_1");
  EXPECT_EQ(r->tool_calls[0].name, "read");
  EXPECT_EQ(r->tool_calls[0].arguments, "{\"path\":1}");
  EXPECT_EQ(r->tool_calls[1].id, "call_2");
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
}

TEST(ChatStreamAssemblerTest, ErrorsAndEarlyEnd) {
  ChatStreamAssembler error_chunk(nullptr);
  EXPECT_FALSE(error_chunk.OnEvent(R"({"error":{"message":"Rate limit reached","type":"rate_limit_error"}})"));
  EXPECT_FALSE(error_chunk.OnEvent("[DONE]"));
  auto r = error_chunk.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "rate_limit");

  ChatStreamAssembler malformed(nullptr);
  EXPECT_FALSE(malformed.OnEvent("{not json"));
  EXPECT_EQ(KindOf(malformed.Finish().error()), "bad_request");

  ChatStreamAssembler early(nullptr);
  EXPECT_TRUE(early.OnEvent(R"({"choices":[{"delta":{"content":"half"}}]})"));
  auto ended = early.Finish();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(KindOf(ended.error()), "network");
  EXPECT_EQ(ended.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(ended.error().message.find("stream ended early"), std::string::npos);

  ChatStreamAssembler finished(nullptr);  // finish_reason without [DONE] is complete enough
  EXPECT_TRUE(finished.OnEvent(R"({"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]})"));
  EXPECT_TRUE(finished.Finish().ok());
}

// ---- the provider against a local server ----

std::string Chunk(std::string_view delta_json, std::string_view finish = "null") {
  return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"delta\":" +
         std::string(delta_json) + ",\"finish_reason\":" + std::string(finish) + "}],\"usage\":null}\r\n\r\n";
}

const std::string kUsageChunk =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":4,\"total_tokens\":25}}\r\n\r\n";
const std::string kDone = "data: [DONE]\r\n\r\n";

class OpenAiProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> Make(std::string key = "sk-test") {
    return MakeOpenAiProvider(http, OpenAiSettings{"openai", server.base_url() + "/v1/", std::move(key)});
  }
  Result<LlmResponse> Complete(Provider& p, const LlmRequest& req, std::chrono::milliseconds timeout = 5s) {
    deltas.clear();
    return RunCoroutine(io, p.Complete(req, [this](std::string_view d) { deltas.emplace_back(d); }, timeout));
  }
  static LlmRequest Simple(bool stream = true) {
    LlmRequest req;
    req.model = "gpt-test";
    req.stream = stream;
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

TEST_F(OpenAiProviderTest, StreamedTextSplitAtAwkwardBoundaries) {
  // HTTP chunks that cut SSE lines, the CRLF of an event, and the JSON.
  std::string sse = Chunk(R"({"role":"assistant","content":""})") + Chunk(R"({"content":"Hel"})") +
                    Chunk(R"({"content":"lo, wor"})") + Chunk(R"({"content":"ld"})") + Chunk("{}", "\"stop\"") +
                    kUsageChunk + kDone;
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
  EXPECT_EQ(r->model, "gpt-test");
  EXPECT_TRUE(r->tool_calls.empty());

  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/chat/completions");  // trailing '/' of the base URL dropped
  EXPECT_EQ(req.Header("authorization"), "Bearer sk-test");
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.Header("accept"), "text/event-stream");
  json::value body = req.Json();
  EXPECT_EQ(body.at("model"), "gpt-test");
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
  EXPECT_EQ(body.at("messages"), json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST_F(OpenAiProviderTest, StreamedToolCallsAcrossChunks) {
  std::string sse =
      Chunk(R"({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"grep","arguments":""}}]})") +
      Chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"pattern\":"}}]})") +
      Chunk(R"({"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"ls","arguments":"{\"path\""}}]})") +
      Chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"TODO\"}"}}]})") +
      Chunk(R"({"tool_calls":[{"index":1,"function":{"arguments":":\"src\"}"}}]})") + Chunk("{}", "\"tool_calls\"") +
      kUsageChunk + kDone;
  QueueInPieces(RawChunkedStream(SplitEvery(sse, 40)), 17);
  auto provider = Make();
  LlmRequest req = Simple();
  req.tools.push_back({"grep", "Search files", json::parse(R"({"type":"object","properties":{"pattern":{"type":"string"}}})")});
  req.tools.push_back({"ls", "List a directory", nullptr});
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(deltas.empty());  // arguments never reach the text sink
  EXPECT_EQ(r->finish_reason, "tool_calls");
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_A");
  EXPECT_EQ(r->tool_calls[0].name, "grep");
  EXPECT_EQ(r->tool_calls[0].arguments, R"({"pattern":"TODO"})");
  EXPECT_EQ(r->tool_calls[1].id, "call_B");
  EXPECT_EQ(r->tool_calls[1].name, "ls");
  EXPECT_EQ(r->tool_calls[1].arguments, R"({"path":"src"})");

  json::value body = server.requests().at(0).Json();
  ASSERT_EQ(body.at("tools").as_array().size(), 2u);
  EXPECT_EQ(body.at("tools").at(0).at("function").at("name"), "grep");
  EXPECT_EQ(body.at("tools").at(1).at("function").at("parameters"), json::parse(R"({"type":"object"})"));
}

TEST_F(OpenAiProviderTest, ToolResultsGoBackAsToolMessagesAndNoKeyMeansNoAuthorization) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Done."},"finish_reason":"stop"}],
                                             "usage":{"prompt_tokens":3,"completion_tokens":2}})")}});
  auto provider = Make("");
  LlmRequest req = Simple(false);
  req.messages.push_back({"assistant", "", {{"call_A", "ls", "{\"path\":\".\"}"}}, "", ""});
  req.messages.push_back({"tool", "a.txt\nb.txt", {}, "call_A", "ls"});
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Done.");
  EXPECT_EQ(r->usage.input, 3);

  const auto& captured = server.requests().at(0);
  EXPECT_FALSE(captured.HasHeader("authorization"));
  EXPECT_FALSE(captured.HasHeader("accept"));
  json::value body = captured.Json();
  EXPECT_EQ(body.at("stream"), false);
  EXPECT_FALSE(body.as_object().contains("stream_options"));
  EXPECT_EQ(body.at("messages").at(1), json::parse(R"({"role":"assistant","content":null,"tool_calls":[
      {"id":"call_A","type":"function","function":{"name":"ls","arguments":"{\"path\":\".\"}"}}]})"));
  EXPECT_EQ(body.at("messages").at(2), json::parse(R"({"role":"tool","tool_call_id":"call_A","content":"a.txt\nb.txt"})"));
}

TEST_F(OpenAiProviderTest, NonStreamedToolCalls) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"model":"gpt-test-1","choices":[{"index":0,"message":{"role":"assistant","content":null,
                                             "tool_calls":[{"id":"call_9","type":"function","function":{"name":"exec","arguments":"{\"cmd\":\"ls\"}"}}]},
                                             "finish_reason":"tool_calls"}]})")}});
  auto provider = Make();
  auto r = Complete(*provider, Simple(false));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->finish_reason, "tool_calls");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_9");
  EXPECT_EQ(r->tool_calls[0].name, "exec");
  EXPECT_EQ(r->tool_calls[0].arguments, "{\"cmd\":\"ls\"}");
  EXPECT_EQ(r->model, "gpt-test-1");
}

TEST_F(OpenAiProviderTest, HttpErrorsAreClassified) {
  struct Case {
    int status;
    std::string headers;
    std::string body;
    std::string kind;
    ErrorCode code;
    std::optional<int64_t> retry_after;
  };
  std::vector<Case> cases = {
      {400, "", R"({"error":{"message":"bad tools","type":"invalid_request_error","param":"tools","code":null}})",
       "bad_request", ErrorCode::kInvalidRequest, std::nullopt},
      {401, "", R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})",
       "auth", ErrorCode::kUnauthorized, std::nullopt},
      {403, "", R"({"error":{"message":"forbidden"}})", "auth", ErrorCode::kForbidden, std::nullopt},
      {429, "Retry-After: 2\r\n", R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
       "rate_limit", ErrorCode::kUnknownError, 2000},
      {429, "retry-after-ms: 50\r\nRetry-After: 1\r\n", R"({"error":{"message":"slow down"}})", "rate_limit",
       ErrorCode::kUnknownError, 50},
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
      EXPECT_EQ(DataInt(r.error(), "retryAfterMs"), c.retry_after) << c.status;
      EXPECT_EQ(r.error().message.rfind("openai: HTTP " + std::to_string(c.status), 0), 0u) << r.error().message;
    }
  }
  EXPECT_TRUE(deltas.empty());
}

TEST_F(OpenAiProviderTest, SilentServerIsATimeout) {
  CannedAnswer silent;
  silent.silent = true;
  server.Queue(silent);
  auto provider = Make();
  auto r = Complete(*provider, Simple(), 150ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "timeout");
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST_F(OpenAiProviderTest, ResetMidStreamIsANetworkError) {
  std::string head = RawChunkedStream({Chunk(R"({"content":"partial"})")}, false);
  CannedAnswer answer{{head}};
  answer.then = CannedAnswer::Then::kReset;
  server.Queue(answer);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
}

TEST_F(OpenAiProviderTest, StreamThatEndsWithoutDoneOrFinishReasonEndedEarly) {
  server.Queue(CannedAnswer{{RawChunkedStream({Chunk(R"({"content":"half an ans"})")})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_NE(r.error().message.find("stream ended early"), std::string::npos) << r.error().message;
  EXPECT_EQ(deltas, std::vector<std::string>{"half an ans"});  // already delivered
}

TEST_F(OpenAiProviderTest, StreamEndingWithFinishReasonAndUnterminatedDoneIsComplete) {
  std::string sse = Chunk(R"({"content":"ok"})") + Chunk("{}", "\"stop\"") + "data: [DONE]\n";  // no blank line
  server.Queue(CannedAnswer{{RawChunkedStream({sse})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "ok");
}

TEST_F(OpenAiProviderTest, ErrorObjectInsideTheStreamIsAnError) {
  std::string sse = Chunk(R"({"content":"Hi"})") +
                    "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
  QueueInPieces(RawChunkedStream({sse}), 23);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_NE(r.error().message.find("The server had an error"), std::string::npos);
  EXPECT_EQ(r.error().message.rfind("openai: ", 0), 0u);
}

TEST_F(OpenAiProviderTest, ServerIgnoringStreamTrueIsReadAsJson) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"choices":[{"message":{"content":"whole"},"finish_reason":"stop"}]})")}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "whole");
}

TEST_F(OpenAiProviderTest, UnreachableServerIsANetworkError) {
  auto provider = MakeOpenAiProvider(http, OpenAiSettings{"local", "http://127.0.0.1:1/v1", ""});
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(provider->name(), "local");
  EXPECT_EQ(r.error().message.rfind("local: ", 0), 0u);
}

TEST_F(OpenAiProviderTest, ConsecutiveCallsShareOneConnection) {
  std::string sse = Chunk(R"({"content":"x"})", "\"stop\"") + kDone;
  server.Queue(CannedAnswer{{RawChunkedStream({sse})}});
  server.Queue(CannedAnswer{{RawChunkedStream({sse})}});
  auto provider = Make();
  ASSERT_TRUE(Complete(*provider, Simple()).ok());
  ASSERT_TRUE(Complete(*provider, Simple()).ok());
  EXPECT_EQ(server.accepts(), 1);
}

}  // namespace
}  // namespace oc::agent
