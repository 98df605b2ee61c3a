// The chat-facing control methods (SPEC §11): the two-step `agent`, chat.send / chat.history,
// presence; and the `health` event (broadcast after app state changes, at most once a second, and
// every minute).
#include <spdlog/spdlog.h>

#include "kernel/kernel.h"
#include "sessions/router.h"

namespace oc::kernel {
namespace {

constexpr int64_t kHealthMinGapMs = 1000;
constexpr auto kHealthEvery = std::chrono::seconds(60);
constexpr int64_t kChatHistoryDefaultLimit = 200;

Error PipelineDown() { return MakeError(ErrorCode::kInternalError, "the message pipeline is not running"); }

std::string StringParam(const json::object& o, std::string_view key) {
  auto v = GetString(o, key);
  return v ? std::string(*v) : std::string();
}

// The fields of `params` that a turn takes (chat.send has no timeout: it does not wait).
json::object TurnParams(const json::object& params, bool with_timeout) {
  json::object out;
  for (std::string_view k : {"message", "agentId", "sessionKey", "idempotencyKey"})
    if (const auto* v = params.if_contains(k)) out[k] = *v;
  if (with_timeout)
    if (const auto* v = params.if_contains("timeoutMs")) out["timeoutMs"] = *v;
  return out;
}

Result<json::object> ParamsObject(const json::value& params) {
  if (const auto* o = params.if_object()) return *o;
  return MakeError(ErrorCode::kInvalidParams, "params: must be an object", json::object{{"path", "params"}});
}

}  // namespace

void Kernel::RegisterChatMethods() {
  using Params = json::value;
  using Client = gateway::ClientInfo;
  auto& c = *control_;

  // Two steps (SPEC §11): {runId, sessionKey, status: "accepted"} as soon as the turn is queued (a
  // repeated idempotencyKey acknowledges the first run again, nothing is queued), then the run's
  // summary as the final response to the same request id.
  c.AddMethod("agent", [this](const Client& client, Params params) -> asio::awaitable<Result<json::value>> {
    if (!pipeline_) co_return PipelineDown();
    auto object = ParamsObject(params);
    if (!object.ok()) co_return object.error();
    auto started = pipeline_->StartAgentTurn(TurnParams(*object, true));
    if (!started.ok()) co_return started.error();
    const int64_t run_id = started->run_id;
    const auto timeout = started->timeout;
    const std::string run = std::to_string(run_id);
    if (client.acknowledge)
      client.acknowledge(json::object{{"runId", run}, {"sessionKey", started->session_key}, {"status", "accepted"}});
    auto done = co_await pipeline_->AwaitRun(run_id, timeout);
    if (!done)
      co_return MakeError(ErrorCode::kTimeout, "run " + run + " is still running", json::object{{"runId", run}});
    co_return std::move(*done);
  });

  // Starts a turn and answers at once; the reply streams as `agent` events and the lifecycle `end`
  // (or `error`) event closes it.
  c.AddMethod("chat.send", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    if (!pipeline_) co_return PipelineDown();
    auto object = ParamsObject(params);
    if (!object.ok()) co_return object.error();
    auto started = pipeline_->StartAgentTurn(TurnParams(*object, false));
    if (!started.ok()) co_return started.error();
    co_return json::object{{"runId", std::to_string(started->run_id)},
                           {"sessionKey", started->session_key},
                           {"status", "started"}};
  });

  // A chat view's history: sessions.history's messages, by default of the agent's main session. A
  // session that does not exist (yet) has no messages rather than being an error.
  c.AddMethod("chat.history", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    if (!pipeline_) co_return PipelineDown();
    auto object = ParamsObject(params);
    if (!object.ok()) co_return object.error();
    std::string key = StringParam(*object, "sessionKey");
    if (key.empty()) {
      std::string agent_id = StringParam(*object, "agentId");
      key = sessions::MainSessionKey(agent_id.empty() ? "default" : agent_id);
    }
    json::object query{{"key", key}, {"limit", kChatHistoryDefaultLimit}};
    if (const auto* limit = object->if_contains("limit")) query["limit"] = *limit;
    auto history = pipeline_->SessionsHistory(query);
    if (!history.ok()) {
      if (history.error().code == ErrorCode::kNotFound)
        co_return json::object{{"sessionKey", key}, {"messages", json::array()}};
      co_return history.error();
    }
    json::object& h = history->as_object();
    if (const auto* session = h["session"].if_object())
      if (auto k = GetString(*session, "key")) key = std::string(*k);
    co_return json::object{{"sessionKey", key}, {"messages", std::move(h["messages"])}};
  });

  c.AddMethod("presence", [this](const Client&, Params) -> asio::awaitable<Result<json::value>> {
    co_return json::object{{"clients", control_->Presence()}};
  });

  ArmHealthTick();
}

// Called on every app state change. Bursts (apps starting at boot, a crash loop) are coalesced: at
// most one `health` event per second, the last one sent after the burst reflects the final state.
void Kernel::HealthChanged() {
  if (!control_) return;
  const int64_t now = NowMs();
  const int64_t wait_ms = health_sent_ms_ + kHealthMinGapMs - now;
  if (wait_ms <= 0) {
    health_sent_ms_ = now;
    BroadcastEvent("health", HealthJson());
    return;
  }
  if (health_pending_) return;  // already scheduled; it will read the state then
  health_pending_ = true;
  if (!health_timer_) health_timer_ = std::make_unique<asio::steady_timer>(io_);
  health_timer_->expires_after(std::chrono::milliseconds(wait_ms));
  health_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // the kernel is going away
    health_pending_ = false;
    health_sent_ms_ = NowMs();
    BroadcastEvent("health", HealthJson());
  });
}

void Kernel::ArmHealthTick() {
  if (!health_tick_) health_tick_ = std::make_unique<asio::steady_timer>(io_);
  health_tick_->expires_after(kHealthEvery);
  health_tick_->async_wait([this](boost::system::error_code ec) {
    if (ec || shutting_down_) return;
    health_sent_ms_ = NowMs();
    BroadcastEvent("health", HealthJson());
    ArmHealthTick();
  });
}

}  // namespace oc::kernel
