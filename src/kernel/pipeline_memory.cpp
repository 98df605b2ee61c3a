// Long-term memory in the pipeline (SPEC §9): the memory service's settings from the config, the
// workspaces it indexes, and the agent tools memory_search, memory_get and memory_store.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "agent/runtime_config.h"
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::IntOr;
using internal::Prop;
using internal::Str;
namespace {

constexpr size_t kToolResultTextCap = 1200;  // characters of each hit's text handed to the model

std::vector<agent::ToolSpec> BuildMemoryToolSpecs() {
  std::vector<agent::ToolSpec> specs;
  specs.push_back(internal::ToolSpecOf(
      "memory_search",
      "Search long-term memory (facts stored with memory_store, MEMORY.md and memory/*.md of the workspace) by "
      "meaning and keywords. Use it before answering questions about the user's preferences, earlier decisions, "
      "people, dates or anything discussed in other conversations.",
      {{"query", Prop("string", "What to look for, in natural language.")},
       {"maxResults", Prop("integer", "At most this many results (default from memory.search.topK).")},
       {"minScore", Prop("number", "Drop results scoring below this (0-1).")}},
      {"query"}));
  specs.push_back(internal::ToolSpecOf(
      "memory_get", "Read lines of a memory file (MEMORY.md or memory/**.md), e.g. around a memory_search hit.",
      {{"path", Prop("string", "Path relative to the workspace, as memory_search returned it.")},
       {"from", Prop("integer", "First line, 1-based (default 1).")},
       {"lines", Prop("integer", "How many lines (default: to the end).")}},
      {"path"}));
  json::object tags{{"type", "array"}, {"items", json::object{{"type", "string"}}}, {"description", "Optional tags."}};
  specs.push_back(internal::ToolSpecOf(
      "memory_store",
      "Remember something for later conversations (on any channel): a fact, a preference, a decision. Write one "
      "self-contained sentence, e.g. \"The user prefers Postgres over MySQL.\"",
      {{"text", Prop("string", "What to remember.")}, {"tags", std::move(tags)}}, {"text"}));
  return specs;
}

double NumberOr(const json::value* v, double fallback) {
  if (!v) return fallback;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  return fallback;
}

}  // namespace

bool Pipeline::MemoryEnabledIn(const json::value& root) {
  const json::value* v = FindPath(root, "memory.enabled");
  return !v || !v->is_bool() || v->as_bool();
}

