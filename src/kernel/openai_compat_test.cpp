#include "kernel/openai_compat.h"

#include <gtest/gtest.h>

namespace oc::kernel::openai {
namespace {

json::value J(std::string_view text) { return json::parse(text); }

ChatRequest Parse(std::string_view body) {
  auto r = ParseChatRequest(body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : ChatRequest{};
}

std::string ParamOf(const Error& e) { return ToApiError(e).param; }

TEST(ParseChatRequest, ReadsModelMessagesStreamAndUser) {
  ChatRequest r = Parse(R"({"model":"openclaw:coder","stream":true,"stream_options":{"include_usage":true},
      "user":"ada","temperature":0.2,"messages":[{"role":"system","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"ls","arguments":"{}"}}]}]})");
  EXPECT_EQ(r.model, "openclaw:coder");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  ASSERT_TRUE(r.user);
  EXPECT_EQ(*r.user, "ada");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[1].text, "a\nb");
  EXPECT_EQ(r.messages[2].text, "");
  EXPECT_EQ(r.messages[2].tool_calls, std::vector<std::string>{"ls"});
}

TEST(ParseChatRequest, DefaultsWhenOptionalFieldsAreAbsent) {
  ChatRequest r = Parse(R"({"messages":[{"role":"user","content":"hi"}],"user":""})");
  EXPECT_EQ(r.model, "openclaw");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.user);  // an empty user selects nothing
}

TEST(ParseChatRequest, RefusesBadBodiesNamingTheField) {
  auto bad_json = ParseChatRequest("{\"messages\": [");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(ToApiError(bad_json.error()).status, 400u);
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"([1,2])", ""},
      {R"({"model":"openclaw"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})",
       "messages[0].content[0]"},
      {R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"messages":[{"role":"user","content":"x"}],"model":7})", "model"},
      {R"({"messages":[{"role":"user","content":"x"}],"user":42})", "user"},
  };
  for (const auto& c : cases) {
    auto r = ParseChatRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams) << c.body;
    EXPECT_EQ(ParamOf(r.error()), c.param) << c.body;
    EXPECT_EQ(ToApiError(r.error()).type, "invalid_request_error");
  }
}

TEST(ParseChatRequest, EnforcesTheLimits) {
  std::string many = R"({"messages":[)";
  for (size_t i = 0; i <= kMaxMessages; ++i) many += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  many += "]}";
  EXPECT_FALSE(ParseChatRequest(many).ok());
  std::string long_user = R"({"messages":[{"role":"user","content":"x"}],"user":")" + std::string(kMaxKeyChars + 1, 'u') + "\"}";
  auto r = ParseChatRequest(long_user);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ParamOf(r.error()), "user");
}

TEST(AgentOfModel, OpenclawAndOpenclawColonAgent) {
  EXPECT_EQ(*AgentOfModel("openclaw"), "");
  EXPECT_EQ(*AgentOfModel("openclaw:coder"), "coder");
  for (std::string_view m : {"gpt-4o", "openclaw:", "OpenClaw", ""}) {
    auto r = AgentOfModel(m);
    ASSERT_FALSE(r.ok()) << m;
    ApiError e = ToApiError(r.error());
    EXPECT_EQ(e.status, 404u);
    EXPECT_EQ(e.code, "model_not_found");
    EXPECT_EQ(e.param, "model");
  }
}

TEST(SessionKeys, AgentOfKeyAndUserKeys) {
  EXPECT_EQ(AgentOfSessionKey("agent:coder:openai:x"), "coder");
  EXPECT_EQ(AgentOfSessionKey("agent:main"), "main");
  EXPECT_EQ(AgentOfSessionKey("telegram:123"), "");
  EXPECT_EQ(UserSessionKey("default", "ada.l@x-y_z"), "agent:default:openai:ada.l@x-y_z");
  // separators, spaces and non-ASCII are escaped: no extra key segments, no collisions
  EXPECT_EQ(UserSessionKey("default", "a:b c%"), "agent:default:openai:a%3Ab%20c%25");
  EXPECT_NE(UserSessionKey("d", "a:b"), UserSessionKey("d", "a%3Ab"));
  EXPECT_EQ(UserSessionKey("d", "\xC3\xA9"), "agent:d:openai:%C3%A9");
}

