// Request bodies and answer parsing of the remote embedding providers (see embedder_wire.h).
#include "memory/embedder_wire.h"

#include <cmath>
#include <cstdint>
#include <optional>

#include "common/json.h"

namespace oc::memory::wire {
namespace {

Error Malformed(std::string message) { return MakeError(ErrorCode::kInvalidRequest, "malformed answer: " + std::move(message)); }

json::array TextArray(const std::vector<std::string>& texts) {
  json::array out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.emplace_back(t);
  return out;
}

// One embedding: numbers to a unit-length float vector. Normalised in double after scaling by the
// largest magnitude, so huge or tiny values neither overflow nor vanish.
Result<std::vector<float>> ParseVector(const json::value* v, size_t position) {
  std::string where = "embedding " + std::to_string(position);
  const json::array* numbers = v ? v->if_array() : nullptr;
  if (!numbers) return Malformed(where + " is not an array");
  if (numbers->empty()) return Malformed(where + " is empty");
  std::vector<double> values;
  values.reserve(numbers->size());
  double largest = 0;
  for (const json::value& n : *numbers) {
    std::optional<double> d;
    if (n.is_double()) d = n.get_double();
    else if (n.is_int64()) d = static_cast<double>(n.get_int64());
    else if (n.is_uint64()) d = static_cast<double>(n.get_uint64());
    if (!d || !std::isfinite(*d)) return Malformed(where + " holds a non-number");
    values.push_back(*d);
    largest = std::max(largest, std::abs(*d));
  }
  std::vector<float> out(values.size(), 0.0f);
  if (largest == 0) return out;
  double norm = 0;
  for (double& x : values) {
    x /= largest;
    norm += x * x;
  }
  norm = std::sqrt(norm);
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i] / norm);
  return out;
}

Result<json::object> ParseObject(std::string_view body) {
  std::string error;
  auto parsed = TryParseJson(body, &error);
  if (!parsed) return Malformed("not JSON (" + error + ")");
  if (!parsed->is_object()) return Malformed("not a JSON object");
  return std::move(parsed->get_object());
}

const json::array* ArrayField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

// A non-negative integer, or nullopt.
std::optional<size_t> IndexValue(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<size_t>(v.get_int64());
  if (v.is_uint64()) return static_cast<size_t>(std::min<uint64_t>(v.get_uint64(), SIZE_MAX));
  return std::nullopt;
}

Status CheckCount(size_t got, size_t expected) {
  if (got == expected) return {};
  return Malformed(std::to_string(got) + " embeddings for " + std::to_string(expected) + " texts");
}

Status CheckDimensions(const Vectors& vectors) {
  for (size_t i = 1; i < vectors.size(); ++i) {
    if (vectors[i].size() != vectors[0].size()) {
      return Malformed("mixed dimensions (" + std::to_string(vectors[0].size()) + " and " +
                       std::to_string(vectors[i].size()) + ")");
    }
  }
  return {};
}

// Shared tail of the parsers: every element through `element_vector` (which finds the number array
// inside one element), in order.
template <class ElementVector>
Result<Vectors> ParseList(const json::array& list, size_t expected, ElementVector element_vector) {
  OC_TRY(CheckCount(list.size(), expected));
  Vectors out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    OC_ASSIGN(auto vector, ParseVector(element_vector(list[i]), i));
    out.push_back(std::move(vector));
  }
  OC_TRY(CheckDimensions(out));
  return out;
}

}  // namespace

std::string OpenAiEmbeddingsBody(std::string_view model, const std::vector<std::string>& texts, int dimensions) {
  json::object body;
  body["model"] = model;
  body["input"] = TextArray(texts);
  body["encoding_format"] = "float";
  if (dimensions > 0) body["dimensions"] = dimensions;
  return json::serialize(body);
}

std::string GeminiBatchEmbedBody(std::string_view model, const std::vector<std::string>& texts, int dimensions) {
  std::string model_name = "models/" + std::string(model);
  json::array requests;
  requests.reserve(texts.size());
  for (const std::string& t : texts) {
    json::object part;
    part["text"] = t;
    json::object content;
    content["parts"] = json::array{std::move(part)};
    json::object request;
    request["model"] = model_name;
    request["content"] = std::move(content);
    if (dimensions > 0) request["outputDimensionality"] = dimensions;
    requests.emplace_back(std::move(request));
  }
  json::object body;
  body["requests"] = std::move(requests);
  return json::serialize(body);
}

std::string OllamaEmbedBody(std::string_view model, const std::vector<std::string>& texts) {
  json::object body;
  body["model"] = model;
  body["input"] = TextArray(texts);
  return json::serialize(body);
}

Result<Vectors> ParseOpenAiEmbeddings(std::string_view body, size_t expected) {
  OC_ASSIGN(json::object root, ParseObject(body));
  const json::array* data = ArrayField(root, "data");
  if (!data) return Malformed("no \"data\" array");
  OC_TRY(CheckCount(data->size(), expected));
  // Place each item by its index (answers need not be in order).
  std::vector<const json::value*> by_index(data->size(), nullptr);
  for (size_t i = 0; i < data->size(); ++i) {
    const json::object* item = (*data)[i].if_object();
    if (!item) return Malformed("data[" + std::to_string(i) + "] is not an object");
    size_t index = i;
    if (const json::value* iv = item->if_contains("index")) {
      std::optional<size_t> n = IndexValue(*iv);
      if (!n || *n >= data->size()) return Malformed("data[" + std::to_string(i) + "].index is out of range");
      index = *n;
    }
    if (by_index[index]) return Malformed("index " + std::to_string(index) + " appears twice");
    by_index[index] = item->if_contains("embedding");
    if (!by_index[index]) return Malformed("data[" + std::to_string(i) + "] has no embedding");
  }
  Vectors out;
  out.reserve(by_index.size());
  for (size_t i = 0; i < by_index.size(); ++i) {
    OC_ASSIGN(auto vector, ParseVector(by_index[i], i));
    out.push_back(std::move(vector));
  }
  OC_TRY(CheckDimensions(out));
  return out;
}

Result<Vectors> ParseGeminiEmbeddings(std::string_view body, size_t expected) {
  OC_ASSIGN(json::object root, ParseObject(body));
  const json::array* list = ArrayField(root, "embeddings");
  if (!list) return Malformed("no \"embeddings\" array");
  return ParseList(*list, expected, [](const json::value& item) -> const json::value* {
    const json::object* o = item.if_object();
    return o ? o->if_contains("values") : nullptr;
  });
}

Result<Vectors> ParseOllamaEmbeddings(std::string_view body, size_t expected) {
  OC_ASSIGN(json::object root, ParseObject(body));
  const json::array* list = ArrayField(root, "embeddings");
  if (!list) return Malformed("no \"embeddings\" array");
  return ParseList(*list, expected, [](const json::value& item) { return &item; });
}

std::string ErrorDetail(std::string_view body, size_t max_chars) {
  std::string from_json;
  if (auto parsed = TryParseJson(body, nullptr); parsed && parsed->is_object()) {
    if (const json::value* error = parsed->get_object().if_contains("error")) {
      if (error->is_string()) from_json = std::string(error->get_string());
      if (const json::object* o = error->if_object()) {
        if (auto message = GetString(*o, "message")) from_json = std::string(*message);
      }
    }
  }
  std::string_view text = from_json.empty() ? body : std::string_view(from_json);
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (out.size() + (space ? 1 : 0) >= max_chars && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace oc::memory::wire
