#include "agent/ollama_provider.h"

#include <gtest/gtest.h>

#include "agent/ollama_wire.h"
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

struct Framed {
  std::vector<std::string> lines;
  bool ok = true;
};

// Feeds `input` in pieces of `piece` bytes (0: at once), then flushes.
Framed Lines(std::string_view input, size_t piece = 0, size_t max = 1 << 20) {
  NdjsonParser parser(max);
  Framed out;
  auto on_line = [&](std::string_view line) { out.lines.emplace_back(line); };
  if (piece == 0) piece = input.size() + 1;
  for (size_t i = 0; i < input.size() && out.ok; i += piece) out.ok = parser.Feed(input.substr(i, piece), on_line);
  parser.Flush(on_line);
  return out;
}

// ---- NdjsonParser ----

TEST(NdjsonParserTest, SplitsAtNewlinesAndDropsTheCrOfCrlf) {
  std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":2}"};
  EXPECT_EQ(Lines("{\"a\":1}\n{\"b\":2}\n").lines, expected);
  EXPECT_EQ(Lines("{\"a\":1}\r\n{\"b\":2}\r\n").lines, expected);
  EXPECT_EQ(Lines("{\"a\":1}\r\n{\"b\":2}\n").lines, expected);  // mixed
  // A lone \r is not a line end in NDJSON; it stays inside the line.
  EXPECT_EQ(Lines("a\rb\n").lines, std::vector<std::string>{"a\rb"});
}

TEST(NdjsonParserTest, BlankAndWhitespaceLinesAreSkipped) {
  EXPECT_EQ(Lines("\n\r\n  \t\n{}\n\n \r\n[]\n").lines, (std::vector<std::string>{"{}", "[]"}));
  EXPECT_TRUE(Lines("").lines.empty());
  EXPECT_TRUE(Lines("\n\n\r\n").lines.empty());
}

TEST(NdjsonParserTest, ChunkingDoesNotMatterEvenInsideACrlf) {
  std::string input = "{\"message\":{\"content\":\"He\"}}\r\n\r\n{\"message\":{\"content\":\"llo\"}}\n{\"done\":true}\r\n";
  auto whole = Lines(input);
  ASSERT_EQ(whole.lines.size(), 3u);
  for (size_t piece = 1; piece <= 9; ++piece) EXPECT_EQ(Lines(input, piece).lines, whole.lines) << piece;
}

TEST(NdjsonParserTest, ALastLineWithoutNewlineWaitsForFlush) {
  NdjsonParser parser;
  std::vector<std::string> out;
  auto on_line = [&](std::string_view l) { out.emplace_back(l); };
  EXPECT_TRUE(parser.Feed("{\"one\":1}\n{\"done\":", on_line));
  EXPECT_EQ(out, std::vector<std::string>{"{\"one\":1}"});
  EXPECT_TRUE(parser.Feed("true}\r", on_line));
  EXPECT_EQ(out.size(), 1u);
  parser.Flush(on_line);
  EXPECT_EQ(out, (std::vector<std::string>{"{\"one\":1}", "{\"done\":true}"}));
}

TEST(NdjsonParserTest, OversizedLineStopsTheParserForGood) {
  NdjsonParser parser(8);
  std::vector<std::string> out;
  auto on_line = [&](std::string_view l) { out.emplace_back(l); };
  EXPECT_TRUE(parser.Feed("12345678\n", on_line));  // exactly the limit is fine
  EXPECT_FALSE(parser.Feed("abc\n123456789\n", on_line));
  EXPECT_TRUE(parser.failed());
  EXPECT_FALSE(parser.Feed("x\n", on_line));  // stays stopped
  parser.Flush(on_line);
  EXPECT_EQ(out, (std::vector<std::string>{"12345678", "abc"}));

  NdjsonParser endless(8);  // a line that never ends, fed in small pieces
  EXPECT_TRUE(endless.Feed("12345", on_line));
  EXPECT_FALSE(endless.Feed("6789", on_line));
}

// ---- request body ----

