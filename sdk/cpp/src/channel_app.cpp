#include "openclawos/channel_app.h"

#include <spdlog/spdlog.h>

#include "protocol/methods.h"

namespace openclawos::sdk {
namespace asio = boost::asio;
namespace json = oc::json;
using oc::ErrorCode;
using oc::MakeError;
using oc::Result;
using oc::Status;

json::value DeliveryResultFor(const Result<std::string>& delivered) {
  if (!delivered.ok()) return json::object{{"delivered", false}, {"error", delivered.error().message}};
  json::object result{{"delivered", true}};
  if (!delivered.value().empty()) result["messageId"] = delivered.value();
  return result;
}

ChannelApp::ChannelApp(std::string channel_id, std::string manifest_path)
    : App(std::move(manifest_path)), channel_id_(std::move(channel_id)) {}

asio::awaitable<Status> ChannelApp::Setup() {
  // Installed before the channel is registered: deliveries may follow the grant immediately.
  kernel().OnEvent(std::string(oc::protocol::kHookEventPrefix) + "message_sending",
                   [this](const json::value& payload) {
                     const json::object* o = payload.if_object();
                     if (!o || !oc::GetBool(*o, "delivery").value_or(false)) return;
                     Spawn(HandleDelivery(payload));
                   });
  json::object config{{"id", channel_id_}};  // built before co_await (g++ 12 initialiser bug)
  Result<json::value> registered = co_await RegisterCapability("channel", std::move(config));
  if (!registered.ok()) co_return registered.error();
  co_return Status();
}

// What a delivery event asks for, checked before anything is awaited. (Kept out of the coroutine:
// g++ 12 has mis-destroyed block-scoped locals of coroutines that live across a co_await.)
struct ChannelApp::DeliveryRequest {
  std::string event_id;
  std::string target, content;
  json::value metadata = json::object();
  std::optional<Result<std::string>> answer;  // set when no Deliver call is needed
};

ChannelApp::DeliveryRequest ChannelApp::ReadDelivery(const json::value& payload) const {
  DeliveryRequest r;
  const json::object& o = payload.as_object();
  r.event_id = std::string(oc::GetString(o, "eventId").value_or(""));
  const json::object* data = oc::GetObject(o, "data");
  if (!data) {
    r.answer = MakeError(ErrorCode::kInvalidParams, "delivery without data");
    return r;
  }
  std::string channel(oc::GetString(*data, "channelId").value_or(channel_id_));
  r.target = std::string(oc::GetString(*data, "target").value_or(""));
  r.content = std::string(oc::GetString(*data, "content").value_or(""));
  if (const json::value* m = data->if_contains("metadata"); m && m->is_object()) r.metadata = *m;
  if (channel != channel_id_) {
    r.answer = MakeError(ErrorCode::kNotFound, "channel " + channel + " is not served by this app");
  } else if (r.target.empty()) {
    r.answer = MakeError(ErrorCode::kInvalidParams, "delivery without target");
  } else if (auto id = oc::GetString(r.metadata.as_object(), "deliveryId"); id && in_progress_.count(std::string(*id))) {
    // The kernel gave up waiting and offers it again while the first attempt is still sending:
    // say so, and its next retry finds the first attempt's result.
    r.answer = MakeError(ErrorCode::kConflict, "delivery " + std::string(*id) + " is still in progress");
  } else if (auto repeat = RecentDelivery(&r.metadata)) {
    // The kernel retries a delivery whose acknowledgement it did not record (e.g. it restarted
    // in between): acknowledge again without sending the message twice.
    r.answer = Result<std::string>(*repeat);
  }
  return r;
}

asio::awaitable<void> ChannelApp::HandleDelivery(json::value payload) {
  DeliveryRequest request = ReadDelivery(payload);
  if (request.event_id.empty()) {
    spdlog::warn("channel {}: delivery without eventId; cannot answer", channel_id_);
    co_return;
  }
  Result<std::string> delivered = MakeError(ErrorCode::kInternalError, "not delivered");
  if (request.answer) {
    delivered = *request.answer;
  } else {
    std::string delivery_id(oc::GetString(request.metadata.as_object(), "deliveryId").value_or(""));
    if (!delivery_id.empty()) in_progress_.insert(delivery_id);
    try {
      delivered = co_await Deliver(request.target, request.content, request.metadata);
    } catch (const std::exception& e) {
      delivered = MakeError(ErrorCode::kInternalError, std::string("Deliver threw: ") + e.what());
    }
    in_progress_.erase(delivery_id);
    if (delivered.ok()) RememberDelivery(&request.metadata, delivered.value());
  }
  if (!delivered.ok()) spdlog::warn("channel {}: delivery failed: {}", channel_id_, delivered.error().message);
  json::object params;
  params["eventId"] = request.event_id;
  params["result"] = DeliveryResultFor(delivered);
  Result<json::value> sent = co_await kernel().Request("hook.result", std::move(params));
  if (!sent.ok()) spdlog::warn("channel {}: hook.result failed: {}", channel_id_, sent.error().message);
}

std::optional<std::string> ChannelApp::RecentDelivery(const json::value* metadata) const {
  const json::object* m = metadata ? metadata->if_object() : nullptr;
  auto id = m ? oc::GetString(*m, "deliveryId") : std::nullopt;
  if (!id) return std::nullopt;
  auto it = delivered_.find(std::string(*id));
  if (it == delivered_.end()) return std::nullopt;
  return it->second;
}

void ChannelApp::RememberDelivery(const json::value* metadata, const std::string& platform_id) {
  const json::object* m = metadata ? metadata->if_object() : nullptr;
  auto id = m ? oc::GetString(*m, "deliveryId") : std::nullopt;
  if (!id) return;
  if (delivered_.emplace(std::string(*id), platform_id).second) delivered_order_.push_back(std::string(*id));
  while (delivered_order_.size() > kRememberedDeliveries) {
    delivered_.erase(delivered_order_.front());
    delivered_order_.pop_front();
  }
}

asio::awaitable<Result<json::value>> ChannelApp::Inbound(std::string conversation, std::string text,
                                                         json::value metadata) {
  if (!metadata.is_object()) metadata = json::object();
  json::object& meta = metadata.as_object();
  if (!meta.contains("channelId")) meta["channelId"] = channel_id_;
  json::object params{{"sessionKey", channel_id_ + ":" + conversation},
                      {"text", std::move(text)},
                      {"metadata", std::move(metadata)}};
  co_return co_await kernel().Request("agent.queue", std::move(params));
}

}  // namespace openclawos::sdk