memory::MemorySettings Pipeline::MemorySettingsFrom(const json::value& root) {
  memory::MemorySettings s;
  auto str = [&](std::string_view path) -> std::string {
    const json::value* v = FindPath(root, path);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [&](std::string_view path) -> std::optional<int64_t> {
    const json::value* v = FindPath(root, path);
    return v && v->is_int64() ? std::optional(v->as_int64()) : std::nullopt;
  };
  auto flag = [&](std::string_view path, bool fallback) {
    const json::value* v = FindPath(root, path);
    return v && v->is_bool() ? v->as_bool() : fallback;
  };
  std::string vec = str("memory.vecExtension");
  s.vec_extension = vec.empty() ? memory::DefaultVecExtensionPath() : std::filesystem::path(vec);
  s.watch = flag("memory.watch", true);
  auto& e = s.embedding;
  if (auto p = str("memory.embedding.provider"); !p.empty()) e.provider = p;
  e.model = str("memory.embedding.model");
  e.base_url = str("memory.embedding.baseUrl");
  e.api_key = str("memory.embedding.apiKey");
  auto env = config::ProcessEnv();
  if (e.base_url.empty() && e.provider == "ollama")
    if (auto host = env("OLLAMA_HOST"); host && !host->empty()) e.base_url = *host;
  if (e.api_key.empty() && (e.provider == "openai" || e.provider == "gemini")) {
    // The chat provider's key (models.providers.<name>.apiKey or $OPENAI_API_KEY / $GEMINI_API_KEY).
    auto providers = agent::ProvidersFromConfig(root, env);
    if (auto it = providers.find(e.provider); it != providers.end()) e.api_key = it->second.api_key;
  }
  if (auto n = num("memory.embedding.dimensions")) e.dimensions = static_cast<int>(*n);
  if (auto n = num("memory.embedding.batchSize")) e.batch_size = static_cast<size_t>(*n);
  if (auto n = num("memory.embedding.maxRetries")) e.max_retries = static_cast<int>(*n);
  if (auto n = num("memory.embedding.timeoutMs")) e.timeout = std::chrono::milliseconds(*n);
  if (auto n = num("memory.chunking.tokens")) s.chunking.target_tokens = static_cast<size_t>(*n);
  if (auto n = num("memory.chunking.overlap")) s.chunking.overlap_tokens = static_cast<size_t>(*n);
  auto& q = s.search;
  q.vector_weight = NumberOr(FindPath(root, "memory.search.vectorWeight"), q.vector_weight);
  q.text_weight = NumberOr(FindPath(root, "memory.search.textWeight"), q.text_weight);
  q.min_score = NumberOr(FindPath(root, "memory.search.minScore"), q.min_score);
  if (auto n = num("memory.search.topK")) q.top_k = static_cast<size_t>(*n);
  if (auto n = num("memory.search.candidates")) q.candidates = static_cast<size_t>(*n);
  q.mmr = flag("memory.search.mmr.enabled", false);
  q.mmr_lambda = NumberOr(FindPath(root, "memory.search.mmr.lambda"), q.mmr_lambda);
  return s;
}

// Every configured agent's workspace (agents sharing one directory share its memory).
std::vector<std::filesystem::path> Pipeline::MemoryWorkspaces() {
  std::set<std::filesystem::path> dirs{SettingsFor("default").workspace};
  if (const json::value* agents = FindPath(config_root_, "agents"); agents && agents->is_object())
    for (const auto& [id, v] : agents->as_object())
      if (v.is_object()) dirs.insert(SettingsFor(std::string(id)).workspace);
  return {dirs.begin(), dirs.end()};
}

Status Pipeline::OpenMemory() {
  if (!MemoryEnabledIn(config_root_)) return Status::Ok();
  auto opened = memory::MemoryService::Open(paths_.database, MemorySettingsFrom(config_root_), io_.get_executor(),
                                            workers_, http_);
  if (!opened.ok()) return opened.error();
  memory_ = std::move(opened).value();
  memory_->SetWorkspaces(MemoryWorkspaces());
  return Status::Ok();
}

// A reload: memory switched on or off, new settings, new workspaces. Failures are logged and keep
// what runs (a reload never takes the gateway down).
void Pipeline::ReconfigureMemory() {
  bool enabled = MemoryEnabledIn(config_root_);
  if (!enabled) {
    if (memory_) {
      spdlog::info("memory: disabled by the config");
      memory_->Stop();
      retired_memory_.push_back(std::move(memory_));
    }
    return;
  }
  if (!memory_) {
    if (auto opened = OpenMemory(); !opened.ok()) spdlog::error("memory: {}", opened.error().message);
    return;
  }
  if (auto applied = memory_->ApplySettings(MemorySettingsFrom(config_root_)); !applied.ok())
    spdlog::error("memory: new settings rejected, keeping the previous ones: {}", applied.error().message);
  memory_->SetWorkspaces(MemoryWorkspaces());
}

bool Pipeline::MemoryToolsFor(const std::string& agent_id) {
  if (!memory_) return false;
  const json::value* v = FindPath(config_root_, "agents." + agent_id + ".memoryEnabled");
  return !v || !v->is_bool() || v->as_bool();
}

const std::vector<agent::ToolSpec>& Pipeline::MemoryToolSpecs() {
  static const std::vector<agent::ToolSpec> specs = BuildMemoryToolSpecs();
  return specs;
}

json::object Pipeline::HitJson(const memory::SearchHit& hit, bool whole_text) {
  json::object o{{"path", hit.path},
                 {"startLine", hit.line_start},
                 {"endLine", hit.line_end},
                 {"score", std::round(hit.score * 1000) / 1000},
                 {"vectorScore", std::round(hit.vector_score * 1000) / 1000},
                 {"textScore", std::round(hit.text_score * 1000) / 1000},
                 {"source", hit.source},
                 {"snippet", hit.snippet}};
  if (whole_text) o["text"] = hit.text;
  return o;
}

asio::awaitable<agent::ToolOutcome> Pipeline::InvokeMemoryTool(std::string name, json::value input,
                                                               agent::ToolContext context) {
  auto alive = alive_;
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  std::filesystem::path workspace = SettingsFor(context.agent_id).workspace;
  memory::MemoryService* memory = memory_.get();
  if (!memory) co_return agent::ToolOutcome{"error: long-term memory is disabled (memory.enabled)", true};
  if (name == "memory_search") {
    std::string query = Str(in, "query");
    if (query.empty()) co_return agent::ToolOutcome{"error: query is required", true};
    memory::MemoryService::SearchOptions options;
    if (int64_t n = IntOr(in, "maxResults", 0); n > 0) options.top_k = static_cast<size_t>(std::min<int64_t>(n, 50));
    if (const json::value* m = in.if_contains("minScore"); m && m->is_number()) options.min_score = NumberOr(m, 0);
    auto hits = co_await memory->Search(workspace, query, options);
    if (!*alive) co_return agent::ToolOutcome{"error: the gateway is stopping", true};
    if (!hits.ok()) co_return agent::ToolOutcome{"error: " + hits.error().message, true};
    json::array results;
    for (const auto& hit : *hits) {
      json::object o = HitJson(hit, false);
      o["text"] = hit.text.size() <= kToolResultTextCap ? hit.text : hit.text.substr(0, kToolResultTextCap) + "…";
      results.push_back(std::move(o));
    }
    co_return agent::ToolOutcome{json::serialize(json::object{{"results", std::move(results)}}), false};
  }
  if (name == "memory_get") {
    std::string path = Str(in, "path");
    int from = static_cast<int>(std::max<int64_t>(IntOr(in, "from", 1), 1));
    int lines = static_cast<int>(std::clamp<int64_t>(IntOr(in, "lines", 0), 0, 100000));
    auto text = co_await memory->ReadFile(workspace, path, from, lines);
    if (!*alive) co_return agent::ToolOutcome{"error: the gateway is stopping", true};
    if (!text.ok()) co_return agent::ToolOutcome{"error: " + text.error().message, true};
    co_return agent::ToolOutcome{std::move(text).value(), false};
  }
  if (name == "memory_store") {
    std::vector<std::string> tags;
    if (const json::value* t = in.if_contains("tags"); t && t->is_array())
      for (const auto& tag : t->as_array())
        if (tag.is_string()) tags.emplace_back(tag.as_string());
    auto stored = co_await memory->Store(workspace, Str(in, "text"), std::move(tags));
    if (!*alive) co_return agent::ToolOutcome{"error: the gateway is stopping", true};
    if (!stored.ok()) co_return agent::ToolOutcome{"error: " + stored.error().message, true};
    co_return agent::ToolOutcome{json::serialize(json::object{{"stored", true},
                                                              {"path", stored->path},
                                                              {"startLine", stored->line_start},
                                                              {"endLine", stored->line_end}}),
                                 false};
  }
  co_return agent::ToolOutcome{"error: no memory tool " + name, true};
}

}  // namespace oc::kernel