TEST(OllamaBodyTest, CarriesMessagesToolsToolResultsAndOptions) {
  LlmRequest req;
  req.model = "llama3.2";
  req.messages.push_back({"system", "be brief", {}, "", ""});
  req.messages.push_back({"user", "weather?", {}, "", ""});
  req.messages.push_back({"assistant", "Checking.",
                          {{"call_1", "get_weather", "{\"city\":\"Oslo\"}"}, {"call_2", "now", ""}, {"c3", "bad", "[1,"}},
                          "", ""});
  req.messages.push_back({"tool", "12C", {}, "call_1", "get_weather"});
  req.tools.push_back({"get_weather", "Weather for a city",
                       json::parse(R"({"type":"object","properties":{"city":{"type":"string"}}})")});
  req.tools.push_back({"now", "The time", nullptr});
  req.max_tokens = 256;
  req.temperature = 0.5;
  json::value body = json::parse(BuildOllamaChatBody(req));

  EXPECT_EQ(body.at("model"), "llama3.2");
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("options"), json::parse(R"({"num_predict":256,"temperature":0.5})"));
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0], json::parse(R"({"role":"system","content":"be brief"})"));
  EXPECT_EQ(messages[1], json::parse(R"({"role":"user","content":"weather?"})"));
  // Arguments go out as objects; empty or unparseable text becomes {}. No ids: Ollama has none.
  EXPECT_EQ(messages[2], json::parse(R"({"role":"assistant","content":"Checking.","tool_calls":[
      {"function":{"name":"get_weather","arguments":{"city":"Oslo"}}},
      {"function":{"name":"now","arguments":{}}},
      {"function":{"name":"bad","arguments":{}}}]})"));
  EXPECT_EQ(messages[3], json::parse(R"({"role":"tool","content":"12C","tool_name":"get_weather"})"));
  EXPECT_EQ(body.at("tools"), json::parse(R"([
      {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
      {"type":"function","function":{"name":"now","description":"The time","parameters":{"type":"object"}}}])"));
}

TEST(OllamaBodyTest, NoToolsNoOptionsWhenUnset) {
  LlmRequest req;
  req.model = "m";
  req.stream = false;
  req.messages.push_back({"user", "hi", {}, "", ""});
  json::value body = json::parse(BuildOllamaChatBody(req));
  EXPECT_EQ(body, json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false})"));
}

// ---- non-streamed answers ----

TEST(OllamaParseTest, PlainAnswerWithUsage) {
  auto r = ParseOllamaChat(R"({"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z",
      "message":{"role":"assistant","content":"Hello! How are you today?"},"done_reason":"stop","done":true,
      "total_duration":5191566416,"prompt_eval_count":26,"eval_count":298})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Hello! How are you today?");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->model, "llama3.2");
  EXPECT_EQ(r->usage.input, 26);
  EXPECT_EQ(r->usage.output, 298);
  EXPECT_TRUE(r->tool_calls.empty());
}

TEST(OllamaParseTest, ToolCallsGetSynthesisedIdsAndTheirArgumentsAsText) {
  auto r = ParseOllamaChat(R"({"model":"llama3.2","message":{"role":"assistant","content":"",
      "tool_calls":[{"function":{"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}},
                    {"function":{"name":"now"}},
                    {"id":"srv_7","function":{"name":"echo","arguments":"{\"x\":1}"}}]},
      "done_reason":"stop","done":true})",
                           40);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->finish_reason, "tool_calls");  // Ollama says "stop" beside tool calls
  ASSERT_EQ(r->tool_calls.size(), 3u);
  EXPECT_EQ(r->tool_calls[0].id, "call_40");
  EXPECT_EQ(r->tool_calls[0].name, "get_current_weather");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json::parse(R"({"format":"celsius","location":"Paris, FR"})"));
  EXPECT_EQ(r->tool_calls[1].id, "call_41");
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
  EXPECT_EQ(r->tool_calls[2].id, "srv_7");  // a server that sends ids keeps them
  EXPECT_EQ(r->tool_calls[2].arguments, "{\"x\":1}");
}

