// The `gemini` provider: one HTTP exchange per Complete; the wire format is in gemini_wire.cpp.
#include "agent/gemini_provider.h"

#include "agent/provider_common.h"

#include <ctime>
#include <deque>
#include <map>

#include "agent/gemini_wire.h"
#include "agent/openai_provider.h"  // SseParser
#include "agent/openai_wire.h"      // MakeLlmError, ParseRetryAfter

namespace oc::agent {
namespace {

// A 2xx stream that carried no SSE event at all is read as a plain JSON answer; this much is kept.
constexpr size_t kMaxUnframedBody = 4 << 20;
constexpr size_t kMaxRememberedSignatures = 512;

char FirstNonSpace(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  return first == std::string_view::npos ? '\0' : text[first];
}

// The model name as one path segment: "models/" dropped, anything but [A-Za-z0-9._-] escaped.
std::string ModelPathSegment(std::string_view model) {
  constexpr std::string_view kPrefix = "models/";
  if (model.substr(0, kPrefix.size()) == kPrefix) model.remove_prefix(kPrefix.size());
  std::string out;
  for (char c : model) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
    if (plain) {
      out.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      unsigned char u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A 2xx body without SSE framing: one GenerateContentResponse, or the JSON array of chunks the
// streaming endpoint sends without alt=sse.
Result<GeminiAnswer> ParseUnframed(std::string_view body, TextSink on_text) {
  if (FirstNonSpace(body) != '[') return ParseGeminiResponse(body);
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_array()) return MakeLlmError(kErrBadRequest, "malformed Gemini answer: " + ec.message());
  GeminiStreamAssembler assembler(std::move(on_text));
  for (const auto& chunk : parsed.get_array()) {
    if (!assembler.OnEvent(json::serialize(chunk))) break;
  }
  return assembler.Finish();
}

class GeminiProvider : public Provider {
 public:
  GeminiProvider(HttpClient& http, GeminiSettings settings) : http_(http), settings_(std::move(settings)) {
    while (!settings_.base_url.empty() && settings_.base_url.back() == '/') settings_.base_url.pop_back();
    if (!EndsWith(settings_.base_url, "/v1beta") && !EndsWith(settings_.base_url, "/v1")) {
      settings_.base_url += "/v1beta";
    }
  }

  const std::string& name() const override { return settings_.name; }

  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds timeout) override {
    HttpRequest http_request = MakeHttpRequest(request);
    Result<GeminiAnswer> answer = MakeLlmError(kErrBadRequest, "unreachable");
    if (request.stream) {
      answer = co_await CompleteStreaming(std::move(http_request), std::move(on_text), timeout);
    } else {
      answer = co_await CompleteWhole(std::move(http_request), timeout);
    }
    if (!answer.ok()) co_return answer.error();
    AssignGeminiCallIds(answer->response, next_call_number_);
    RememberSignatures(*answer);
    co_return std::move(answer->response);
  }

 private:
  HttpRequest MakeHttpRequest(const LlmRequest& request) const {
    HttpRequest out;
    out.method = "POST";
    out.url = settings_.base_url + "/models/" + ModelPathSegment(request.model) +
              (request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    out.headers.emplace_back("Content-Type", "application/json");
    if (request.stream) out.headers.emplace_back("Accept", "text/event-stream");
    if (!settings_.api_key.empty()) out.headers.emplace_back("x-goog-api-key", settings_.api_key);
    out.body = BuildGeminiBody(request, [this](const ToolCall& call) { return SignatureFor(call); });
    return out;
  }

  asio::awaitable<Result<GeminiAnswer>> CompleteWhole(HttpRequest http_request, std::chrono::milliseconds timeout) {
    auto answer = co_await http_.Fetch(std::move(http_request), BodySink(), timeout);
    if (!answer.ok()) co_return TransportError(answer.error());
    if (answer->status / 100 != 2) co_return HttpError(*answer);
    co_return Prefixed(ParseUnframed(answer->body, TextSink()));
  }

  asio::awaitable<Result<GeminiAnswer>> CompleteStreaming(HttpRequest http_request, TextSink on_text,
                                                          std::chrono::milliseconds timeout) {
    SseParser sse;
    GeminiStreamAssembler assembler(on_text);
    std::string unframed;  // raw bytes while no event has arrived (see kMaxUnframedBody)
    bool too_big = false;
    auto on_event = [&](std::string_view data) { assembler.OnEvent(data); };
    BodySink sink = [&](std::string_view chunk) {
      if (assembler.events() == 0 && unframed.size() + chunk.size() <= kMaxUnframedBody) unframed.append(chunk);
      if (!sse.Feed(chunk, on_event)) too_big = true;
      return !too_big && !assembler.failed();
    };
    auto answer = co_await http_.Fetch(std::move(http_request), sink, timeout);
    if (assembler.failed()) co_return Prefixed(*assembler.error());
    if (too_big) co_return MakeLlmError(kErrBadRequest, settings_.name + ": a stream event exceeds the size limit");
    if (!answer.ok()) co_return TransportError(answer.error());
    if (answer->status / 100 != 2) co_return HttpError(*answer);
    sse.Flush(on_event);
    char first = FirstNonSpace(unframed);
    if (assembler.events() == 0 && (first == '{' || first == '[')) co_return Prefixed(ParseUnframed(unframed, on_text));
    co_return Prefixed(assembler.Finish());
  }

  // Transport failures of the HTTP client, as kinds.
  Error TransportError(const Error& e) const { return ProviderTransportError(settings_.name, e); }

  Error HttpError(const HttpResponse& answer) const {
    auto retry_after = ParseRetryAfter("", answer.Header("retry-after"), static_cast<int64_t>(std::time(nullptr)));
    return GeminiErrorFromHttpAnswer(settings_.name, answer.status, answer.body, retry_after);
  }

  Result<GeminiAnswer> Prefixed(Result<GeminiAnswer> r) const { return NamedByProvider(settings_.name, std::move(r)); }

  static std::string SignatureKey(const ToolCall& call) {
    return call.id + '\x1f' + call.name + '\x1f' + call.arguments;
  }

  std::string SignatureFor(const ToolCall& call) const {
    auto it = signatures_.find(SignatureKey(call));
    return it == signatures_.end() ? std::string() : it->second;
  }

  // Keeps the signatures of the calls just returned (the agent sends them back unchanged), oldest
  // forgotten first.
  void RememberSignatures(const GeminiAnswer& answer) {
    const auto& calls = answer.response.tool_calls;
    for (size_t i = 0; i < calls.size() && i < answer.signatures.size(); ++i) {
      if (answer.signatures[i].empty()) continue;
      std::string key = SignatureKey(calls[i]);
      auto [it, inserted] = signatures_.try_emplace(key, answer.signatures[i]);
      if (inserted) {
        signature_order_.push_back(std::move(key));
      } else {
        it->second = answer.signatures[i];
      }
      while (signature_order_.size() > kMaxRememberedSignatures) {
        signatures_.erase(signature_order_.front());
        signature_order_.pop_front();
      }
    }
  }

  HttpClient& http_;
  GeminiSettings settings_;
  int64_t next_call_number_ = 1;
  std::map<std::string, std::string> signatures_;  // SignatureKey → thoughtSignature
  std::deque<std::string> signature_order_;        // keys of signatures_, oldest first
};

}  // namespace

std::unique_ptr<Provider> MakeGeminiProvider(HttpClient& http, GeminiSettings settings) {
  return std::make_unique<GeminiProvider>(http, std::move(settings));
}

}  // namespace oc::agent
