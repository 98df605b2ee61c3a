// Redaction of secret values (SPEC §12, issue 8): one process-wide list of values that must never
// leave the process in clear text. The kernel fills it (vault values, plain values of secret config
// keys, variables it hands apps); log sinks, captured app output and control-plane answers pass their
// text through Redact() before it is written or sent.
//
// Contract in brief:
// - Every occurrence of a listed value is replaced by "[redacted]" (the text of config::kRedacted;
//   oc_common cannot depend on oc_config, so the literal lives here too). Overlapping or nested
//   values are handled: the union of all matches is replaced, each maximal run once.
// - A value containing '"', '\\' or a control character is also matched in its JSON-escaped form
//   (how it appears inside a serialized JSON frame or a JSON log line).
// - Values shorter than kMinSecretBytes (4) are NOT added: replacing every "abc" or "1" would shred
//   ordinary text and still leak nothing useful about a real secret. Short secrets are not protected.
// - The list only grows (a removed vault secret stays redacted until the process exits: it may still
//   sit in old text). ClearSecretsForTesting() exists for tests only.
// - Replacing a value inside serialized JSON keeps the JSON valid as long as the value occurs inside a
//   string (the normal case); a secret that looks like JSON syntax ("true", "1234") could produce
//   invalid JSON where it matches outside a string. Use long random secrets.
// - Thread-safe: any thread may add or redact at any time (a shared mutex; readers run in parallel).
// - Cost: with an empty list, one atomic load. Otherwise O(text × values) comparisons, no allocation
//   unless something matches.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oc {

inline constexpr std::string_view kRedactedText = "[redacted]";
inline constexpr size_t kMinSecretBytes = 4;

// Adds one value (ignored when shorter than kMinSecretBytes or already listed). Returns true when the
// list changed.
bool AddSecretValue(std::string_view value);
// Adds several; returns how many were new.
size_t AddSecretValues(const std::vector<std::string>& values);
// How many values are listed (escaped forms not counted).
size_t SecretValueCount();

// Fast check: is anything listed at all?
bool HaveSecretValues();

// The redacted copy of `text`, or nullopt when nothing in it matches (then `text` is fine as is).
std::optional<std::string> RedactIfNeeded(std::string_view text);
// Replaces in place; true when something was replaced.
bool RedactInPlace(std::string& text);
// Always a copy.
std::string Redact(std::string_view text);

// Tests only: forget every value.
void ClearSecretsForTesting();

}  // namespace oc
