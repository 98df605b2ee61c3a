// The IRC wire protocol (RFC 1459 / RFC 2812 and the IRCv3 message-tags and SASL extensions) as
// pure functions: parsing one line, writing one command, nick case mapping, CTCP ACTION, masks,
// cutting a reply into PRIVMSG-sized pieces, the flood-control bucket, the nick-collision sequence
// and the SASL PLAIN payload. No I/O, no clock (time is passed in), safe on any thread.
// Library oc_irc_proto; fuzzed by fuzz/fuzz_irc_line.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace oc::irc {

// The protocol's line limit (RFC 1459 §2.3): 512 bytes including the final CR LF, tags excluded.
inline constexpr size_t kMaxLineBytes = 512;
// IRCv3 message-tags allow 8191 bytes of tags before the rest of the line (4094 for clients,
// 8191 from servers); a line longer than this in total is refused by the reader.
inline constexpr size_t kMaxTaggedLineBytes = 8191 + kMaxLineBytes;

// The parts of a nick!user@host prefix; a server prefix ("irc.example.org") has only `nick` set
// to the server name (callers check `user`/`host` to tell them apart).
struct Prefix {
  std::string nick, user, host;
};
Prefix ParsePrefix(std::string_view prefix);

// One parsed line.
struct Message {
  std::map<std::string, std::string> tags;  // IRCv3 tags, values unescaped ("" for a tag without value)
  std::string prefix;                       // without the leading ':', "" when absent
  std::string command;                      // upper-cased word, or the three digits of a numeric
  std::vector<std::string> params;          // middle params then the trailing one (its ':' removed)

  // params[i], or "" when there are fewer params.
  const std::string& Param(size_t i) const;
  // The nick of the prefix ("" when there is no prefix).
  std::string Nick() const { return ParsePrefix(prefix).nick; }
  // The value of tag `name`, nullopt when absent.
  std::optional<std::string> Tag(const std::string& name) const;
};

// Parses one line (a trailing "\r\n", "\n" or "\r" is ignored). INVALID_PARAMS when the line is
// empty, has no command, has a malformed command (letters or exactly three digits), contains NUL,
// CR or LF inside, or is longer than kMaxTaggedLineBytes. More than 15 params are kept as sent.
oc::Result<Message> ParseLine(std::string_view line);

// Writes `command params...` as one line ending in "\r\n". The last param is written as trailing
// (":...") when it is empty, contains a space or starts with ':', or always when `last_as_trailing`
// (PRIVMSG text, so every piece reads the same on the wire); every other param must be
// non-empty, without spaces and not start with ':'. INVALID_PARAMS when any param or the command
// contains NUL, CR or LF (the line-injection guard), when a middle param breaks the rule above, or
// when the line would exceed kMaxLineBytes.
oc::Result<std::string> FormatCommand(std::string_view command, const std::vector<std::string>& params,
                                      bool last_as_trailing = false);

// How the server compares nicks and channel names (ISUPPORT CASEMAPPING). RFC 1459 (the default
// when the server does not say) also folds "[]\~" to "{}|^"; strict-rfc1459 leaves '~'/'^' alone.
enum class CaseMapping { kAscii, kRfc1459, kStrictRfc1459 };
CaseMapping CaseMappingFromName(std::string_view isupport_value);  // unknown → kRfc1459
std::string CaseFold(std::string_view text, CaseMapping mapping = CaseMapping::kRfc1459);
bool IrcEquals(std::string_view a, std::string_view b, CaseMapping mapping = CaseMapping::kRfc1459);

// True when the target names a channel ('#', '&', '+' or '!'), not a nick.
bool IsChannelName(std::string_view target);

// CTCP (text wrapped in \x01): IsCtcp for any CTCP message; CtcpAction gives the action's text
// for "\x01ACTION waves\x01" ("waves"; the final \x01 may be missing), nullopt otherwise.
bool IsCtcp(std::string_view text);
std::optional<std::string> CtcpAction(std::string_view text);

// Strips mIRC formatting (bold, colour with its digits, italics, underline, reverse, reset,
// monospace, strikethrough) so the agent sees plain text.
std::string StripFormatting(std::string_view text);

// allowFrom entries: an entry containing '!' or '@' is a mask nick!user@host with '*' and '?'
// wildcards; otherwise it must equal the nick. Both compared under `mapping`.
bool MaskMatches(std::string_view mask, std::string_view subject, CaseMapping mapping = CaseMapping::kRfc1459);
bool AllowEntryMatches(std::string_view entry, const Prefix& sender, CaseMapping mapping = CaseMapping::kRfc1459);

// The bytes of text one "PRIVMSG <target> :<text>\r\n" may carry when the server relays it with a
// prefix of `prefix_bytes` (":nick!user@host ", counted with ':' and the space).
size_t PrivmsgTextBudget(std::string_view target, size_t prefix_bytes);
// A reply cut for IRC: each line of `text` (IRC has no multi-line message) split with SplitText to
// at most `budget` bytes, never inside a UTF-8 sequence; empty lines are dropped; order kept.
std::vector<std::string> SplitForIrc(std::string_view text, size_t budget);

// Flood control: a token bucket that starts full with `burst` lines and refills one line every
// `interval`. Time is passed in so tests need no clock.
class FloodBucket {
 public:
  using Clock = std::chrono::steady_clock;
  FloodBucket(int burst, std::chrono::milliseconds interval, Clock::time_point now);
  // How long to wait before the next line may be sent at `now` (zero when a token is available).
  std::chrono::milliseconds WaitTime(Clock::time_point now);
  // Takes one token; call after WaitTime returned zero.
  void Take(Clock::time_point now);

 private:
  void Refill(Clock::time_point now);
  int burst_;
  std::chrono::milliseconds interval_;
  double tokens_;
  Clock::time_point last_;
};

// The nicks tried on a collision (433 / 436 / 432): base, base_, base__, base1, base2, ...; each
// candidate cut to `max_length` bytes (the server's NICKLEN) by shortening the base.
class NickSequence {
 public:
  explicit NickSequence(std::string base, size_t max_length = 30);
  const std::string& Current() const { return current_; }
  // Moves to the next candidate and returns it.
  const std::string& Next();
  int attempts() const { return attempt_; }
  void SetMaxLength(size_t max_length);
  void Reset();

 private:
  std::string Candidate(int attempt) const;
  std::string base_;
  size_t max_length_;
  int attempt_ = 0;
  std::string current_;
};

// SASL PLAIN: base64("authzid\0authcid\0password") with authzid = authcid, cut into the
// AUTHENTICATE arguments of at most 400 bytes; a payload whose length is a multiple of 400 (or an
// empty one) ends with "+" (IRCv3 SASL 3.1).
std::string SaslPlainPayload(std::string_view user, std::string_view password);
std::vector<std::string> AuthenticateChunks(std::string_view base64_payload);

// ISUPPORT (005) tokens "KEY=value" / "KEY" of one RPL_ISUPPORT line (params between the nick and
// the trailing text): KEY → value ("" without '='). "-KEY" removals are ignored.
std::map<std::string, std::string> ParseIsupport(const Message& isupport);

// How a channel message addresses the bot: `addressed` when it starts with "nick: ", "nick, " or
// "@nick " (the address is then removed from `text`), `mentioned` when the nick occurs as a word.
struct Addressing {
  bool addressed = false;
  bool mentioned = false;  // addressed implies mentioned
  std::string text;
};
Addressing ClassifyAddressing(std::string_view text, std::string_view nick);

}  // namespace oc::irc