TEST(OllamaParseTest, LengthAndOtherReasonsAreKept) {
  auto r = ParseOllamaChat(R"({"message":{"content":"cut"},"done":true,"done_reason":"length"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, "length");
  r = ParseOllamaChat(R"({"message":{"content":""},"done":true,"done_reason":"load"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, "load");
  r = ParseOllamaChat(R"({"message":{"content":"x"},"done":true})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST(OllamaParseTest, ErrorsAndMalformedBodies) {
  auto error = ParseOllamaChat(R"({"error":"an error was encountered while running the model"})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(KindOf(error.error()), "server");
  EXPECT_TRUE(Contains(error.error().message, "an error was encountered")) << error.error().message;

  for (std::string_view bad : {"", "{not json", "[1,2]", R"({"done":true})", "\"text\""}) {
    auto r = ParseOllamaChat(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(KindOf(r.error()), "bad_request") << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(OllamaParseTest, ABodyOfSeveralLinesIsAssembledLikeAStream) {
  auto r = ParseOllamaChat("{\"message\":{\"content\":\"a\"},\"done\":false}\n"
                           "{\"message\":{\"content\":\"b\"},\"done\":true,\"eval_count\":2}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "ab");
  EXPECT_EQ(r->usage.output, 2);
}

// ---- stream assembly ----

TEST(OllamaStreamAssemblerTest, TextToolCallsUsageAndDone) {
  std::vector<std::string> deltas;
  OllamaStreamAssembler a([&](std::string_view d) { deltas.emplace_back(d); }, 3);
  for (const char* line :
       {R"({"model":"qwen3","created_at":"t","message":{"role":"assistant","content":"Let me "},"done":false})",
        R"({"model":"qwen3","message":{"role":"assistant","content":""},"done":false})",
        R"({"model":"qwen3","message":{"role":"assistant","content":"check."},"done":false})",
        R"({"model":"qwen3","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"read","arguments":{"path":"a"}}}]},"done":false})",
        R"({"model":"qwen3","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"ls","arguments":{}}}]},"done":false})",
        R"({"model":"qwen3","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":7})",
        "garbage after done is ignored"}) {
    EXPECT_TRUE(a.OnLine(line)) << line;
  }
  EXPECT_TRUE(a.done());
  EXPECT_EQ(a.next_call_number(), 5u);
  auto r = a.Finish();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(deltas, (std::vector<std::string>{"Let me ", "check."}));  // no empty deltas
  EXPECT_EQ(r->text, "Let me check.");
  EXPECT_EQ(r->model, "qwen3");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input, 12);
  EXPECT_EQ(r->usage.output, 7);
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_3");
  EXPECT_EQ(r->tool_calls[0].name, "read");
  EXPECT_EQ(r->tool_calls[0].arguments, R"({"path":"a"})");
  EXPECT_EQ(r->tool_calls[1].id, "call_4");
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
}

TEST(OllamaStreamAssemblerTest, ErrorLinesMalformedLinesAndEarlyEnd) {
  OllamaStreamAssembler error_line(nullptr);
  EXPECT_TRUE(error_line.OnLine(R"({"message":{"content":"Hi"},"done":false})"));
  EXPECT_FALSE(error_line.OnLine(R"({"error":"model runner has unexpectedly stopped"})"));
  EXPECT_FALSE(error_line.OnLine(R"({"done":true})"));  // ignored after the error
  auto r = error_line.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_EQ(r.error().code, ErrorCode::kInternalError);
  EXPECT_TRUE(Contains(r.error().message, "model runner has unexpectedly stopped"));

  OllamaStreamAssembler malformed(nullptr);
  EXPECT_FALSE(malformed.OnLine("{\"message\":"));
  EXPECT_EQ(KindOf(malformed.Finish().error()), "bad_request");

  OllamaStreamAssembler early(nullptr);
  EXPECT_TRUE(early.OnLine(R"({"message":{"content":"half"},"done":false})"));
  auto ended = early.Finish();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(KindOf(ended.error()), "network");
  EXPECT_EQ(ended.error().code, ErrorCode::kConnectionClosed);
  EXPECT_TRUE(Contains(ended.error().message, "stream ended early"));
}

// ---- the provider against a local server ----

