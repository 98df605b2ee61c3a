// The `ollama` provider: one HTTP exchange per Complete, the wire format in ollama_wire.cpp.
#include "agent/ollama_provider.h"

#include "agent/provider_common.h"

#include <ctime>

#include "agent/ollama_wire.h"
#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

// Each Complete reserves this many call numbers for the tool calls of its answer, so concurrent
// calls on one provider never synthesise the same id.
constexpr uint64_t kCallNumbersPerAnswer = 1000;

class OllamaProvider : public Provider {
 public:
  OllamaProvider(HttpClient& http, OllamaSettings settings)
      : http_(http), settings_(std::move(settings)), next_answer_(static_cast<uint64_t>(NowMs())) {
    std::string& url = settings_.base_url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    // The OpenAI-compatible root (what the openai-completions provider uses) is a likely
    // leftover in a config; the native API lives beside it.
    if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
    while (!url.empty() && url.back() == '/') url.pop_back();
  }

  const std::string& name() const override { return settings_.name; }

  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds timeout) override {
    HttpRequest http_request = MakeHttpRequest(request);
    uint64_t first_call_number = next_answer_++ * kCallNumbersPerAnswer;
    if (!request.stream) {
      auto answer = co_await http_.Fetch(std::move(http_request), BodySink(), timeout);
      if (!answer.ok()) co_return TransportError(answer.error());
      if (answer->status / 100 != 2) co_return HttpError(*answer);
      co_return Prefixed(ParseOllamaChat(answer->body, first_call_number));
    }
    co_return co_await CompleteStreaming(std::move(http_request), std::move(on_text), first_call_number, timeout);
  }

 private:
  HttpRequest MakeHttpRequest(const LlmRequest& request) const {
    HttpRequest out;
    out.method = "POST";
    out.url = settings_.base_url + "/api/chat";
    out.headers.emplace_back("Content-Type", "application/json");
    if (request.stream) out.headers.emplace_back("Accept", "application/x-ndjson");
    if (!settings_.api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + settings_.api_key);
    out.body = BuildOllamaChatBody(request);
    return out;
  }

  asio::awaitable<Result<LlmResponse>> CompleteStreaming(HttpRequest http_request, TextSink on_text,
                                                         uint64_t first_call_number,
                                                         std::chrono::milliseconds timeout) {
    NdjsonParser lines;
    OllamaStreamAssembler assembler(std::move(on_text), first_call_number);
    auto on_line = [&](std::string_view line) { assembler.OnLine(line); };
    BodySink sink = [&](std::string_view chunk) { return lines.Feed(chunk, on_line) && !assembler.failed(); };
    auto answer = co_await http_.Fetch(std::move(http_request), sink, timeout);
    if (assembler.failed()) co_return Prefixed(*assembler.error());
    if (lines.failed()) co_return MakeLlmError(kErrBadRequest, settings_.name + ": a stream line exceeds the size limit");
    if (!answer.ok()) co_return TransportError(answer.error());
    if (answer->status / 100 != 2) co_return HttpError(*answer);
    lines.Flush(on_line);
    co_return Prefixed(assembler.Finish());
  }

  // Transport failures of the HTTP client, as kinds.
  Error TransportError(const Error& e) const { return ProviderTransportError(settings_.name, e); }

  Error HttpError(const HttpResponse& answer) const {
    auto retry_after = RetryAfterOf(answer);
    return ErrorFromHttpAnswer(settings_.name, answer.status, answer.body, retry_after);
  }

  Result<LlmResponse> Prefixed(Result<LlmResponse> r) const { return NamedByProvider(settings_.name, std::move(r)); }

  HttpClient& http_;
  OllamaSettings settings_;
  uint64_t next_answer_;  // starts at the clock (ms), so ids stay unique across restarts
};

}  // namespace

std::unique_ptr<Provider> MakeOllamaProvider(HttpClient& http, OllamaSettings settings) {
  return std::make_unique<OllamaProvider>(http, std::move(settings));
}

}  // namespace oc::agent
