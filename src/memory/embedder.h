// Embedding providers of long-term memory (SPEC §9, config `memory.embedding`).
//
// - `local` (default): LocalEmbedding (memory_text.h) computed on the worker pool; offline, no key.
//   Model key "local/hash-v1-<dims>".
// - `openai`: POST <baseUrl>/embeddings {"model", "input": [texts], "encoding_format": "float",
//   "dimensions"? } with "Authorization: Bearer <apiKey>"; answer {"data": [{"index", "embedding"}]}
//   (sorted by index). Default baseUrl https://api.openai.com/v1, model text-embedding-3-small.
// - `gemini`: POST <baseUrl>/models/<model>:batchEmbedContents with header "x-goog-api-key";
//   body {"requests": [{"model": "models/<model>", "content": {"parts": [{"text"}]},
//   "outputDimensionality"? }]}; answer {"embeddings": [{"values": [...]}]}. Default baseUrl
//   https://generativelanguage.googleapis.com/v1beta, model text-embedding-004.
// - `ollama`: POST <baseUrl>/api/embed {"model", "input": [texts]}; answer {"embeddings": [[...]]}.
//   Default baseUrl http://127.0.0.1:11434, model nomic-embed-text.
//
// Contract of Embed(): one vector per input text, in order, every vector L2-normalised (providers
// that already normalise are normalised again, harmlessly) and all of one dimension. Texts go in
// batches of `batch_size` per request. A 429, a 5xx, a timeout or a dropped connection is retried
// up to `max_retries` times with exponential backoff from `retry_base_delay` (a Retry-After header,
// in seconds, or retry-after-ms, wins; any wait is capped at 60 s); a 4xx other than 429 is not retried. Errors (values, never exceptions):
// kUnauthorized for 401/403, kTimeout, kConnectionClosed, kInvalidRequest for a malformed answer
// (wrong count, non-numbers, mixed dimensions, empty vector), kInternalError otherwise; the message
// names the provider, the HTTP status and the start of the error body, never the API key.
// Threading: create and call on the kernel loop; `workers` and `http` outlive the embedder. Calls
// may overlap.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/http_client.h"
#include "common/status.h"

namespace oc::memory {

namespace asio = boost::asio;

struct EmbedderSettings {
  std::string provider = "local";  // openai | gemini | ollama | local
  std::string model;               // "" = the provider's default
  std::string base_url;            // "" = the provider's default
  std::string api_key;             // openai, gemini
  int dimensions = 0;              // local: vector size (0 = 384); openai/gemini: requested size (0 = model's)
  size_t batch_size = 64;
  int max_retries = 2;
  std::chrono::milliseconds retry_base_delay{500};
  std::chrono::milliseconds timeout{60000};  // per request
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  // "<provider>/<model>[-<dims>]", e.g. "local/hash-v1-384", "openai/text-embedding-3-small": the
  // key of the embedding cache and of the stored vectors; when it changes, memory re-embeds.
  virtual std::string model_key() const = 0;
  virtual asio::awaitable<Result<std::vector<std::vector<float>>>> Embed(std::vector<std::string> texts) = 0;
  // Texts sent to the provider (or computed locally) so far: the "never embedded twice" counter.
  // Counted once per text when its batch's answer is accepted (retries and failed batches add nothing).
  int64_t texts_embedded() const { return texts_embedded_.load(); }

 protected:
  std::atomic<int64_t> texts_embedded_{0};
};

// kInvalidParams for an unknown provider or a missing apiKey of openai/gemini.
Result<std::unique_ptr<Embedder>> MakeEmbedder(const EmbedderSettings& settings, asio::any_io_executor loop,
                                               asio::thread_pool& workers, agent::HttpClient& http);

}  // namespace oc::memory
