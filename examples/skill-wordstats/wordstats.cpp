// skill-wordstats: an in-process skill (SPEC §10) built against the C extension ABI only.
// Tool `text_stats` {text} → {words, lines, chars, topWords: [{word, count}]}.
//   words: runs of non-whitespace; lines: newline-separated lines (a final newline adds none);
//   chars: Unicode code points; topWords: the 5 most frequent words, lowercased (ASCII) and stripped
//   of surrounding punctuation, most frequent first, ties alphabetically.
// The tool is pure, so concurrent calls from several worker threads need no locking.
#include <openclawos/extension.h>
#include <openclawos/extension_json.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

const oc_host_api* g_api = nullptr;
constexpr size_t kTopWords = 5;

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// Bytes >= 0x80 belong to non-ASCII letters: kept as part of a word.
bool IsWordByte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

std::string Normalize(const std::string& word) {
  size_t begin = 0, end = word.size();
  while (begin < end && !IsWordByte(static_cast<unsigned char>(word[begin]))) ++begin;
  while (end > begin && !IsWordByte(static_cast<unsigned char>(word[end - 1]))) --end;
  std::string out = word.substr(begin, end - begin);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Quote(const std::string& s) {
  char* quoted = oc_ext_json_quote(s.c_str());
  std::string out = quoted ? quoted : "\"\"";
  std::free(quoted);
  return out;
}

std::string Stats(const std::string& text) {
  size_t words = 0, lines = 0, chars = 0;
  std::map<std::string, size_t> counts;
  std::string word;
  for (size_t i = 0; i <= text.size(); ++i) {
    unsigned char c = i < text.size() ? static_cast<unsigned char>(text[i]) : ' ';
    if (i < text.size() && (c & 0xC0) != 0x80) ++chars;  // not a UTF-8 continuation byte
    if (i < text.size() && c == '\n') ++lines;
    if (!IsSpace(c)) {
      word.push_back(static_cast<char>(c));
      continue;
    }
    if (word.empty()) continue;
    ++words;
    std::string normalized = Normalize(word);
    if (!normalized.empty()) ++counts[normalized];
    word.clear();
  }
  if (!text.empty() && text.back() != '\n') ++lines;
  std::vector<std::pair<std::string, size_t>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (ranked.size() > kTopWords) ranked.resize(kTopWords);
  std::string top;
  for (const auto& [w, n] : ranked) {
    if (!top.empty()) top += ",";
    top += "{\"word\":" + Quote(w) + ",\"count\":" + std::to_string(n) + "}";
  }
  return "{\"words\":" + std::to_string(words) + ",\"lines\":" + std::to_string(lines) +
         ",\"chars\":" + std::to_string(chars) + ",\"topWords\":[" + top + "]}";
}

extern "C" int TextStats(void*, const char* input_json, oc_output* out) {
  char* text = oc_ext_json_get_string(input_json, "text");
  if (!text) {
    g_api->set_result(out, "text_stats needs {\"text\": string}", 1);
    return 0;
  }
  try {
    std::string answer = Stats(text);
    std::free(text);
    g_api->set_result(out, answer.c_str(), 0);
  } catch (...) {  // out of memory: nothing may escape into the kernel's C callback
    std::free(text);
    g_api->set_result(out, "text_stats: out of memory", 1);
  }
  return 0;
}

extern "C" int Init(const oc_host_api* api) {
  if (api->struct_size < sizeof(oc_host_api)) return 1;  // a kernel older than this header
  g_api = api;
  const char* schema =
      R"({"type":"object","properties":{"text":{"type":"string","description":"The text to analyse"}},)"
      R"("required":["text"]})";
  return api->register_tool(api->host, "text_stats",
                            "Counts words, lines and characters of a text and lists its most frequent words",
                            schema, TextStats, nullptr);
}

}  // namespace

extern "C" OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void) {
  static const oc_extension ext = {OPENCLAWOS_EXTENSION_ABI_VERSION, sizeof(oc_extension), "Word statistics",
                                   Init, nullptr};
  return &ext;
}
