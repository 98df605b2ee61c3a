// The Telegram channel app (@openclawos/telegram, docs/CHANNEL-TELEGRAM.md): long-polls the Bot API's
// getUpdates, queues allowed messages for the agent, and sends the agent's replies with sendMessage.
//
// Delivery guarantees: the getUpdates offset is kept in DataDir()/offset and advanced past an update
// only once the kernel acknowledged it (agent.queue answered) or it was deliberately ignored, so a
// crash re-reads the unacknowledged updates and never skips one; the kernel de-duplicates the re-read
// ones by (address, messageId = message_id). A reply is reported delivered only after Telegram
// accepted every piece of it.
//
// Threading: everything runs on the app's one loop thread (App). The bot token is only ever part of
// request URLs and is never logged (error texts are scrubbed of it).
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/http_client.h"
#include "openclawos/channel_app.h"
#include "openclawos/channel_text.h"
#include "telegram_wire.h"

namespace oc::telegram {

// channels.telegram as the app uses it (config.get fills the manifest's defaults).
struct TelegramSettings {
  std::string api_base_url = "https://api.telegram.org";  // without a trailing '/'
  std::string token;                                       // from $TELEGRAM_BOT_TOKEN
  std::vector<std::string> allow_from;
  bool require_mention = true;
  int64_t poll_timeout_sec = 30;
  bool markdown = true;  // parseMode "MarkdownV2" (else "none")
};

// Reads the section; the token comes from the environment (the kernel sets it from botToken).
TelegramSettings SettingsFromConfig(const json::value& section, std::string token);

class TelegramApp : public openclawos::sdk::ChannelApp {
 public:
  TelegramApp();
  ~TelegramApp() override;

 protected:
  // Reads the config and registers the channel; fails when no bot token is configured.
  boost::asio::awaitable<Status> Setup() override;
  // Starts the polling loop (getMe, then getUpdates forever, reconnecting with Backoff).
  void OnReady() override;
  // Sends `content` to chat `target` as ≤ 4096-unit pieces (MarkdownV2, plain text when Telegram
  // cannot parse a piece); waits out a 429 of up to 30 s, otherwise fails so the kernel retries.
  // Returns the message_id of the last piece.
  boost::asio::awaitable<Result<std::string>> Deliver(std::string target, std::string content,
                                                      json::value metadata) override;

 private:
  struct Typing;

  boost::asio::awaitable<Result<ApiReply>> Call(std::string method, json::object body, std::chrono::seconds timeout);
  boost::asio::awaitable<void> PollLoop();
  boost::asio::awaitable<int64_t> Consume(std::vector<Update> updates, int64_t offset);
  boost::asio::awaitable<bool> Identify();
  boost::asio::awaitable<void> PollFailed(const ApiReply& reply, std::string_view method);
  // Handles one update; false when the kernel could not be reached (the update must be re-read).
  boost::asio::awaitable<bool> HandleUpdate(Update update);
  boost::asio::awaitable<void> Refuse(std::string chat, std::string user_id);
  boost::asio::awaitable<Result<std::string>> SendPiece(std::string chat, OutgoingPiece piece);
  boost::asio::awaitable<void> Sleep(std::chrono::milliseconds delay);
  void StartTyping(const std::string& chat);
  void StopTyping(const std::string& chat);
  boost::asio::awaitable<void> TypingLoop(std::string chat, std::shared_ptr<Typing> typing);
  // Logs `reason` at warn the first time in a row it occurs, at debug after that.
  void LogFailure(const std::string& reason);
  std::string Scrub(std::string text) const;
  int64_t LoadOffset() const;
  void SaveOffset(int64_t offset) const;

  TelegramSettings settings_;
  std::unique_ptr<agent::HttpClient> http_;
  BotIdentity bot_;
  openclawos::sdk::Backoff backoff_;
  std::string last_failure_;
  std::set<std::string> refused_;                       // users already told they are not allowed
  std::map<std::string, std::shared_ptr<Typing>> typing_;  // by chat
  std::map<std::string, size_t> resume_;                // deliveryId → pieces already sent
};

}  // namespace oc::telegram