std::vector<ChatMessage> Messages(std::initializer_list<std::pair<const char*, const char*>> list) {
  std::vector<ChatMessage> out;
  for (const auto& [role, text] : list) out.push_back(ChatMessage{role, text, {}});
  return out;
}

TEST(TurnText, SelectedSessionTakesOnlyTheLastUserMessage) {
  auto msgs = Messages({{"system", "Be brief."}, {"user", "first"}, {"assistant", "ok"}, {"user", "second"},
                        {"assistant", "prefill"}});
  EXPECT_EQ(*TurnText(msgs, true), "second");
}

TEST(TurnText, FreshSessionRendersEarlierMessagesAsATranscript) {
  auto msgs = Messages({{"system", "Be brief."}, {"user", "first"}, {"assistant", "ok"}, {"tool", "42"},
                        {"user", "second"}, {"assistant", "ignored"}});
  msgs[2].tool_calls = {"calc"};
  EXPECT_EQ(*TurnText(msgs, false),
            "[Conversation so far]\nSystem: Be brief.\nUser: first\nAssistant: ok\nTool: 42\n"
            "[End of conversation so far]\n\nsecond");
  auto call_only = Messages({{"assistant", ""}, {"user", "go"}});
  call_only[0].tool_calls = {"ls", "read"};
  EXPECT_EQ(*TurnText(call_only, false), "[Conversation so far]\nAssistant: (called ls read)\n"
                                         "[End of conversation so far]\n\ngo");
  EXPECT_EQ(*TurnText(Messages({{"user", "only"}}), false), "only");
}

TEST(TurnText, NeedsAUserMessageWithText) {
  EXPECT_FALSE(TurnText(Messages({{"system", "x"}, {"assistant", "y"}}), false).ok());
  auto empty = TurnText(Messages({{"user", "hi"}, {"user", "  "}}), true);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(ParamOf(empty.error()), "messages");
}

TEST(ChatTurnParams, SessionSelection) {
  ChatRequest r = Parse(R"({"model":"openclaw:coder","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]})");
  // fresh session per request, transcript included
  json::value p = *ChatTurnParams(r, {}, "abc123");
  EXPECT_EQ(p, J(R"({"message":"[Conversation so far]\nSystem: S\n[End of conversation so far]\n\nhi",
                     "agentId":"coder","sessionKey":"agent:coder:openai:abc123"})"));
  // user → its own session; only the last user message
  r.user = "ada";
  p = *ChatTurnParams(r, {}, "abc123");
  EXPECT_EQ(p.at("sessionKey"), "agent:coder:openai:ada");
  EXPECT_EQ(p.at("message"), "hi");
  // the header wins over user; the idempotency key is namespaced
  p = *ChatTurnParams(r, {"", "agent:coder:mine", "k-1"}, "x");
  EXPECT_EQ(p.at("sessionKey"), "agent:coder:mine");
  EXPECT_EQ(p.at("idempotencyKey"), "openai:k-1");
}

