// `openclaw memory search|index|status` (SPEC §9, §15): clients of the running kernel's memory.*
// methods (docs/CONTROL-PLANE.md). `memory index` waits for the pass and, meanwhile, shows the
// kernel's `memory.progress` events on stderr: a redrawn bar on a terminal, one line per phase
// otherwise (logs and pipes get no carriage returns).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace oc::cli {
namespace {

// memory.index waits for the whole pass, embedding included; a large workspace with a remote
// embedder can take long, and the progress events show it is alive.
constexpr auto kIndexTimeout = std::chrono::hours(2);
constexpr int kBarWidth = 28;

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

int64_t Count(const json::object& o, std::string_view key) { return GetInt(o, key).value_or(0); }

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  std::replace(s.begin(), s.end(), '\t', ' ');
  return s;
}

std::string Fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

std::string Elapsed(int64_t ms) { return ms < 1000 ? std::to_string(ms) + " ms" : Fixed(ms / 1000.0, 2) + " s"; }

// Whose pass a progress event is about: the event's agentId ("all" when memory.index was called
// without --agent), else the last component of its workspace path.
std::string ScopeName(const json::object& p) {
  if (auto agent = GetString(p, "agentId"); agent && !agent->empty())
    return *agent == "all" ? "all agents" : "agent " + std::string(*agent);
  std::string_view path = GetString(p, "workspace").value_or("");
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Call() with the kernel's INVALID_PARAMS counted as a usage error (as `cron` does).
Result<json::value> CallMemory(std::string_view method, json::value params, int* rc,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto client = Connect(rc);
  if (!client) return MakeError(ErrorCode::kConnectionClosed, "not connected");
  auto r = client->Call(method, std::move(params), timeout);
  if (!r.ok()) {
    std::cerr << "openclaw: " << method << ": " << r.error().message << "\n";
    *rc = r.error().code == ErrorCode::kInvalidParams ? kUsage : kFail;
  }
  return r;
}

// ---- index progress ------------------------------------------------------------------------------

// Renders `memory.progress` events {agentId, phase, filesTotal, filesDone, chunksPending,
// chunksEmbedded} on stderr.
class ProgressView {
 public:
  explicit ProgressView(bool tty) : tty_(tty) {}

  void OnEvent(const json::value& frame) {
    const json::object* f = frame.if_object();
    if (!f || GetString(*f, "event") != "memory.progress") return;
    const json::object* p = GetObject(*f, "payload");
    if (!p) return;
    std::string scope = ScopeName(*p);
    std::string phase(GetString(*p, "phase").value_or(""));
    if (tty_)
      Draw(scope, phase, *p);
    else
      Log(scope, phase, *p);
  }

  // Clears the bar so the report starts on a clean line.
  void Finish() {
    if (tty_ && drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  static std::string Bar(int64_t done, int64_t total) {
    int filled = total > 0 ? static_cast<int>(std::min<int64_t>(done, total) * kBarWidth / total) : 0;
    return "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "]";
  }

  void Draw(const std::string& scope, const std::string& phase, const json::object& p) {
    std::string line;
    if (phase == "scanning") {
      int64_t done = Count(p, "filesDone"), total = Count(p, "filesTotal");
      line = Bar(done, total) + " " + scope + ": scanning " + std::to_string(done) + "/" + std::to_string(total) + " files";
    } else if (phase == "embedding") {
      int64_t done = Count(p, "chunksEmbedded"), total = Count(p, "chunksPending");
      line = Bar(done, total) + " " + scope + ": embedding " + std::to_string(done) + "/" + std::to_string(total) +
             " chunks";
    } else {
      line = Bar(1, 1) + " " + scope + ": " + (phase.empty() ? "working" : phase);
    }
    std::cerr << "\r\033[K" << line << std::flush;
    drawn_ = true;
  }

  // One line when a pass enters a phase; "idle" (the pass is over) and an embedding phase with
  // nothing to embed are not announced.
  void Log(const std::string& scope, const std::string& phase, const json::object& p) {
    std::string key = scope + "\n" + phase;
    if (key == last_ || phase == "idle" || phase.empty()) return;
    if (phase == "embedding" && Count(p, "chunksPending") == 0) return;
    last_ = key;
    std::cerr << "memory index: " << scope << ": " << phase;
    if (phase == "scanning") std::cerr << " " << Count(p, "filesTotal") << " files";
    if (phase == "embedding") std::cerr << " " << Count(p, "chunksPending") << " chunks";
    std::cerr << "\n" << std::flush;
  }

  bool tty_;
  bool drawn_ = false;
  std::string last_;
};

void PrintReport(const json::object& r) {
  std::cout << "files: " << Count(r, "filesScanned") << " scanned, " << Count(r, "filesChanged") << " changed, "
            << Count(r, "filesRemoved") << " removed\n";
  std::cout << "chunks: " << Count(r, "chunksAdded") << " added, " << Count(r, "chunksRemoved") << " removed, "
            << Count(r, "chunksKept") << " kept\n";
  std::cout << "embeddings: " << Count(r, "embeddingsComputed") << " computed, " << Count(r, "embeddingsCached")
            << " from the cache\n";
  std::cout << "elapsed: " << Elapsed(Count(r, "elapsedMs")) << "\n";
}

// ---- status --------------------------------------------------------------------------------------

void PrintWorkspaces(const json::object& s) {
  std::vector<std::vector<std::string>> rows{{"WORKSPACE", "FILES", "CHUNKS", "EMBEDDED", "PENDING"}};
  if (const json::array* list = GetArray(s, "workspaces"))
    for (const auto& v : *list) {
      const json::object* w = v.if_object();
      if (!w) continue;
      int64_t chunks = Count(*w, "chunks"), embedded = Count(*w, "embedded");
      rows.push_back({Str(w->if_contains("workspace")), std::to_string(Count(*w, "files")), std::to_string(chunks),
                      std::to_string(embedded), std::to_string(std::max<int64_t>(0, chunks - embedded))});
    }
  rows.push_back({"total", std::to_string(Count(s, "files")), std::to_string(Count(s, "chunks")),
                  std::to_string(Count(s, "embedded")), std::to_string(Count(s, "pending"))});
  PrintTable(rows);
}

std::string IndexingText(const json::object& s) {
  const json::object* p = GetObject(s, "indexing");
  if (!p) return "no";
  std::string phase(GetString(*p, "phase").value_or("?"));
  if (phase == "scanning")
    return "scanning, " + std::to_string(Count(*p, "filesDone")) + "/" + std::to_string(Count(*p, "filesTotal")) + " files";
  if (phase == "embedding")
    return "embedding, " + std::to_string(Count(*p, "chunksEmbedded")) + "/" + std::to_string(Count(*p, "chunksPending")) +
           " chunks";
  return phase;
}

std::string LastIndexText(const json::object& s) {
  const json::object* r = GetObject(s, "lastIndex");
  if (!r) return "never (since the gateway started)";
  std::string text = std::to_string(Count(*r, "filesScanned")) + " files scanned, " +
                     std::to_string(Count(*r, "filesChanged")) + " changed, " +
                     std::to_string(Count(*r, "filesRemoved")) + " removed; " +
                     std::to_string(Count(*r, "embeddingsComputed")) + " embeddings computed in " +
                     Elapsed(Count(*r, "elapsedMs"));
  if (auto at = GetInt(*r, "finishedAt")) text += " (" + LocalTime(*at) + ")";
  if (auto error = GetString(*r, "error"); error && !error->empty()) text += "; stopped: " + OneLine(std::string(*error));
  return text;
}

void PrintStatus(const json::object& s) {
  std::string model = Str(s.if_contains("model"));
  if (auto dims = GetInt(s, "dims")) model += " (" + std::to_string(*dims) + " dimensions)";
  std::vector<std::vector<std::string>> kv{
      {"provider", Str(s.if_contains("provider"))},
      {"model", model},
      {"vec0", Str(s.if_contains("vecExtension"))},
      {"watching", GetBool(s, "watching").value_or(false) ? "yes" : "no"},
      {"indexing", IndexingText(s)},
      {"embeddings", std::to_string(Count(s, "embeddingsComputed")) + " computed, " +
                         std::to_string(Count(s, "embeddingsCached")) + " from the cache (since start)"},
      {"last index", LastIndexText(s)},
      {"last error", OneLine(Str(s.if_contains("lastError")))},
  };
  for (auto& row : kv) row[0] += ":";
  PrintTable(kv);
  std::cout << "\n";
  PrintWorkspaces(s);
}

}  // namespace

int CmdMemorySearch(const Options& o) {
  std::string query;
  for (const auto& word : o.query) query += (query.empty() ? "" : " ") + word;
  if (query.find_first_not_of(" \t\n") == std::string::npos) {
    std::cerr << "openclaw: memory search: the query must not be empty\n";
    return kUsage;
  }
  json::object params{{"query", query}};
  if (!o.agent.empty()) params["agentId"] = o.agent;
  if (o.top_k > 0) params["topK"] = o.top_k;
  if (o.min_score >= 0) params["minScore"] = o.min_score;
  int rc = kOk;
  auto r = CallMemory("memory.search", std::move(params), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* answer = r->if_object();
  const json::array* results = answer ? GetArray(*answer, "results") : nullptr;
  if (!results || results->empty()) {
    std::cout << "no matches\n";
    return kOk;
  }
  for (const auto& v : *results) {
    const json::object* hit = v.if_object();
    if (!hit) continue;
    std::cout << Str(hit->if_contains("path")) << ":" << Count(*hit, "startLine") << "-" << Count(*hit, "endLine")
              << "  " << Fixed(Number(*hit, "score").value_or(0), 3) << "  "
              << OneLine(Str(hit->if_contains("snippet"))) << "\n";
  }
  return kOk;
}

int CmdMemoryIndex(const Options& o) {
  json::object params;
  if (!o.agent.empty()) params["agentId"] = o.agent;
  if (o.force) params["force"] = true;
  int rc = kOk;
  auto client = Connect(&rc);
  if (!client) return rc;
  ProgressView view(isatty(STDERR_FILENO) != 0);
  auto r = client->CallStreaming(
      "memory.index", std::move(params), [&](const json::value& e) { view.OnEvent(e); }, kIndexTimeout);
  view.Finish();
  if (!r.ok()) {
    std::cerr << "openclaw: memory.index: " << r.error().message << "\n";
    return r.error().code == ErrorCode::kInvalidParams ? kUsage : kFail;
  }
  if (o.json) {
    PrintJson(*r);
  } else if (const json::object* report = r->if_object()) {
    PrintReport(*report);
  } else {
    PrintJson(*r);
  }
  const json::object* report = r->if_object();
  auto error = report ? GetString(*report, "error") : std::nullopt;
  if (error && !error->empty()) {
    std::cerr << "openclaw: memory index: the pass stopped: " << *error << "\n";
    return kFail;
  }
  return kOk;
}

int CmdMemoryStatus(const Options& o) {
  int rc = kOk;
  auto r = CallMemory("memory.status", json::object{}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* s = r->if_object();
  if (!s) {
    PrintJson(*r);
    return kOk;
  }
  if (GetBool(*s, "enabled") == false) {
    std::cout << "memory is disabled (memory.enabled is false in the config)\n";
    return kOk;
  }
  PrintStatus(*s);
  return kOk;
}

}  // namespace oc::cli
