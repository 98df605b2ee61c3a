// Helpers shared by the wire formats of the test LLM server (wire.h).
#include "wire.h"

namespace oc::testllm {

std::string_view FormatName(WireFormat format) {
  switch (format) {
    case WireFormat::kOpenAi: return "openai";
    case WireFormat::kAnthropic: return "anthropic";
    case WireFormat::kGemini: return "gemini";
    case WireFormat::kOllama: return "ollama";
  }
  return "unknown";
}

std::string Failure::message() const {
  std::optional<std::string_view> m = GetString(error, "message");
  return m ? std::string(*m) : "scripted error (HTTP " + std::to_string(status) + ")";
}

std::optional<std::string> Failure::type() const {
  std::optional<std::string_view> t = GetString(error, "type");
  return t ? std::optional<std::string>(std::string(*t)) : std::nullopt;
}

json::value ErrorMember(const Failure& failure, std::string_view key, json::value fallback) {
  const json::value* v = failure.error.if_contains(key);
  return v ? *v : fallback;
}

PlannedResponse JsonAnswer(int status, std::string body) {
  PlannedResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", std::string(kJsonType));
  r.body = std::move(body);
  return r;
}

std::vector<std::string> SplitUtf8(std::string_view text, size_t n) {
  std::vector<std::string> pieces;
  size_t start = 0, count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts_char = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_char && count == n) {
      pieces.emplace_back(text.substr(start, i - start));
      start = i;
      count = 0;
    }
    count += starts_char;
  }
  if (start < text.size()) pieces.emplace_back(text.substr(start));
  return pieces;
}

json::value ArgumentsValue(const ScriptedToolCall& call) {
  Result<json::value> parsed = ParseJson(call.arguments);
  return parsed.ok() ? std::move(parsed).value() : json::value(call.arguments);
}

std::string PartsText(const json::value* content) {
  if (!content) return "";
  if (content->is_string()) return std::string(content->get_string());
  std::string text;
  if (const json::array* parts = content->if_array()) {
    for (const json::value& part : *parts) {
      if (const json::object* p = part.if_object()) {
        if (std::optional<std::string_view> t = GetString(*p, "text")) text += *t;
      }
    }
  }
  return text;
}

json::object NormalMessage(std::string_view role, std::string content) {
  return {{"role", role}, {"content", std::move(content)}};
}

std::string PercentDecode(std::string_view text, bool plus_as_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(plus_as_space && text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq), true) != name) continue;
    return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

}  // namespace oc::testllm
