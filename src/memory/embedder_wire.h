// Wire formats of the remote embedding providers (embedder.h), without I/O: request bodies and
// answer parsing. Internal to oc_memory; the embedder tests call it directly.
//
// Parsers return one vector per input, in input order, each L2-normalised (a zero vector stays
// zero), all of one dimension; kInvalidRequest (message without the provider name; the caller
// adds it) when the answer is not JSON, lacks its array, has the wrong count, a non-number, a
// non-finite number, an empty vector, mixed dimensions, or (openai) an index out of range or twice.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace oc::memory::wire {

using Vectors = std::vector<std::vector<float>>;

// {"model", "input": [texts], "encoding_format": "float", "dimensions"? (when > 0)}
std::string OpenAiEmbeddingsBody(std::string_view model, const std::vector<std::string>& texts, int dimensions);
// {"requests": [{"model": "models/<model>", "content": {"parts": [{"text"}]}, "outputDimensionality"?}]}
std::string GeminiBatchEmbedBody(std::string_view model, const std::vector<std::string>& texts, int dimensions);
// {"model", "input": [texts]}
std::string OllamaEmbedBody(std::string_view model, const std::vector<std::string>& texts);

// {"data": [{"index", "embedding": [...]}, ...]} in any order (no index: array position).
Result<Vectors> ParseOpenAiEmbeddings(std::string_view body, size_t expected);
// {"embeddings": [{"values": [...]}, ...]}
Result<Vectors> ParseGeminiEmbeddings(std::string_view body, size_t expected);
// {"embeddings": [[...], ...]}
Result<Vectors> ParseOllamaEmbeddings(std::string_view body, size_t expected);

// The human part of an error answer: error.message / error (string) of a JSON body, else the
// start of the body; whitespace collapsed, cut after about `max_chars` bytes at a UTF-8 boundary.
std::string ErrorDetail(std::string_view body, size_t max_chars = 200);

}  // namespace oc::memory::wire
