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

asio::awaitable<void> ChannelApp::HandleDelivery(json::value payload) {
  const json::object& o = payload.as_object();
  std::string event_id(oc::GetString(o, "eventId").value_or(""));
  if (event_id.empty()) {
    spdlog::warn("channel {}: delivery without eventId; cannot answer", channel_id_);
    co_return;
  }
  const json::object* data = oc::GetObject(o, "data");
  Result<std::string> delivered = MakeError(ErrorCode::kInvalidParams, "delivery without data");
  if (data) {
    std::string channel(oc::GetString(*data, "channelId").value_or(channel_id_));
    std::string target(oc::GetString(*data, "target").value_or(""));
    std::string content(oc::GetString(*data, "content").value_or(""));
    const json::value* metadata = data->if_contains("metadata");
    if (channel != channel_id_) {
      delivered = MakeError(ErrorCode::kNotFound, "channel " + channel + " is not served by this app");
    } else if (target.empty()) {
      delivered = MakeError(ErrorCode::kInvalidParams, "delivery without target");
    } else {
      try {
        delivered = co_await Deliver(std::move(target), std::move(content),
                                     metadata ? *metadata : json::value(json::object()));
      } catch (const std::exception& e) {
        delivered = MakeError(ErrorCode::kInternalError, std::string("Deliver threw: ") + e.what());
      }
    }
  }
  if (!delivered.ok()) spdlog::warn("channel {}: delivery failed: {}", channel_id_, delivered.error().message);
  json::object params{{"eventId", event_id}, {"result", DeliveryResultFor(delivered)}};
  Result<json::value> sent = co_await kernel().Request("hook.result", std::move(params));
  if (!sent.ok()) spdlog::warn("channel {}: hook.result failed: {}", channel_id_, sent.error().message);
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
