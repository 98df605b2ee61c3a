// Fuzzes the `openai-completions` wire parsing (SPEC §8.2): arbitrary bytes as an SSE body through
// SseParser, every event through ChatStreamAssembler, and the bytes as a whole through
// ParseChatCompletion and the error-answer parsing.
//
// Invariants checked:
//  - SSE framing does not depend on how the byte stream is chunked (same events, same failure),
//    events never exceed the limit, and a stopped parser stays stopped;
//  - the assembler's text equals the concatenation of the deltas it reported; Finish() either
//    succeeds or fails with an error carrying a known kind;
//  - ParseChatCompletion fails only with a classified error; when it succeeds, the answer sent back
//    as an assistant message in a request body is valid JSON carrying the same text and tool calls;
//  - Retry-After parsing never yields a negative wait.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/openai_provider.h"
#include "agent/openai_wire.h"
#include "fuzz_check.h"

namespace {

using namespace oc::agent;

constexpr size_t kMaxEvent = 1024;  // small, so the oversize path is reached often

struct Framed {
  std::vector<std::string> events;
  bool failed = false;
  bool operator==(const Framed&) const = default;
};

Framed FrameInChunks(std::string_view input, const std::vector<size_t>& sizes) {
  Framed out;
  SseParser parser(kMaxEvent);
  auto on_event = [&](std::string_view data) {
    FUZZ_CHECK(data.size() <= kMaxEvent);
    out.events.emplace_back(data);
  };
  size_t i = 0;
  while (!input.empty()) {
    size_t n = std::min(input.size(), sizes[i++ % sizes.size()]);
    if (!parser.Feed(input.substr(0, n), on_event)) {
      out.failed = true;
      FUZZ_CHECK(!parser.Feed("data: x\n\n", on_event));  // stays stopped
      return out;
    }
    input.remove_prefix(n);
  }
  parser.Flush(on_event);
  return out;
}

bool KnownKind(const oc::Error& e) {
  const auto* data = e.data.if_object();
  if (!data) return false;
  auto kind = oc::GetString(*data, "kind");
  if (!kind) return false;
  for (std::string_view k : {kErrRateLimit, kErrServer, kErrTimeout, kErrNetwork, kErrAuth, kErrBadRequest}) {
    if (*kind == k) return true;
  }
  return false;
}

void CheckAssembly(const std::vector<std::string>& events) {
  std::string reported;
  ChatStreamAssembler assembler([&](std::string_view delta) {
    FUZZ_CHECK(!delta.empty());
    reported.append(delta);
  });
  for (const std::string& e : events) {
    bool ok = assembler.OnEvent(e);
    FUZZ_CHECK(ok == !assembler.failed());
  }
  auto r = assembler.Finish();
  if (r.ok()) {
    FUZZ_CHECK(r->text == reported);
  } else {
    FUZZ_CHECK(KnownKind(r.error()));
    FUZZ_CHECK(!r.error().message.empty());
  }
}

void CheckRoundTrip(const LlmResponse& answer) {
  LlmRequest req;
  req.model = answer.model;
  ChatMessage m;
  m.role = "assistant";
  m.content = answer.text;
  m.tool_calls = answer.tool_calls;
  req.messages.push_back(m);
  auto body = oc::ParseJson(BuildChatCompletionsBody(req));
  FUZZ_CHECK(body.ok());
  const auto& message = body->at("messages").at(0);
  const auto& content = message.at("content");
  if (!answer.tool_calls.empty() && answer.text.empty()) {
    FUZZ_CHECK(content.is_null());  // OpenAI wants null, not "", beside tool calls
  } else {
    FUZZ_CHECK(content.is_string() && content.get_string() == answer.text);
  }
  if (!answer.tool_calls.empty()) {
    const auto& calls = message.at("tool_calls").as_array();
    FUZZ_CHECK(calls.size() == answer.tool_calls.size());
    for (size_t i = 0; i < calls.size(); ++i) {
      FUZZ_CHECK(calls[i].at("id").as_string() == answer.tool_calls[i].id);
      FUZZ_CHECK(calls[i].at("function").at("name").as_string() == answer.tool_calls[i].name);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  Framed whole = FrameInChunks(input, {SIZE_MAX});
  std::vector<size_t> sizes;
  for (size_t i = 0; i < std::min<size_t>(size, 16); ++i) sizes.push_back(1 + data[i] % 61);
  if (!sizes.empty()) FUZZ_CHECK(FrameInChunks(input, sizes) == whole);
  FUZZ_CHECK(FrameInChunks(input, {1}) == whole);
  CheckAssembly(whole.events);

  auto parsed = ParseChatCompletion(input);
  if (parsed.ok()) {
    CheckRoundTrip(*parsed);
  } else {
    FUZZ_CHECK(KnownKind(parsed.error()));
  }

  oc::Error e = ErrorFromHttpAnswer("fuzz", 400 + static_cast<int>(size % 200), input, std::nullopt);
  FUZZ_CHECK(KnownKind(e));
  size_t half = size / 2;
  auto wait = ParseRetryAfter(input.substr(0, half), input.substr(half), 1'700'000'000);
  FUZZ_CHECK(!wait || *wait >= 0);
  return 0;
}
