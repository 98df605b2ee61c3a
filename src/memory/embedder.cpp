// The embedding providers (see embedder.h): `local` on the worker pool, and the remote ones
// (openai, gemini, ollama) as one retrying HTTP client parameterised by their wire formats
// (embedder_wire.cpp).
#include "memory/embedder.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <functional>
#include <utility>

#include "agent/provider_common.h"
#include "memory/embedder_wire.h"
#include "memory/memory_text.h"

namespace oc::memory {
namespace {

using Vectors = std::vector<std::vector<float>>;
using namespace std::chrono_literals;

// A server asking for a longer pause than this is retried after this long anyway (indexing must
// not stall for an hour on one header); exponential backoff is capped the same way.
constexpr std::chrono::milliseconds kMaxRetryDelay = 60s;

// ---------------------------------------------------------------------------------------------
// local

class LocalEmbedder : public Embedder {
 public:
  LocalEmbedder(size_t dims, size_t batch_size, asio::thread_pool& workers)
      : dims_(dims), batch_size_(batch_size), workers_(workers) {}

  std::string model_key() const override {
    return "local/" + std::string(kLocalModelName) + "-" + std::to_string(dims_);
  }

  // Each batch is computed by one pool thread; the caller resumes on its own executor (the kernel
  // loop) after each batch, as co_spawn completes through the awaiting coroutine's executor, so the
  // loop never computes.
  asio::awaitable<Result<Vectors>> Embed(std::vector<std::string> texts) override {
    auto shared = std::make_shared<const std::vector<std::string>>(std::move(texts));
    Vectors out;
    out.reserve(shared->size());
    for (size_t begin = 0; begin < shared->size(); begin += batch_size_) {
      size_t end = std::min(shared->size(), begin + batch_size_);
      Vectors batch = co_await asio::co_spawn(workers_, Compute(shared, begin, end, dims_), asio::use_awaitable);
      for (auto& v : batch) out.push_back(std::move(v));
      texts_embedded_ += static_cast<int64_t>(end - begin);
    }
    co_return out;
  }

 private:
  static asio::awaitable<Vectors> Compute(std::shared_ptr<const std::vector<std::string>> texts, size_t begin,
                                          size_t end, size_t dims) {
    Vectors out;
    out.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) out.push_back(LocalEmbedding((*texts)[i], dims));
    co_return out;
  }

  size_t dims_;
  size_t batch_size_;
  asio::thread_pool& workers_;
};

// ---------------------------------------------------------------------------------------------
// remote

// What differs between the remote providers.
struct RemoteWire {
  std::string provider;  // "openai"
  std::string model;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  std::function<std::string(const std::vector<std::string>&)> body;
  std::function<Result<Vectors>(std::string_view, size_t)> parse;
  int key_dimensions = 0;  // in the model key when > 0
};

class RemoteEmbedder : public Embedder {
 public:
  RemoteEmbedder(EmbedderSettings settings, RemoteWire wire, agent::HttpClient& http)
      : settings_(std::move(settings)), wire_(std::move(wire)), http_(http) {
    settings_.batch_size = std::max<size_t>(1, settings_.batch_size);
    settings_.max_retries = std::max(0, settings_.max_retries);
  }

  std::string model_key() const override {
    std::string key = wire_.provider + "/" + wire_.model;
    if (wire_.key_dimensions > 0) key += "-" + std::to_string(wire_.key_dimensions);
    return key;
  }

  asio::awaitable<Result<Vectors>> Embed(std::vector<std::string> texts) override {
    Vectors out;
    out.reserve(texts.size());
    for (size_t begin = 0; begin < texts.size(); begin += settings_.batch_size) {
      size_t end = std::min(texts.size(), begin + settings_.batch_size);
      std::vector<std::string> batch(std::make_move_iterator(texts.begin() + static_cast<std::ptrdiff_t>(begin)),
                                     std::make_move_iterator(texts.begin() + static_cast<std::ptrdiff_t>(end)));
      Result<Vectors> vectors = co_await EmbedBatch(std::move(batch));
      if (!vectors.ok()) co_return vectors.error();
      if (!out.empty() && vectors->front().size() != out.front().size()) {
        co_return Failure(ErrorCode::kInvalidRequest, "malformed answer: mixed dimensions across batches (" +
                                                          std::to_string(out.front().size()) + " and " +
                                                          std::to_string(vectors->front().size()) + ")");
      }
      texts_embedded_ += static_cast<int64_t>(end - begin);
      for (auto& v : *vectors) out.push_back(std::move(v));
    }
    co_return out;
  }

