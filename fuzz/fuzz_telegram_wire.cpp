// Fuzzes the Telegram app's wire library (packages/telegram/telegram_wire.h, lib oc_telegram_wire)
// with arbitrary bytes: as a Bot API answer (ParseApiReply → ParseUpdates → CheckActivation) and as
// an agent reply (FormatReply, PlainReply). The first byte picks the message limit, the rest is the
// input.
//
// Invariants checked:
//  - parsing never throws; every entity's byte range lies inside its message text and `text` is
//    that slice; an activation's text is never longer than the message text;
//  - FormatReply / PlainReply pieces are never only whitespace, never cut a UTF-8 sequence that was
//    valid, and for a limit >= 2100 (a link atom is at most ~2000 units) each fits the limit;
//  - nothing is lost: the pieces' plain texts, whitespace aside, equal the unsplit reply's
//    (FormatReply) or the input (PlainReply).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../packages/telegram/telegram_wire.h"
#include "fuzz_check.h"
#include "openclawos/channel_text.h"
#include "tools/html_text.h"

namespace {

using namespace oc::telegram;

std::string NonSpace(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out.push_back(c);
  return out;
}

bool ValidUtf8(std::string_view s) { return oc::tools::ToValidUtf8(s) == s; }

void CheckUpdates(std::string_view body) {
  auto reply = ParseApiReply(body, 200);
  if (!reply.ok()) return;
  auto updates = ParseUpdates(reply->result);
  if (!updates.ok()) return;
  BotIdentity bot{7, "PiBot"};
  for (const Update& u : *updates) {
    if (!u.message) continue;
    const Message& m = *u.message;
    for (const Entity& e : m.entities) {
      FUZZ_CHECK(e.begin <= e.end && e.end <= m.text.size());
      FUZZ_CHECK(e.text == m.text.substr(e.begin, e.end - e.begin));
    }
    Activation a = CheckActivation(m, bot);
    FUZZ_CHECK(a.text.size() <= m.text.size());
  }
}

void CheckPieces(const std::vector<OutgoingPiece>& pieces, size_t limit, bool valid_input) {
  for (const OutgoingPiece& p : pieces) {
    FUZZ_CHECK(!NonSpace(p.plain).empty());
    if (limit >= 2100)
      FUZZ_CHECK(openclawos::sdk::TextLength(p.markdown_v2, openclawos::sdk::LengthUnit::kUtf16) <= limit);
    if (valid_input) FUZZ_CHECK(ValidUtf8(p.plain) && ValidUtf8(p.markdown_v2));
  }
}

std::string Joined(const std::vector<OutgoingPiece>& pieces) {
  std::string all;
  for (const OutgoingPiece& p : pieces) all += p.plain;
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t limit = data[0] < 128 ? 16 + data[0] : 2100 + (data[0] - 128) * 16;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  bool valid = ValidUtf8(text);

  CheckUpdates(text);

  auto pieces = FormatReply(text, limit);
  CheckPieces(pieces, limit, valid);
  auto whole = FormatReply(text, 1 << 24);
  FUZZ_CHECK(whole.size() <= 1);
  FUZZ_CHECK(NonSpace(Joined(pieces)) == NonSpace(whole.empty() ? "" : whole[0].plain));

  auto plain = PlainReply(text, limit);
  CheckPieces(plain, limit, valid);
  FUZZ_CHECK(NonSpace(Joined(plain)) == NonSpace(text));
  for (const OutgoingPiece& p : plain) FUZZ_CHECK(p.markdown_v2 == p.plain);
  return 0;
}
