// Fuzzes the IPC framing (SPEC §4): arbitrary bytes through LineSplitter, every line through
// ParseFrame, and every parsed frame through a SerializeFrame/ParseFrame round trip.
//
// Invariants checked:
//  - splitting does not depend on how the byte stream is chunked (same lines, same oversize count);
//  - a line never holds '\n' and never exceeds the limit; the buffer never exceeds the limit;
//  - ParseFrame only fails with INVALID_REQUEST;
//  - SerializeFrame yields exactly one '\n'-terminated line that parses again, and serialising that
//    reproduces it byte for byte (a fixed point after one round trip), keeping
//    id/type/method/event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "protocol/frame.h"

namespace {

using oc::protocol::Frame;
using oc::protocol::LineSplitter;

constexpr size_t kMaxLine = 512;  // small, so the oversize path is reached often

struct Split {
  std::vector<std::string> lines;
  size_t oversize = 0;
  bool operator==(const Split&) const = default;
};

// Feeds `input` in chunks whose sizes come from `sizes` (cycled); a single huge size = one call.
Split SplitInChunks(std::string_view input, const std::vector<size_t>& sizes) {
  Split out;
  LineSplitter splitter(kMaxLine);
  size_t i = 0;
  while (!input.empty()) {
    size_t n = std::min(input.size(), sizes[i++ % sizes.size()]);
    splitter.Feed(
        input.substr(0, n),
        [&](std::string_view line) {
          FUZZ_CHECK(!line.empty());
          FUZZ_CHECK(line.size() <= kMaxLine);
          FUZZ_CHECK(line.find('\n') == std::string_view::npos);
          out.lines.emplace_back(line);
        },
        [&] { ++out.oversize; });
    FUZZ_CHECK(splitter.buffered() <= kMaxLine);
    input.remove_prefix(n);
  }
  return out;
}

void CheckRoundTrip(std::string_view line) {
  auto parsed = oc::protocol::ParseFrame(line);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.error().code == oc::ErrorCode::kInvalidRequest);
    FUZZ_CHECK(!parsed.error().message.empty());
    return;
  }
  const Frame& f = *parsed;
  std::string once = oc::protocol::SerializeFrame(f);
  FUZZ_CHECK(!once.empty() && once.back() == '\n');
  FUZZ_CHECK(once.find('\n') == once.size() - 1);

  auto again = oc::protocol::ParseFrame(std::string_view(once).substr(0, once.size() - 1));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->type == f.type);
  FUZZ_CHECK(again->id == f.id);
  FUZZ_CHECK(again->method == f.method);
  FUZZ_CHECK(again->event == f.event);
  FUZZ_CHECK(again->timestamp == f.timestamp);
  FUZZ_CHECK(oc::protocol::SerializeFrame(*again) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  Split whole = SplitInChunks(input, {SIZE_MAX});
  std::vector<size_t> sizes;
  for (size_t i = 0; i < std::min<size_t>(size, 16); ++i) sizes.push_back(1 + data[i] % 97);
  if (!sizes.empty()) FUZZ_CHECK(SplitInChunks(input, sizes) == whole);
  FUZZ_CHECK(SplitInChunks(input, {1}) == whole);

  for (const std::string& line : whole.lines) CheckRoundTrip(line);
  // The whole input as one frame too: JSON allows newlines between tokens.
  if (size <= 4 * kMaxLine) CheckRoundTrip(input);
  return 0;
}