std::string Line(std::string_view content, bool done = false, std::string_view extra = "") {
  std::string out = "{\"model\":\"llama3.2\",\"created_at\":\"2025-05-27T22:54:57.641643Z\",\"message\":{\"role\":"
                    "\"assistant\",\"content\":\"" +
                    std::string(content) + "\"" + std::string(extra) + "},\"done\":" + (done ? "true" : "false");
  if (done) out += ",\"done_reason\":\"stop\",\"total_duration\":174560334,\"prompt_eval_count\":11,\"eval_count\":18";
  return out + "}\n";
}

// A chunked 200 answer with Ollama's content type.
std::string NdjsonStream(const std::vector<std::string>& chunks, bool terminate = true) {
  std::string raw = RawChunkedStream(chunks, terminate);
  const std::string sse = "text/event-stream";
  raw.replace(raw.find(sse), sse.size(), "application/x-ndjson");
  return raw;
}

class OllamaProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<Provider> Make(std::string key = "", std::string suffix = "") {
    return MakeOllamaProvider(http, OllamaSettings{"ollama", server.base_url() + suffix, std::move(key)});
  }
  Result<LlmResponse> Complete(Provider& p, const LlmRequest& req, std::chrono::milliseconds timeout = 5s) {
    deltas.clear();
    return RunCoroutine(io, p.Complete(req, [this](std::string_view d) { deltas.emplace_back(d); }, timeout));
  }
  static LlmRequest Simple(bool stream = true) {
    LlmRequest req;
    req.model = "llama3.2";
    req.stream = stream;
    req.messages.push_back({"user", "hi", {}, "", ""});
    return req;
  }
  // Serves `raw` cut into pieces of `n` bytes with a short pause between them, so each read sees a
  // fragment (NDJSON lines, CRLFs and chunk headers split anywhere).
  void QueueInPieces(const std::string& raw, size_t n) { server.Queue(CannedAnswer{SplitEvery(raw, n), 1ms}); }

  asio::io_context io;
  TestHttpServer server{io.get_executor()};
  HttpClient http{io.get_executor()};
  std::vector<std::string> deltas;
};

TEST_F(OllamaProviderTest, StreamedTextSplitAtAwkwardBoundaries) {
  std::string ndjson = Line("Hel") + Line("lo, wor") + Line("") + Line("ld") + Line("", true);
  ndjson.replace(ndjson.find("}\n"), 2, "}\r\n");  // one CRLF line end
  std::vector<std::string> http_chunks;
  for (size_t i = 0, n = 13; i < ndjson.size(); i += n, n = n * 7 % 61 + 3) http_chunks.push_back(ndjson.substr(i, n));
  QueueInPieces(NdjsonStream(http_chunks), 11);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Hello, world");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hel", "lo, wor", "ld"}));
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.input, 11);
  EXPECT_EQ(r->usage.output, 18);
  EXPECT_EQ(r->model, "llama3.2");
  EXPECT_TRUE(r->tool_calls.empty());

  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/api/chat");
  EXPECT_FALSE(req.HasHeader("authorization"));  // no key: no auth (a local Ollama)
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.Header("accept"), "application/x-ndjson");
  EXPECT_EQ(req.Json(), json::parse(R"({"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true})"));
}

TEST_F(OllamaProviderTest, ApiKeyIsSentAsBearerAndAV1SuffixIsDropped) {
  server.Queue(CannedAnswer{{NdjsonStream({Line("ok", true)})}});
  auto provider = Make("secret-key", "/v1/");
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "ok");
  const auto& req = server.requests().at(0);
  EXPECT_EQ(req.target, "/api/chat");
  EXPECT_EQ(req.Header("authorization"), "Bearer secret-key");
}

