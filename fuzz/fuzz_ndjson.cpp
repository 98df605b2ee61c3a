// Fuzzes the `ollama` wire parsing (SPEC §8.2): arbitrary bytes as an NDJSON body through
// NdjsonParser, every line through OllamaStreamAssembler, and the bytes as a whole through
// ParseOllamaChat and the error-answer parsing.
//
// Invariants checked:
//  - NDJSON framing does not depend on how the byte stream is chunked (same lines, same failure);
//    lines never exceed the limit, never contain \n and are never blank; a stopped parser stays
//    stopped;
//  - the assembler's text equals the concatenation of the deltas it reported (none empty); Finish()
//    either succeeds with a finish reason and an id for every tool call, or fails with an error
//    carrying a known kind;
//  - ParseOllamaChat fails only with a classified error; when it succeeds, the answer sent back as
//    an assistant message in a request body is valid JSON carrying the same text, the same tool
//    names, and every call's arguments as an object (equal to the arguments when they were one).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ollama_wire.h"
#include "agent/openai_wire.h"
#include "fuzz_check.h"

namespace {

using namespace oc::agent;
namespace json = boost::json;

constexpr size_t kMaxLine = 1024;  // small, so the oversize path is reached often

struct Framed {
  std::vector<std::string> lines;
  bool failed = false;
  bool operator==(const Framed&) const = default;
};

Framed FrameInChunks(std::string_view input, const std::vector<size_t>& sizes) {
  Framed out;
  NdjsonParser parser(kMaxLine);
  auto on_line = [&](std::string_view line) {
    FUZZ_CHECK(line.size() <= kMaxLine);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    FUZZ_CHECK(line.find_first_not_of(" \t\r") != std::string_view::npos);
    out.lines.emplace_back(line);
  };
  size_t i = 0;
  while (!input.empty()) {
    size_t n = std::min(input.size(), sizes[i++ % sizes.size()]);
    if (!parser.Feed(input.substr(0, n), on_line)) {
      out.failed = true;
      FUZZ_CHECK(parser.failed());
      FUZZ_CHECK(!parser.Feed("{}\n", on_line));  // stays stopped
      return out;
    }
    input.remove_prefix(n);
  }
  parser.Flush(on_line);
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

void CheckAnswer(const LlmResponse& answer) {
  FUZZ_CHECK(!answer.finish_reason.empty());
  for (const ToolCall& call : answer.tool_calls) FUZZ_CHECK(!call.id.empty());
  if (!answer.tool_calls.empty()) FUZZ_CHECK(answer.finish_reason != "stop");
}

void CheckAssembly(const std::vector<std::string>& lines) {
  std::string reported;
  OllamaStreamAssembler assembler([&](std::string_view delta) {
    FUZZ_CHECK(!delta.empty());
    reported.append(delta);
  });
  for (const std::string& line : lines) {
    bool ok = assembler.OnLine(line);
    FUZZ_CHECK(ok == !assembler.failed());
  }
  auto r = assembler.Finish();
  if (r.ok()) {
    FUZZ_CHECK(r->text == reported);
    CheckAnswer(*r);
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
  auto body = oc::ParseJson(BuildOllamaChatBody(req));
  FUZZ_CHECK(body.ok());
  const auto& message = body->at("messages").at(0);
  FUZZ_CHECK(message.at("content").is_string() && message.at("content").get_string() == answer.text);
  if (answer.tool_calls.empty()) {
    FUZZ_CHECK(!message.as_object().contains("tool_calls"));
    return;
  }
  const auto& calls = message.at("tool_calls").as_array();
  FUZZ_CHECK(calls.size() == answer.tool_calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& fn = calls[i].at("function");
    FUZZ_CHECK(fn.at("name").as_string() == answer.tool_calls[i].name);
    const auto& args = fn.at("arguments");
    FUZZ_CHECK(args.is_object());
    boost::system::error_code ec;
    json::value original = json::parse(answer.tool_calls[i].arguments, ec);
    if (!ec && original.is_object()) FUZZ_CHECK(args == original);
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
  CheckAssembly(whole.lines);

  auto parsed = ParseOllamaChat(input, size);
  if (parsed.ok()) {
    CheckAnswer(*parsed);
    CheckRoundTrip(*parsed);
  } else {
    FUZZ_CHECK(KnownKind(parsed.error()));
  }

  oc::Error e = ErrorFromHttpAnswer("fuzz", 400 + static_cast<int>(size % 200), input, std::nullopt);
  FUZZ_CHECK(KnownKind(e));
  return 0;
}
