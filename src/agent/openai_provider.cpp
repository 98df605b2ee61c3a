// The `openai-completions` provider: one HTTP exchange per Complete, the wire format in
// openai_wire.cpp.
#include "agent/openai_provider.h"

#include "agent/provider_common.h"

#include <ctime>

#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

// A 2xx stream that carried no SSE event at all is read as a plain JSON answer (some servers
// ignore "stream": true); this much of it is kept for that.
constexpr size_t kMaxUnframedBody = 4 << 20;

class OpenAiProvider : public Provider {
 public:
  OpenAiProvider(HttpClient& http, OpenAiSettings settings) : http_(http), settings_(std::move(settings)) {
    while (!settings_.base_url.empty() && settings_.base_url.back() == '/') settings_.base_url.pop_back();
  }

  const std::string& name() const override { return settings_.name; }

  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds timeout) override {
    HttpRequest http_request = MakeHttpRequest(request);
    if (!request.stream) {
      auto answer = co_await http_.Fetch(std::move(http_request), BodySink(), timeout);
      if (!answer.ok()) co_return TransportError(answer.error());
      if (answer->status / 100 != 2) co_return HttpError(*answer);
      co_return Prefixed(ParseChatCompletion(answer->body));
    }
    co_return co_await CompleteStreaming(std::move(http_request), std::move(on_text), timeout);
  }

 private:
  HttpRequest MakeHttpRequest(const LlmRequest& request) const {
    HttpRequest out;
    out.method = "POST";
    out.url = settings_.base_url + "/chat/completions";
    out.headers.emplace_back("Content-Type", "application/json");
    if (request.stream) out.headers.emplace_back("Accept", "text/event-stream");
    if (!settings_.api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + settings_.api_key);
    out.body = BuildChatCompletionsBody(request);
    return out;
  }

  asio::awaitable<Result<LlmResponse>> CompleteStreaming(HttpRequest http_request, TextSink on_text,
                                                         std::chrono::milliseconds timeout) {
    SseParser sse;
    ChatStreamAssembler assembler(std::move(on_text));
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
    if (assembler.events() == 0 && StartsLikeJsonObject(unframed)) co_return Prefixed(ParseChatCompletion(unframed));
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
  OpenAiSettings settings_;
};

}  // namespace

std::unique_ptr<Provider> MakeOpenAiProvider(HttpClient& http, OpenAiSettings settings) {
  return std::make_unique<OpenAiProvider>(http, std::move(settings));
}

}  // namespace oc::agent