TEST(ChatTurnParams, AgentSelection) {
  ChatRequest r = Parse(R"({"model":"openclaw","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(ChatTurnParams(r, {}, "f")->at("agentId"), "default");
  EXPECT_EQ(ChatTurnParams(r, {"ops", "", ""}, "f")->at("agentId"), "ops");  // header
  EXPECT_EQ(ChatTurnParams(r, {"", "agent:ops:s1", ""}, "f")->at("agentId"), "ops");  // from the session key
  r.model = "openclaw:coder";
  EXPECT_EQ(ChatTurnParams(r, {"ops", "", ""}, "f")->at("agentId"), "ops");  // header over model
  auto clash = ChatTurnParams(r, {"", "agent:ops:s1", ""}, "f");
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(ParamOf(clash.error()), "x-openclaw-session-key");
  auto no_agent = ChatTurnParams(r, {"", "agent::x", ""}, "f");
  ASSERT_FALSE(no_agent.ok());
  EXPECT_EQ(ParamOf(no_agent.error()), "x-openclaw-session-key");
  r.model = "gpt-4";
  EXPECT_EQ(ToApiError(ChatTurnParams(r, {}, "f").error()).code, "model_not_found");
  r.model = "openclaw";
  auto long_key = ChatTurnParams(r, {"", "", std::string(kMaxKeyChars + 1, 'k')}, "f");
  ASSERT_FALSE(long_key.ok());
  EXPECT_EQ(ParamOf(long_key.error()), "idempotency-key");
}

const json::value kSummary = J(R"({"runId":"7","status":"ok","text":"Hello there","usage":{"input":12,"output":5}})");
const CompletionMeta kMeta{"chatcmpl-7", "openclaw", 1700000000};

TEST(Completion, JsonShape) {
  EXPECT_EQ(CompletionJson(kMeta, kSummary),
            J(R"({"id":"chatcmpl-7","object":"chat.completion","created":1700000000,"model":"openclaw",
                  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],
                  "usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})"));
  EXPECT_EQ(UsageJson(J("{}")), J(R"({"prompt_tokens":0,"completion_tokens":0,"total_tokens":0})"));
}

TEST(Completion, ChunksAndSse) {
  EXPECT_EQ(ChunkJson(kMeta, json::object{{"content", "Hel"}}, std::nullopt),
            J(R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"openclaw",
                  "choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})"));
  EXPECT_EQ(ChunkJson(kMeta, json::object(), "stop").at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_EQ(UsageChunkJson(kMeta, kSummary).at("choices"), json::array());
  EXPECT_EQ(UsageChunkJson(kMeta, kSummary).at("usage").at("total_tokens"), 17);
  EXPECT_EQ(SseData(J(R"({"a":1})")), "data: {\"a\":1}\n\n");
}

std::vector<json::value> Events(const std::string& sse, bool* done) {
  std::vector<json::value> out;
  *done = false;
  size_t pos = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    std::string line = sse.substr(pos, end - pos);
    EXPECT_EQ(line.rfind("data: ", 0), 0u);
    if (line == "data: [DONE]") *done = true;
    else out.push_back(J(line.substr(6)));
    pos = end + 2;
  }
  return out;
}

TEST(StreamEnd, FinishUsageAndDone) {
  bool done = false;
  auto events = Events(StreamEnd(kMeta, kSummary, true, true), &done);
  EXPECT_TRUE(done);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_EQ(events[0].at("choices").at(0).at("delta"), json::object());
  EXPECT_EQ(events[1].at("usage").at("prompt_tokens"), 12);
  // nothing streamed (a repeated request): the whole text comes as one delta first
  events = Events(StreamEnd(kMeta, kSummary, false, false), &done);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("choices").at(0).at("delta").at("content"), "Hello there");
}

TEST(StreamEnd, FailedAndTimedOutRunsEndWithAnErrorEvent) {
  json::value failed = J(R"({"runId":"7","status":"error","text":"","error":"provider test: HTTP 500"})");
  auto error = RunError(failed);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 502u);
  EXPECT_EQ(error->type, "api_error");
  EXPECT_EQ(error->message, "provider test: HTTP 500");
  bool done = false;
  auto events = Events(StreamEnd(kMeta, failed, true, true), &done);
  EXPECT_TRUE(done);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].at("error").at("message"), "provider test: HTTP 500");
  auto timeout = RunError(std::nullopt);
  ASSERT_TRUE(timeout);
  EXPECT_EQ(timeout->status, 504u);
  EXPECT_EQ(timeout->code, "timeout");
  EXPECT_FALSE(RunError(kSummary));
  EXPECT_EQ(RunError(J(R"({"status":"running"})"))->message, "the run ended with status running");
}