 private:
  // One request, retried on 429, 5xx, timeouts and dropped connections.
  asio::awaitable<Result<Vectors>> EmbedBatch(std::vector<std::string> texts) {
    agent::HttpRequest request;
    request.method = "POST";
    request.url = wire_.url;
    request.headers.emplace_back("Content-Type", "application/json");
    for (const auto& h : wire_.headers) request.headers.push_back(h);
    request.body = wire_.body(texts);
    asio::steady_timer pause(co_await asio::this_coro::executor);
    Error last;
    for (int attempt = 0;; ++attempt) {
      auto answer = co_await http_.Fetch(request, agent::BodySink(), settings_.timeout);
      bool retryable = false;
      std::optional<int64_t> retry_after;
      if (!answer.ok()) {
        last = TransportError(answer.error());
        retryable = last.code == ErrorCode::kTimeout || last.code == ErrorCode::kConnectionClosed;
      } else if (answer->status / 100 == 2) {
        Result<Vectors> parsed = wire_.parse(answer->body, texts.size());
        if (!parsed.ok()) co_return Failure(parsed.error().code, parsed.error().message);
        co_return parsed;
      } else {
        last = HttpError(*answer);
        retryable = answer->status == 429 || answer->status / 100 == 5;
        retry_after = agent::RetryAfterOf(*answer);
      }
      if (!retryable || attempt >= settings_.max_retries) co_return last;
      pause.expires_after(RetryDelay(attempt, retry_after));
      boost::system::error_code ignored;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  std::chrono::milliseconds RetryDelay(int attempt, std::optional<int64_t> retry_after_ms) const {
    if (retry_after_ms) return std::min(std::chrono::milliseconds(*retry_after_ms), kMaxRetryDelay);
    auto delay = settings_.retry_base_delay;
    for (int i = 0; i < attempt && delay < kMaxRetryDelay; ++i) delay *= 2;
    return std::min(delay, kMaxRetryDelay);
  }

  // "<provider> embeddings: <message>", the API key masked wherever a server echoed it.
  Error Failure(ErrorCode code, std::string message, int http_status = 0) const {
    std::string text = wire_.provider + " embeddings: " + std::move(message);
    const std::string& key = settings_.api_key;
    if (!key.empty()) {
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 3)) text.replace(at, key.size(), "***");
    }
    json::object data;
    data["provider"] = wire_.provider;
    if (http_status != 0) data["httpStatus"] = http_status;
    return MakeError(code, std::move(text), std::move(data));
  }

  Error TransportError(const Error& e) const {
    if (e.code == ErrorCode::kTimeout) {
      return Failure(ErrorCode::kTimeout, "no answer within " + std::to_string(settings_.timeout.count()) + " ms");
    }
    if (e.code == ErrorCode::kConnectionClosed) return Failure(ErrorCode::kConnectionClosed, e.message);
    return Failure(ErrorCode::kInternalError, e.message);
  }

  Error HttpError(const agent::HttpResponse& answer) const {
    std::string message = "HTTP " + std::to_string(answer.status);
    std::string detail = wire::ErrorDetail(answer.body);
    if (!detail.empty()) message += ": " + detail;
    bool auth = answer.status == 401 || answer.status == 403;
    return Failure(auth ? ErrorCode::kUnauthorized : ErrorCode::kInternalError, std::move(message), answer.status);
  }

