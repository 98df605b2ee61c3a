// The `anthropic-messages` provider: one HTTP exchange per Complete, the wire format in
// anthropic_wire.cpp, SSE framing shared with the OpenAI provider (SseParser).
#include "agent/anthropic_provider.h"

#include "agent/provider_common.h"

#include <ctime>

#include "agent/anthropic_wire.h"
#include "agent/openai_provider.h"
#include "agent/openai_wire.h"

namespace oc::agent {
namespace {

// A 2xx stream that carried no SSE event at all is read as a plain JSON answer (a proxy that
// ignores "stream": true); this much of it is kept for that.
constexpr size_t kMaxUnframedBody = 4 << 20;

class AnthropicProvider : public Provider {
 public:
  AnthropicProvider(HttpClient& http, AnthropicSettings settings) : http_(http), settings_(std::move(settings)) {
    std::string& base = settings_.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + (base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0 ? "/messages" : "/v1/messages");
  }

  const std::string& name() const override { return settings_.name; }

  asio::awaitable<Result<LlmResponse>> Complete(const LlmRequest& request, TextSink on_text,
                                                std::chrono::milliseconds timeout) override {
    HttpRequest http_request = MakeHttpRequest(request);
    if (!request.stream) {
      auto answer = co_await http_.Fetch(std::move(http_request), BodySink(), timeout);
      if (!answer.ok()) co_return TransportError(answer.error());
      if (answer->status / 100 != 2) co_return HttpError(*answer);
      co_return Prefixed(ParseAnthropicMessage(answer->body));
    }
    co_return co_await CompleteStreaming(std::move(http_request), std::move(on_text), timeout);
  }

 private:
  HttpRequest MakeHttpRequest(const LlmRequest& request) const {
    HttpRequest out;
    out.method = "POST";
    out.url = url_;
    out.headers.emplace_back("Content-Type", "application/json");
    out.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
    if (request.stream) out.headers.emplace_back("Accept", "text/event-stream");
    if (!settings_.api_key.empty()) out.headers.emplace_back("x-api-key", settings_.api_key);
    out.body = BuildAnthropicMessagesBody(request);
    return out;
  }

  asio::awaitable<Result<LlmResponse>> CompleteStreaming(HttpRequest http_request, TextSink on_text,
                                                         std::chrono::milliseconds timeout) {
    SseParser sse;
    AnthropicStreamAssembler assembler(std::move(on_text));
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
    if (assembler.failed()) co_return Prefixed(*assembler.error());
    if (assembler.events() == 0 && StartsLikeJsonObject(unframed)) co_return Prefixed(ParseAnthropicMessage(unframed));
    co_return Prefixed(assembler.Finish());
  }

  // Transport failures of the HTTP client, as kinds.
  Error TransportError(const Error& e) const { return ProviderTransportError(settings_.name, e); }

  Error HttpError(const HttpResponse& answer) const {
    // Anthropic sends no retry-after-ms; passing it through costs nothing if a proxy does.
    auto retry_after = RetryAfterOf(answer);
    return AnthropicErrorFromHttpAnswer(settings_.name, answer.status, answer.body, retry_after);
  }

  Result<LlmResponse> Prefixed(Result<LlmResponse> r) const { return NamedByProvider(settings_.name, std::move(r)); }

  HttpClient& http_;
  AnthropicSettings settings_;
  std::string url_;
};

}  // namespace

std::unique_ptr<Provider> MakeAnthropicProvider(HttpClient& http, AnthropicSettings settings) {
  return std::make_unique<AnthropicProvider>(http, std::move(settings));
}

}  // namespace oc::agent
