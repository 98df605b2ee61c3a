#include "common/redact.h"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <utility>

namespace oc {
namespace {

struct SecretList {
  std::shared_mutex mutex;
  std::vector<std::string> values;    // as added
  std::vector<std::string> patterns;  // values + their JSON-escaped forms when different
  std::atomic<bool> any{false};
};

SecretList& List() {
  static SecretList* list = new SecretList;  // never destroyed: loggers may run during exit
  return *list;
}

// The value as it appears between the quotes of a serialized JSON string.
std::string JsonEscaped(std::string_view value) {
  std::string quoted = boost::json::serialize(boost::json::string(value));
  return quoted.substr(1, quoted.size() - 2);
}

bool AnyMatch(std::string_view text, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    if (text.find(p) != std::string_view::npos) return true;
  return false;
}

// The union of every match of every pattern, as sorted, merged [begin, end) ranges.
std::vector<std::pair<size_t, size_t>> MatchRanges(std::string_view text, const std::vector<std::string>& patterns) {
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& p : patterns)
    for (size_t at = text.find(p); at != std::string_view::npos; at = text.find(p, at + 1))
      ranges.emplace_back(at, at + p.size());
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<size_t, size_t>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  return merged;
}

}  // namespace

bool AddSecretValue(std::string_view value) {
  if (value.size() < kMinSecretBytes) return false;
  SecretList& list = List();
  std::unique_lock lock(list.mutex);
  if (std::find(list.values.begin(), list.values.end(), value) != list.values.end()) return false;
  list.values.emplace_back(value);
  list.patterns.emplace_back(value);
  std::string escaped = JsonEscaped(value);
  if (escaped != value) list.patterns.push_back(std::move(escaped));
  list.any.store(true, std::memory_order_release);
  return true;
}

size_t AddSecretValues(const std::vector<std::string>& values) {
  size_t added = 0;
  for (const auto& v : values) added += AddSecretValue(v) ? 1 : 0;
  return added;
}

size_t SecretValueCount() {
  SecretList& list = List();
  std::shared_lock lock(list.mutex);
  return list.values.size();
}

bool HaveSecretValues() { return List().any.load(std::memory_order_acquire); }

std::optional<std::string> RedactIfNeeded(std::string_view text) {
  if (!HaveSecretValues() || text.size() < kMinSecretBytes) return std::nullopt;
  SecretList& list = List();
  std::shared_lock lock(list.mutex);
  if (!AnyMatch(text, list.patterns)) return std::nullopt;
  auto ranges = MatchRanges(text, list.patterns);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (const auto& [begin, end] : ranges) {
    out.append(text.substr(pos, begin - pos));
    out.append(kRedactedText);
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

bool RedactInPlace(std::string& text) {
  auto redacted = RedactIfNeeded(text);
  if (!redacted) return false;
  text = std::move(*redacted);
  return true;
}

std::string Redact(std::string_view text) {
  auto redacted = RedactIfNeeded(text);
  return redacted ? std::move(*redacted) : std::string(text);
}

void ClearSecretsForTesting() {
  SecretList& list = List();
  std::unique_lock lock(list.mutex);
  list.values.clear();
  list.patterns.clear();
  list.any.store(false, std::memory_order_release);
}

}  // namespace oc