TEST_F(OllamaProviderTest, ToolRoundTrip) {
  // 1: the model asks for two tools (whole calls, arguments as objects), streamed.
  std::string first =
      Line("", false, R"(,"tool_calls":[{"function":{"name":"grep","arguments":{"pattern":"TODO","max":3}}}])") +
      Line("", false, R"(,"tool_calls":[{"function":{"name":"ls","arguments":{}}}])") + Line("", true);
  QueueInPieces(NdjsonStream(SplitEvery(first, 29)), 7);
  auto provider = Make();
  LlmRequest req = Simple();
  req.tools.push_back({"grep", "Search files",
                       json::parse(R"({"type":"object","properties":{"pattern":{"type":"string"}}})")});
  req.tools.push_back({"ls", "List a directory", nullptr});
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(r->finish_reason, "tool_calls");
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].name, "grep");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json::parse(R"({"pattern":"TODO","max":3})"));
  EXPECT_EQ(r->tool_calls[1].name, "ls");
  EXPECT_EQ(r->tool_calls[1].arguments, "{}");
  EXPECT_EQ(r->tool_calls[0].id.rfind("call_", 0), 0u);
  EXPECT_NE(r->tool_calls[0].id, r->tool_calls[1].id);
  json::value first_body = server.requests().at(0).Json();
  EXPECT_EQ(first_body.at("tools").at(0).at("function").at("name"), "grep");
  EXPECT_EQ(first_body.at("tools").at(1).at("function").at("parameters"), json::parse(R"({"type":"object"})"));

  // 2: the results go back as role "tool" messages with tool_name; the answer is not streamed.
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"model":"llama3.2","message":{"role":"assistant","content":"3 TODOs."},
                                             "done":true,"done_reason":"stop","prompt_eval_count":40,"eval_count":5})")}});
  req.stream = false;
  req.messages.push_back({"assistant", "", r->tool_calls, "", ""});
  req.messages.push_back({"tool", "a.cpp:1: TODO", {}, r->tool_calls[0].id, "grep"});
  req.messages.push_back({"tool", "a.cpp", {}, r->tool_calls[1].id, "ls"});
  auto second = Complete(*provider, req);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->text, "3 TODOs.");
  EXPECT_EQ(second->finish_reason, "stop");
  EXPECT_EQ(second->usage.input, 40);

  const auto& captured = server.requests().at(1);
  EXPECT_FALSE(captured.HasHeader("accept"));
  json::value body = captured.Json();
  EXPECT_EQ(body.at("stream"), false);
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[1], json::parse(R"({"role":"assistant","content":"","tool_calls":[
      {"function":{"name":"grep","arguments":{"pattern":"TODO","max":3}}},
      {"function":{"name":"ls","arguments":{}}}]})"));
  EXPECT_EQ(messages[2], json::parse(R"({"role":"tool","content":"a.cpp:1: TODO","tool_name":"grep"})"));
  EXPECT_EQ(messages[3], json::parse(R"({"role":"tool","content":"a.cpp","tool_name":"ls"})"));
}

TEST_F(OllamaProviderTest, SynthesisedCallIdsDifferAcrossCalls) {
  std::string answer = Line("", false, R"(,"tool_calls":[{"function":{"name":"ls","arguments":{}}}])") + Line("", true);
  server.Queue(CannedAnswer{{NdjsonStream({answer})}});
  server.Queue(CannedAnswer{{NdjsonStream({answer})}});
  auto provider = Make();
  auto a = Complete(*provider, Simple());
  auto b = Complete(*provider, Simple());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->tool_calls.size(), 1u);
  ASSERT_EQ(b->tool_calls.size(), 1u);
  EXPECT_NE(a->tool_calls[0].id, b->tool_calls[0].id);
  EXPECT_EQ(server.accepts(), 1);  // keep-alive: one connection for both
}

