#include "protocol/frame.h"

#include <gtest/gtest.h>

#include "protocol/hooks.h"
#include "protocol/methods.h"

namespace oc::protocol {
namespace {

TEST(Frame, RoundTripsEveryType) {
  for (const Frame& f :
       {MakeRequest("app.heartbeat", json::object{{"status", "ok"}}),
        MakeOkResponse("7", json::object{{"ok", true}}),
        MakeErrorResponse(nullptr, MakeError(ErrorCode::kInvalidRequest, "frame too large")),
        MakeEvent("hook:agent_end", json::object{{"eventId", "e1"}}),
        MakeStream("9", json::object{{"path", "x"}}, true)}) {
    std::string line = SerializeFrame(f);
    ASSERT_EQ(line.back(), '\n');
    line.pop_back();
    auto back = ParseFrame(line);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->type, f.type);
    EXPECT_EQ(back->id, f.id);
    EXPECT_EQ(SerializeFrame(*back), SerializeFrame(f));
  }
}

TEST(Frame, RejectsMalformedWithReason) {
  struct Case {
    const char* line;
    const char* message;
  } cases[] = {
      {"not json", "not JSON"},
      {"[1,2]", "frame must be a JSON object"},
      {R"({"type":"request","timestamp":1,"method":"x"})", "missing field: id"},
      {R"({"id":"1","timestamp":1,"method":"x"})", "missing field: type"},
      {R"({"id":"1","type":"request","method":"x"})", "missing field: timestamp"},
      {R"({"id":"1","type":"request","timestamp":1})", "missing field: method"},
      {R"({"id":"1","type":"bogus","timestamp":1})", "unknown frame type: bogus"},
      {R"({"id":"1","type":"response","timestamp":1,"requestId":"2"})", "missing field: success"},
      {R"({"id":"1","type":"stream","timestamp":1,"requestId":"2","chunk":1})", "missing field: done"},
  };
  for (const auto& c : cases) {
    auto r = ParseFrame(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
  }
}

TEST(LineSplitter, SplitsAcrossChunksAndDropsOversize) {
  LineSplitter s(8);
  std::vector<std::string> lines;
  int oversize = 0;
  auto on_line = [&](std::string_view l) { lines.emplace_back(l); };
  auto on_over = [&] { ++oversize; };
  s.Feed("ab", on_line, on_over);
  s.Feed("c\r\n\nde", on_line, on_over);
  s.Feed("f\n0123456789", on_line, on_over);  // oversize begins
  s.Feed("more-of-it", on_line, on_over);     // still discarding
  s.Feed("\nok\n", on_line, on_over);
  s.Feed("123456789\nz\n", on_line, on_over);  // oversize within one chunk
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "def", "ok", "z"}));
  EXPECT_EQ(oversize, 2);
  EXPECT_EQ(s.buffered(), 0u);
}

TEST(Methods, TableValidatesParamsWithPath) {
  const MethodSpec* m = FindMethod("hook.subscribe", Direction::kAppToKernel);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(ValidateParams(*m, json::parse(R"({"events":["agent_end"]})")).ok());
  Status s = ValidateParams(*m, json::parse(R"({"events":["agent_end",5]})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(s.error().data.at("path").as_string(), "params.events[1]");
  const MethodSpec* queue = FindMethod("agent.queue", Direction::kAppToKernel);
  ASSERT_NE(queue, nullptr);
  Status bad = ValidateParams(*queue, json::parse(R"({"sessionKey":"tg:1","text":"hi","metadata":{"chatType":"x"}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().data.at("path").as_string(), "params.metadata.chatType");
  EXPECT_EQ(FindMethod("tool.invoke", Direction::kAppToKernel), nullptr);
}

TEST(Hooks, AliasesResolve) {
  EXPECT_EQ(FindHook("agent_starting")->name, "before_agent_start");
  EXPECT_EQ(FindHook("tool_completed")->kind, HookKind::kSubscribe);
  EXPECT_EQ(FindHook("message_sending")->kind, HookKind::kIntercept);
  EXPECT_EQ(FindHook("nope"), nullptr);
}

}  // namespace
}  // namespace oc::protocol
