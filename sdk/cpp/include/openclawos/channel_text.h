// What every channel app needs besides the protocol (SPEC §4.4, §16): cutting a reply to the
// platform's message limit, the allow-list, mention / addressing rules, and reconnect backoff.
// Pure functions (Backoff aside, which only keeps a counter); no I/O, safe on any thread.
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace openclawos::sdk {

// How a platform counts its message limit: IRC in bytes, Telegram in UTF-16 code units.
enum class LengthUnit { kBytes, kUtf16 };

// Length of `text` in `unit`. Invalid UTF-8 bytes count as one unit each.
size_t TextLength(std::string_view text, LengthUnit unit);

// Cuts `text` into pieces of at most `limit` units each, in order, never inside a UTF-8 sequence.
// A cut prefers the last paragraph break ("\n\n"), then line break, then space found in the second
// half of the piece; otherwise it cuts at the limit (a long word or URL). The whitespace at a cut is
// dropped; no piece is empty or only whitespace. Text without any non-space character → {}.
// `limit` below 4 is treated as 4 (one code point always fits).
std::vector<std::string> SplitText(std::string_view text, size_t limit, LengthUnit unit = LengthUnit::kBytes);

// The channel's allow-list rule (channels.<ch>.allowFrom): true when an entry equals one of the
// sender's identifiers, compared ASCII-case-insensitively, or is "*". An empty list allows nobody
// (a personal assistant answers only the people its owner named).
bool SenderAllowed(const std::vector<std::string>& allow_from, std::initializer_list<std::string_view> sender_ids);

// The strings of a JSON array (numbers are written as integers, so Telegram ids may be given
// either way); anything else, or a null pointer, gives {}.
std::vector<std::string> StringList(const oc::json::value* v);

// The message with its addressing prefix removed, when it starts with "<name>: ", "<name>, ",
// "<name>:", "<name>," or "@<name> " (name compared ASCII-case-insensitively; leading spaces
// skipped); nullopt when it does not. "pi: hello" → "hello".
std::optional<std::string> StripAddress(std::string_view text, std::string_view name);

// True when `name` occurs in `text` as a whole word (optionally preceded by '@'), ASCII-case-
// insensitively. Word characters are letters, digits, '_', '-', '[', ']', '\\', '`', '^', '{', '}',
// '|' (IRC nick characters), so "pi" is not found in "pipe" nor "pi_bot".
bool MentionsName(std::string_view text, std::string_view name);

// Reconnect delays: initial, then ×factor per failure up to `max`, each with ±20 % jitter so a
// fleet of clients does not reconnect in lockstep. Reset() after a connection that worked.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds initial = std::chrono::seconds(1),
                   std::chrono::milliseconds max = std::chrono::seconds(60), double factor = 2.0);
  std::chrono::milliseconds Next();
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_, max_;
  double factor_;
  int failures_ = 0;
  std::minstd_rand random_;
};

}  // namespace openclawos::sdk