TEST_F(OllamaProviderTest, NonStreamedPlainAnswer) {
  server.Queue(CannedAnswer{{RawResponse(200, "OK", "",
                                         R"({"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z",
                                             "message":{"role":"assistant","content":"Hello! How are you today?"},
                                             "done":true,"prompt_eval_count":26,"eval_count":298})")}});
  auto provider = Make();
  LlmRequest req = Simple(false);
  req.max_tokens = 64;
  auto r = Complete(*provider, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "Hello! How are you today?");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.output, 298);
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(server.requests().at(0).Json().at("options"), json::parse(R"({"num_predict":64})"));
}

TEST_F(OllamaProviderTest, HttpErrorsAreClassified) {
  struct Case {
    int status;
    std::string headers;
    std::string body;
    std::string kind;
    std::optional<int64_t> retry_after;
    std::string says;
  };
  std::vector<Case> cases = {
      {404, "", R"({"error":"model 'llama9' not found, try pulling it first"})", "bad_request", std::nullopt,
       "model 'llama9' not found"},
      {400, "", R"({"error":"invalid tool call arguments"})", "bad_request", std::nullopt, "invalid tool call"},
      {401, "", R"({"error":"unauthorized"})", "auth", std::nullopt, "unauthorized"},
      {429, "Retry-After: 3\r\n", R"({"error":"too many requests"})", "rate_limit", 3000, "too many requests"},
      {500, "", R"({"error":"llama runner process has terminated"})", "server", std::nullopt, "llama runner"},
      {503, "", "Service Unavailable", "server", std::nullopt, "Service Unavailable"},
  };
  auto provider = Make();
  for (const Case& c : cases) {
    for (bool stream : {true, false}) {
      server.Queue(CannedAnswer{{RawResponse(c.status, "Status", c.headers, c.body)}});
      auto r = Complete(*provider, Simple(stream));
      ASSERT_FALSE(r.ok()) << c.status;
      EXPECT_EQ(KindOf(r.error()), c.kind) << c.status;
      EXPECT_EQ(DataInt(r.error(), "httpStatus"), c.status);
      EXPECT_EQ(DataInt(r.error(), "retryAfterMs"), c.retry_after) << c.status;
      EXPECT_EQ(r.error().message.rfind("ollama: HTTP " + std::to_string(c.status), 0), 0u) << r.error().message;
      EXPECT_TRUE(Contains(r.error().message, c.says)) << r.error().message;
    }
  }
  EXPECT_TRUE(deltas.empty());
}

TEST_F(OllamaProviderTest, ErrorLineInsideTheStreamIsAnError) {
  std::string ndjson = Line("Hi") + "{\"error\":\"an error was encountered while running the model: out of memory\"}\n";
  QueueInPieces(NdjsonStream({ndjson}), 23);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "server");
  EXPECT_TRUE(Contains(r.error().message, "out of memory")) << r.error().message;
  EXPECT_EQ(r.error().message.rfind("ollama: ", 0), 0u);
  EXPECT_EQ(deltas, std::vector<std::string>{"Hi"});
}

TEST_F(OllamaProviderTest, StreamThatEndsWithoutDoneEndedEarly) {
  server.Queue(CannedAnswer{{NdjsonStream({Line("half an ans")})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_TRUE(Contains(r.error().message, "stream ended early")) << r.error().message;
  EXPECT_EQ(deltas, std::vector<std::string>{"half an ans"});  // already delivered
}

TEST_F(OllamaProviderTest, LastLineWithoutNewlineStillCounts) {
  std::string ndjson = Line("ok") + Line("", true);
  ndjson.pop_back();  // no \n after the done line
  server.Queue(CannedAnswer{{NdjsonStream({ndjson})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text, "ok");
}

TEST_F(OllamaProviderTest, ResetMidStreamIsANetworkError) {
  CannedAnswer answer{{NdjsonStream({Line("partial")}, false)}};
  answer.then = CannedAnswer::Then::kReset;
  server.Queue(answer);
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
}

TEST_F(OllamaProviderTest, MalformedLineIsABadRequest) {
  server.Queue(CannedAnswer{{NdjsonStream({Line("a") + "data: {\"not\":\"ndjson\"}\n" + Line("", true)})}});
  auto provider = Make();
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "bad_request");
  EXPECT_TRUE(Contains(r.error().message, "malformed stream line")) << r.error().message;
}

TEST_F(OllamaProviderTest, SilentServerIsATimeout) {
  CannedAnswer silent;
  silent.silent = true;
  server.Queue(silent);
  auto provider = Make();
  auto r = Complete(*provider, Simple(), 150ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "timeout");
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST_F(OllamaProviderTest, UnreachableServerIsANetworkError) {
  auto provider = MakeOllamaProvider(http, OllamaSettings{"local-ollama", "http://127.0.0.1:1", ""});
  auto r = Complete(*provider, Simple());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(KindOf(r.error()), "network");
  EXPECT_EQ(provider->name(), "local-ollama");
  EXPECT_EQ(r.error().message.rfind("local-ollama: ", 0), 0u);
}

}  // namespace
}  // namespace oc::agent
