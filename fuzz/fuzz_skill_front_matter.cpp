// Fuzzes the SKILL.md front-matter parser (SPEC §8.4) with arbitrary bytes.
//
// Invariants checked:
//  - ParseSkillFrontMatter never crashes, overflows the stack or hangs (libFuzzer's -timeout);
//  - an error is INVALID_PARAMS with a message "line N: ..." and data.line = N, a line of the input;
//  - a success has a non-empty, trimmed name and description, and requirement lists without empty
//    or duplicate entries;
//  - parsing is deterministic.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/skills.h"
#include "fuzz_check.h"

namespace {

bool Trimmed(const std::string& s) {
  return !s.empty() && std::string_view(" \t\r\n").find(s.front()) == std::string_view::npos &&
         std::string_view(" \t\r\n").find(s.back()) == std::string_view::npos;
}

void CheckList(const std::vector<std::string>& list) {
  std::set<std::string> seen;
  for (const auto& item : list) {
    FUZZ_CHECK(Trimmed(item));
    FUZZ_CHECK(seen.insert(item).second);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto result = oc::agent::ParseSkillFrontMatter(input);
  auto again = oc::agent::ParseSkillFrontMatter(input);
  FUZZ_CHECK(result.ok() == again.ok());

  if (!result.ok()) {
    const oc::Error& e = result.error();
    FUZZ_CHECK(e.code == oc::ErrorCode::kInvalidParams);
    FUZZ_CHECK(e.message.starts_with("line "));
    FUZZ_CHECK(e.message == again.error().message);
    const auto* obj = e.data.if_object();
    FUZZ_CHECK(obj != nullptr && obj->contains("line") && obj->at("line").is_int64());
    int64_t line = obj->at("line").as_int64();
    int64_t lines = static_cast<int64_t>(std::count(input.begin(), input.end(), '\n')) + 1;
    FUZZ_CHECK(line >= 1 && line <= lines);
    FUZZ_CHECK(e.message.starts_with("line " + std::to_string(line) + ": "));
    return 0;
  }
  const oc::agent::SkillFrontMatter& fm = *result;
  FUZZ_CHECK(Trimmed(fm.name));
  FUZZ_CHECK(Trimmed(fm.description));
  FUZZ_CHECK(fm.name == again->name && fm.description == again->description);
  for (const auto* list : {&fm.bins, &fm.env, &fm.any_bins, &fm.os}) CheckList(*list);
  FUZZ_CHECK(fm.bins == again->bins && fm.env == again->env && fm.any_bins == again->any_bins && fm.os == again->os);
  return 0;
}
