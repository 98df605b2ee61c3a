// A channel app (SPEC §4.4): delivers the agent's replies to one messaging platform and queues the
// platform's inbound messages for the agent. A subclass implements Deliver() and calls Inbound()
// for each message it receives from the platform.
//
// Threading and errors: as App (one loop thread; errors are values).
#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "openclawos/app.h"

namespace openclawos::sdk {

// The hook.result `result` acknowledging one delivery: {delivered:true, messageId?} (messageId
// omitted when empty) or {delivered:false, error: message}.
oc::json::value DeliveryResultFor(const oc::Result<std::string>& delivered);

class ChannelApp : public App {
 public:
  explicit ChannelApp(std::string channel_id, std::string manifest_path = "openclawos.manifest.json");

  const std::string& channel_id() const { return channel_id_; }

 protected:
  // Delivers one outbound message to the platform. Returns the platform's message id (or empty),
  // or an error that the kernel records (the reply stays in its outbox and is retried).
  virtual boost::asio::awaitable<oc::Result<std::string>> Deliver(std::string target, std::string content,
                                                                  oc::json::value metadata) = 0;

  // agent.queue {sessionKey: "<channel>:<conversation>", text, metadata}; metadata.channelId is set
  // to this channel when absent. Returns the kernel's {runId, queued}.
  boost::asio::awaitable<oc::Result<oc::json::value>> Inbound(std::string conversation, std::string text,
                                                              oc::json::value metadata);

  // Registers capability.register {type:"channel", config:{id: channel_id}} and answers the kernel's
  // "hook:message_sending" events marked "delivery": true: for data {channelId, target, content,
  // metadata} it calls Deliver and sends hook.result {eventId, result: DeliveryResultFor(...)}.
  // A delivery for another channel id is answered {delivered:false, error}. A repeated delivery
  // (same metadata.deliveryId as one of the last 1024 sent by this process) is acknowledged without
  // calling Deliver; one offered again while its first Deliver still runs is answered with an error
  // (the kernel retries later and then finds it sent). The memory is per process: across a restart
  // of the app, delivery is at least once. Subclasses that override
  // Setup must call ChannelApp::Setup() and fail when it fails; call it last, once the platform
  // connection is up, so that no delivery arrives before it can be sent.
  boost::asio::awaitable<oc::Status> Setup() override;

 private:
  struct DeliveryRequest;
  DeliveryRequest ReadDelivery(const oc::json::value& payload) const;
  boost::asio::awaitable<void> HandleDelivery(oc::json::value payload);
  // Deliveries already sent, by metadata.deliveryId → platform message id (the last few only).
  std::optional<std::string> RecentDelivery(const oc::json::value* metadata) const;
  void RememberDelivery(const oc::json::value* metadata, const std::string& platform_id);

  static constexpr size_t kRememberedDeliveries = 1024;
  std::string channel_id_;
  std::unordered_map<std::string, std::string> delivered_;
  std::deque<std::string> delivered_order_;
  std::set<std::string> in_progress_;  // deliveryIds whose Deliver has not returned yet
};

}  // namespace openclawos::sdk