TEST(ApiErrorShape, NullsForMissingParamAndCode) {
  ApiError e;
  e.message = "bad";
  EXPECT_EQ(e.ToJson(), J(R"({"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}})"));
  ApiError u = ToApiError(MakeError(ErrorCode::kUnauthorized, "no"));
  EXPECT_EQ(u.status, 401u);
  EXPECT_EQ(u.code, "invalid_api_key");
  EXPECT_EQ(ToApiError(MakeError(ErrorCode::kInternalError, "x")).status, 500u);
}

TEST(Models, ListsOpenclawThenEveryAgent) {
  EXPECT_EQ(ModelsJson({"default", "coder"}, 5),
            J(R"({"object":"list","data":[
                {"id":"openclaw","object":"model","created":5,"owned_by":"openclaw"},
                {"id":"openclaw:default","object":"model","created":5,"owned_by":"openclaw"},
                {"id":"openclaw:coder","object":"model","created":5,"owned_by":"openclaw"}]})"));
}

TEST(Webhooks, HookAgentDefaultsAndParams) {
  auto r = ParseHookAgent(R"({"message":"build failed"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(HookTurnParams(*r, "default"),
            J(R"({"message":"build failed","agentId":"default","sessionKey":"agent:default:hook:webhook"})"));
  r = ParseHookAgent(R"({"message":"m","agentId":"ops","name":"ci","deliver":{"channel":"alpha","to":"dm-1"},
                         "idempotencyKey":"k"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(HookTurnParams(*r, "default"),
            J(R"({"message":"m","agentId":"ops","sessionKey":"agent:ops:hook:ci","idempotencyKey":"hook:k",
                  "deliver":{"channel":"alpha","to":"dm-1"}})"));
  r = ParseHookAgent(R"({"message":"m","sessionKey":"agent:ops:x"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(HookTurnParams(*r, "default").at("agentId"), "ops");  // the key's agent
}

TEST(Webhooks, HookAgentRefusals) {
  struct Case {
    std::string body;
    const char* field;
  } cases[] = {
      {"not json", ""},
      {R"({})", "message"},
      {R"({"message":"  "})", "message"},
      {R"({"message":"m","mesage":"typo"})", "mesage"},
      {R"({"message":"m","name":"a b"})", "name"},
      {R"({"message":"m","name":""})", "name"},
      {R"({"message":"m","sessionKey":"telegram:1"})", "sessionKey"},
      {R"({"message":"m","agentId":"a","sessionKey":"agent:b:x"})", "sessionKey"},
      {R"({"message":"m","deliver":{"channel":"alpha"}})", "deliver.to"},
      {R"({"message":"m","deliver":"alpha:1"})", "deliver"},
      {R"({"message":"m","deliver":{"channel":"a","to":"b","x":1}})", "x"},
      {R"({"message":")" + std::string(kMaxHookTextBytes + 1, 'x') + "\"}", "message"},
      {R"({"message":"m","idempotencyKey":5})", "idempotencyKey"},
  };
  for (const auto& c : cases) {
    auto r = ParseHookAgent(c.body);
    ASSERT_FALSE(r.ok()) << c.body.substr(0, 80);
    if (*c.field) {
      EXPECT_EQ(r.error().message.rfind(std::string(c.field) + ":", 0), 0u) << r.error().message;
    }
  }
}

TEST(Webhooks, Wake) {
  auto r = ParseHookWake(R"({"text":"new mail","mode":"now"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(WakeTurnParams(*r, "default"),
            J(R"({"message":"[wake] new mail","agentId":"default","sessionKey":"agent:default:main"})"));
  r = ParseHookWake(R"({"text":"x","agentId":"ops"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(WakeTurnParams(*r, "default").at("sessionKey"), "agent:ops:main");
  EXPECT_FALSE(ParseHookWake(R"({"text":"x","mode":"next-heartbeat"})").ok());
  EXPECT_FALSE(ParseHookWake(R"({"mode":"now"})").ok());
  EXPECT_FALSE(ParseHookWake(R"({"text":"x","extra":1})").ok());
}

}  // namespace
}  // namespace oc::kernel::openai
