// Control-plane methods of long-term memory (SPEC §9, §11): memory.search, memory.index (with
// `memory.progress` events while it runs) and memory.status.
#include <cmath>

#include "kernel/kernel.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
namespace {

constexpr int64_t kProgressMinGapMs = 100;  // memory.progress events at most ten a second (phase changes always)

Result<json::object> ObjectParams(const json::value& params) {
  if (params.is_null()) return json::object();
  if (const auto* o = params.if_object()) return *o;
  return MakeError(ErrorCode::kInvalidParams, "params: must be an object", json::object{{"path", "params"}});
}

Error MemoryOff() {
  return MakeError(ErrorCode::kNotFound, "long-term memory is disabled (memory.enabled is false)");
}

// The agent named by params.agentId ("default" when absent); kNotFound for an unknown one.
Result<std::string> AgentParam(const json::object& o, const json::value& config_root) {
  const json::value* v = o.if_contains("agentId");
  if (!v || v->is_null()) return std::string("default");
  if (!v->is_string() || v->as_string().empty()) return internal::BadParam("params.agentId", "must be a non-empty string");
  std::string id(v->as_string());
  if (id != "default" && !agent::AgentExists(config_root, id))
    return MakeError(ErrorCode::kNotFound, "no agent " + id);
  return id;
}

}  // namespace

void Kernel::RegisterMemoryMethods() {
  using Params = json::value;
  using Client = gateway::ClientInfo;
  auto& c = *control_;

  c.AddMethod("memory.search", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto o = ObjectParams(params);
    if (!o.ok()) co_return o.error();
    if (!pipeline_ || !pipeline_->memory()) co_return MemoryOff();
    auto query = GetString(*o, "query");
    if (!query || query->empty()) co_return internal::BadParam("params.query", "is required (a non-empty string)");
    auto agent_id = AgentParam(*o, config_.root());
    if (!agent_id.ok()) co_return agent_id.error();
    memory::MemoryService::SearchOptions options;
    if (const auto* k = o->if_contains("topK")) {
      if (!k->is_int64() || k->as_int64() < 1 || k->as_int64() > 1000) co_return internal::BadParam("params.topK", "must be an integer 1..1000");
      options.top_k = static_cast<size_t>(k->as_int64());
    }
    if (const auto* m = o->if_contains("minScore")) {
      if (!m->is_number() || m->to_number<double>() < 0 || m->to_number<double>() > 1)
        co_return internal::BadParam("params.minScore", "must be a number 0..1");
      options.min_score = m->to_number<double>();
    }
    if (auto prefix = GetString(*o, "pathPrefix")) options.path_prefix = std::string(*prefix);
    std::filesystem::path workspace = pipeline_->WorkspaceOf(*agent_id);
    std::string text(*query);
    auto alive = alive_token();
    auto hits = co_await pipeline_->memory()->Search(workspace, text, options);
    if (alive.expired()) co_return MakeError(ErrorCode::kConnectionClosed, "the gateway is stopping");
    if (!hits.ok()) co_return hits.error();
    json::array results;
    for (const auto& hit : *hits) results.push_back(Pipeline::HitJson(hit, true));
    co_return json::value(json::object{{"agentId", *agent_id}, {"results", std::move(results)}});
  });

  // Waits for the pass; meanwhile every control client sees `memory.progress` events.
  c.AddMethod("memory.index", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto o = ObjectParams(params);
    if (!o.ok()) co_return o.error();
    if (!pipeline_ || !pipeline_->memory()) co_return MemoryOff();
    std::optional<std::filesystem::path> workspace;
    std::string scope = "all";
    if (o->contains("agentId")) {
      auto agent_id = AgentParam(*o, config_.root());
      if (!agent_id.ok()) co_return agent_id.error();
      workspace = pipeline_->WorkspaceOf(*agent_id);
      scope = *agent_id;
    }
    bool force = false;
    if (const auto* f = o->if_contains("force")) {
      if (!f->is_bool()) co_return internal::BadParam("params.force", "must be a boolean");
      force = f->as_bool();
    }
    auto alive = alive_token();
    auto last = std::make_shared<std::pair<int64_t, std::string>>(0, "");  // time and phase of the last event
    auto progress = [this, alive, last, scope](const memory::IndexProgress& p) {
      if (alive.expired()) return;
      int64_t now = NowMs();
      if (p.phase == last->second && now - last->first < kProgressMinGapMs) return;
      *last = {now, p.phase};
      BroadcastEvent("memory.progress", json::object{{"agentId", scope},
                                                     {"workspace", p.workspace},
                                                     {"phase", p.phase},
                                                     {"filesTotal", p.files_total},
                                                     {"filesDone", p.files_done},
                                                     {"chunksPending", p.chunks_pending},
                                                     {"chunksEmbedded", p.chunks_embedded}});
    };
    auto report = co_await pipeline_->memory()->Index(workspace, force, progress);
    if (alive.expired()) co_return MakeError(ErrorCode::kConnectionClosed, "the gateway is stopping");
    if (!report.ok()) co_return report.error();
    memory::IndexProgress done;
    done.phase = "idle";
    done.workspace = workspace ? workspace->string() : std::string();
    progress(done);
    co_return json::value(report->ToJson());
  });

  c.AddMethod("memory.status", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto o = ObjectParams(params);
    if (!o.ok()) co_return o.error();
    if (!pipeline_ || !pipeline_->memory()) co_return json::value(json::object{{"enabled", false}});
    auto alive = alive_token();
    json::object status = co_await pipeline_->memory()->StatusJson();
    if (alive.expired()) co_return MakeError(ErrorCode::kConnectionClosed, "the gateway is stopping");
    co_return json::value(std::move(status));
  });
}

}  // namespace oc::kernel
