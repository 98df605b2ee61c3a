// The kernel's side of the message pipeline: access checks for the pipeline's IPC methods, the
// control-plane methods, and what the pipeline needs from the kernel (deliveries, app tools, events).
#include <spdlog/spdlog.h>

#include "kernel/app_hook_handler.h"
#include "kernel/kernel.h"
#include "sessions/router.h"

namespace oc::kernel {
namespace {

// The last step of message_sending: hands the delivery to the channel's owner app as a
// "hook:message_sending" event marked "delivery": true; the app acknowledges with hook.result.
class DeliveryHandler : public hooks::HookHandler {
 public:
  DeliveryHandler(std::string app_id, std::weak_ptr<ipc::Connection> conn)
      : app_id_(std::move(app_id)), connection_(std::move(conn)) {}
  const std::string& owner() const override { return app_id_; }
  int trust_rank() const override { return 0; }
  void Deliver(const hooks::HookEvent& event) override {
    auto conn = connection_.lock();
    if (!conn || !conn->open()) return;  // unacknowledged: the outbox retries
    json::value payload = event.ToPayload();
    payload.as_object()["delivery"] = true;
    conn->SendEvent(std::string(protocol::kHookEventPrefix) + event.hook_name, std::move(payload));
  }

 private:
  std::string app_id_;
  std::weak_ptr<ipc::Connection> connection_;
};

Error Denied(std::string message) { return MakeError(ErrorCode::kCapabilityDenied, std::move(message)); }

}  // namespace

Result<json::value> Kernel::HandlePipelineIpc(AppSession& s, std::string_view name, const json::object& params) {
  if (!pipeline_) return MakeError(ErrorCode::kInternalError, "the message pipeline is not running");
  auto owns = [&](const std::string& channel) { return capabilities_.Owner("channel", channel) == s.app_id; };
  // Channels whose conversations the app may see: the ones it owns and the ones it was granted
  // through capabilities.channels.requires (trust, grants and denies applied like any grant).
  std::optional<std::set<std::string>> visible;
  if (s.grants.trust != registry::TrustLevel::kCore) {
    visible = s.grants.channels_required;
    for (const auto& [id, cap] : s.capabilities)
      if (cap.first == "channel") visible->insert(cap.second);
  }
  if (name == "agent.queue") {
    std::string key(params.at("sessionKey").as_string());
    auto address = sessions::ParseAddress(key);
    if (!address.ok())
      return MakeError(ErrorCode::kInvalidParams, "params.sessionKey: " + address.error().message,
                       json::object{{"path", "params.sessionKey"}});
    if (!owns(address->first))
      return Denied("app " + s.app_id + " does not own channel " + address->first +
                    " (register it with capability.register type channel first)");
    if (const auto* m = params.if_contains("metadata"))
      if (auto ch = GetString(m->as_object(), "channelId"); ch && *ch != address->first)
        return MakeError(ErrorCode::kInvalidParams,
                         "params.metadata.channelId: \"" + std::string(*ch) + "\" differs from the channel of sessionKey",
                         json::object{{"path", "params.metadata.channelId"}});
    return pipeline_->Queue(params);
  }
  if (name == "message.dispatch") {
    std::string channel = pipeline_->ChannelOfKey(params.at("sessionKey").as_string());
    if (channel.empty()) return MakeError(ErrorCode::kNotFound, "no conversation " + std::string(params.at("sessionKey").as_string()));
    if (visible && !visible->count(channel))
      return Denied("app " + s.app_id + " may not send to channel " + channel +
                    " (own it, or declare it in capabilities.channels.requires)");
    return pipeline_->Dispatch(params);
  }
  if (name == "session.get") {
    std::string key(params.at("key").as_string());
    std::string channel = pipeline_->ChannelOfKey(key);
    if (visible && !visible->count(channel)) return Denied("app " + s.app_id + " may not see sessions of channel " +
                                                           (channel.empty() ? std::string("(none)") : channel));
    return pipeline_->SessionGet(params);
  }
  return pipeline_->SessionList(params, visible);
}

void Kernel::RegisterPipelineMethods() {
  using Handler = std::function<Result<json::value>(Pipeline&, const json::value&)>;
  auto add_sync = [this](std::string name, Handler fn) {
    control_->AddMethod(std::move(name), [this, fn](const gateway::ClientInfo&, json::value params)
                                             -> asio::awaitable<Result<json::value>> {
      if (!pipeline_) co_return MakeError(ErrorCode::kInternalError, "the message pipeline is not running");
      co_return fn(*pipeline_, params);
    });
  };
  add_sync("sessions.list", [](Pipeline& p, const json::value& v) { return p.SessionsList(v); });
  add_sync("sessions.get", [](Pipeline& p, const json::value& v) { return p.SessionsGet(v); });
  add_sync("sessions.history", [](Pipeline& p, const json::value& v) { return p.SessionsHistory(v); });
  add_sync("sessions.branch", [](Pipeline& p, const json::value& v) { return p.SessionsBranch(v); });
  add_sync("sessions.reset", [](Pipeline& p, const json::value& v) { return p.SessionsReset(v); });
  add_sync("sessions.delete", [](Pipeline& p, const json::value& v) { return p.SessionsDelete(v); });
  add_sync("outbox.list", [](Pipeline& p, const json::value& v) { return p.OutboxList(v); });
  // `agent` (two steps) is registered with the chat methods (kernel_chat.cpp).
}

std::shared_ptr<hooks::HookHandler> Kernel::DeliveryHandlerFor(const std::string& channel) {
  auto owner = capabilities_.Owner("channel", channel);
  if (!owner) return nullptr;
  auto it = sessions_.find(*owner);
  if (it == sessions_.end()) return nullptr;
  auto conn = it->second.connection.lock();
  if (!conn || !conn->open()) return nullptr;
  return std::make_shared<DeliveryHandler>(*owner, conn);
}

std::vector<agent::ToolSpec> Kernel::AppTools() {
  std::vector<agent::ToolSpec> out;
  if (extensions_) out = extensions_->Tools();
  for (const auto& [id, s] : sessions_) {
    for (const auto& [name, config] : s.tools) {
      agent::ToolSpec t;
      t.name = name;
      if (const auto* o = config.if_object()) {
        if (auto d = GetString(*o, "description")) t.description = std::string(*d);
        for (std::string_view k : {"inputSchema", "parameters", "input_schema"})
          if (const auto* schema = o->if_contains(k); schema && schema->is_object()) {
            t.input_schema = *schema;
            break;
          }
      }
      if (t.input_schema.is_null()) t.input_schema = json::object{{"type", "object"}};
      out.push_back(std::move(t));
    }
  }
  return out;
}

asio::awaitable<agent::ToolOutcome> Kernel::InvokeAppTool(std::string name, json::value input, agent::ToolContext context) {
  if (extensions_ && extensions_->HasTool(name)) co_return co_await extensions_->InvokeTool(std::move(name), std::move(input));
  std::shared_ptr<ipc::Connection> conn;
  for (const auto& [id, s] : sessions_)
    if (s.tools.count(name)) conn = s.connection.lock();
  if (!conn || !conn->open()) co_return agent::ToolOutcome{"error: the app providing " + name + " is not connected", true};
  json::object params{{"tool", name},
                      {"input", std::move(input)},
                      {"context", json::object{{"sessionKey", context.session_key}, {"runId", context.run_id},
                                               {"agentId", context.agent_id}}}};
  auto r = co_await conn->Request("tool.invoke", std::move(params));
  if (!r.ok()) co_return agent::ToolOutcome{"error: " + r.error().message, true};
  const auto* o = r->if_object();
  if (!o || !o->contains("output")) co_return agent::ToolOutcome{json::serialize(*r), false};
  const json::value& out = o->at("output");
  bool is_error = false;
  if (auto e = o->if_contains("isError"); e && e->is_bool()) is_error = e->as_bool();
  co_return agent::ToolOutcome{out.is_string() ? std::string(out.as_string()) : json::serialize(out), is_error};
}

void Kernel::BroadcastEvent(std::string_view event, json::value payload) {
  if (!event_taps_.empty()) {
    // Copied ids: a tap may remove itself (its stream ended) while we iterate.
    std::vector<uint64_t> ids;
    for (const auto& [id, tap] : event_taps_) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = event_taps_.find(id);
      if (it == event_taps_.end()) continue;
      EventTap tap = it->second;  // keeps the callable alive if it removes itself
      tap(event, payload);
    }
  }
  if (control_ && control_->client_count() > 0) control_->Broadcast(event, std::move(payload));
}

uint64_t Kernel::AddEventTap(EventTap tap) {
  uint64_t id = next_event_tap_++;
  event_taps_[id] = std::move(tap);
  return id;
}

void Kernel::RemoveEventTap(uint64_t id) { event_taps_.erase(id); }

}  // namespace oc::kernel