  EmbedderSettings settings_;
  RemoteWire wire_;
  agent::HttpClient& http_;
};

std::string WithoutTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string OrDefault(const std::string& value, std::string_view fallback) {
  return value.empty() ? std::string(fallback) : value;
}

RemoteWire OpenAiWire(const EmbedderSettings& s) {
  RemoteWire w;
  w.provider = "openai";
  w.model = OrDefault(s.model, "text-embedding-3-small");
  w.url = WithoutTrailingSlashes(OrDefault(s.base_url, "https://api.openai.com/v1")) + "/embeddings";
  w.headers.emplace_back("Authorization", "Bearer " + s.api_key);
  w.body = [model = w.model, dims = s.dimensions](const std::vector<std::string>& texts) {
    return wire::OpenAiEmbeddingsBody(model, texts, dims);
  };
  w.parse = wire::ParseOpenAiEmbeddings;
  w.key_dimensions = s.dimensions;
  return w;
}

RemoteWire GeminiWire(const EmbedderSettings& s) {
  RemoteWire w;
  w.provider = "gemini";
  w.model = OrDefault(s.model, "text-embedding-004");
  if (w.model.rfind("models/", 0) == 0) w.model.erase(0, 7);  // the API's resource name, accepted too
  w.url = WithoutTrailingSlashes(OrDefault(s.base_url, "https://generativelanguage.googleapis.com/v1beta")) +
          "/models/" + w.model + ":batchEmbedContents";
  w.headers.emplace_back("x-goog-api-key", s.api_key);
  w.body = [model = w.model, dims = s.dimensions](const std::vector<std::string>& texts) {
    return wire::GeminiBatchEmbedBody(model, texts, dims);
  };
  w.parse = wire::ParseGeminiEmbeddings;
  w.key_dimensions = s.dimensions;
  return w;
}

RemoteWire OllamaWire(const EmbedderSettings& s) {
  RemoteWire w;
  w.provider = "ollama";
  w.model = OrDefault(s.model, "nomic-embed-text");
  w.url = WithoutTrailingSlashes(OrDefault(s.base_url, "http://127.0.0.1:11434")) + "/api/embed";
  // No key is needed locally; one set is sent (an Ollama behind an authenticating proxy).
  if (!s.api_key.empty()) w.headers.emplace_back("Authorization", "Bearer " + s.api_key);
  w.body = [model = w.model](const std::vector<std::string>& texts) { return wire::OllamaEmbedBody(model, texts); };
  w.parse = wire::ParseOllamaEmbeddings;
  return w;
}

}  // namespace

// `loop` needs no keeping: a coroutine always resumes on its own executor, which is the loop for the
// kernel's callers (the local embedder's tests check it).
Result<std::unique_ptr<Embedder>> MakeEmbedder(const EmbedderSettings& settings, asio::any_io_executor /*loop*/,
                                               asio::thread_pool& workers, agent::HttpClient& http) {
  const std::string& provider = settings.provider;
  if (settings.dimensions < 0) return MakeError(ErrorCode::kInvalidParams, "memory.embedding.dimensions must not be negative");
  if (provider == "local") {
    if (!settings.model.empty() && settings.model != kLocalModelName) {
      return MakeError(ErrorCode::kInvalidParams, "memory.embedding.model: the local embedder has only model " +
                                                      std::string(kLocalModelName));
    }
    size_t dims = settings.dimensions == 0 ? 384 : static_cast<size_t>(settings.dimensions);
    if (dims < 8) return MakeError(ErrorCode::kInvalidParams, "memory.embedding.dimensions: the local embedder needs at least 8");
    return std::unique_ptr<Embedder>(
        std::make_unique<LocalEmbedder>(dims, std::max<size_t>(1, settings.batch_size), workers));
  }
  if ((provider == "openai" || provider == "gemini") && settings.api_key.empty()) {
    return MakeError(ErrorCode::kInvalidParams, "memory.embedding.apiKey is required for provider " + provider);
  }
  if (provider == "openai") return std::unique_ptr<Embedder>(std::make_unique<RemoteEmbedder>(settings, OpenAiWire(settings), http));
  if (provider == "gemini") return std::unique_ptr<Embedder>(std::make_unique<RemoteEmbedder>(settings, GeminiWire(settings), http));
  if (provider == "ollama") return std::unique_ptr<Embedder>(std::make_unique<RemoteEmbedder>(settings, OllamaWire(settings), http));
  return MakeError(ErrorCode::kInvalidParams,
                   "memory.embedding.provider: unknown provider \"" + provider + "\" (openai, gemini, ollama, local)");
}

}  // namespace oc::memory
