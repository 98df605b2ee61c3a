// openclaw-irc: the IRC channel app (@openclawos/irc, docs/CHANNEL-IRC.md). It keeps one IrcClient
// connected, turns allowed PRIVMSGs into agent.queue (DMs always, channel lines only when the
// bot is addressed or mentioned unless requireMention is false) and sends the agent's replies
// back as PRIVMSGs cut to the line limit.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <set>

#include "irc_client.h"
#include "openclawos/channel_app.h"
#include "openclawos/channel_text.h"

namespace {

namespace asio = boost::asio;
namespace json = oc::json;
using oc::irc::IncomingMessage;
using oc::irc::IrcClient;

class IrcApp : public openclawos::sdk::ChannelApp {
 public:
  IrcApp() : ChannelApp("irc") {}

 protected:
  asio::awaitable<oc::Status> Setup() override {
    oc::Result<json::value> section = co_await ConfigGet("channels.irc");
    if (!section.ok()) co_return section.error();
    auto getenv = [](const char* name) {
      const char* v = std::getenv(name);
      return std::string(v ? v : "");
    };
    oc::Result<oc::irc::IrcSettings> settings = oc::irc::SettingsFromConfig(*section, getenv);
    if (!settings.ok()) {
      spdlog::error("irc: {}", settings.error().message);
      co_return settings.error();
    }
    const json::object* o = section->if_object();
    allow_from_ = openclawos::sdk::StringList(o ? o->if_contains("allowFrom") : nullptr);
    require_mention_ = o ? oc::GetBool(*o, "requireMention").value_or(true) : true;
    if (allow_from_.empty())
      spdlog::warn("irc: channels.irc.allowFrom is empty: nobody may talk to the agent yet");
    client_ = std::make_unique<IrcClient>(io().get_executor(), std::move(*settings));
    client_->OnMessage([this](IncomingMessage m) { OnIrcMessage(std::move(m)); });
    co_return co_await ChannelApp::Setup();
  }

  void OnReady() override {
    if (client_) Spawn(client_->Run());
  }

  asio::awaitable<void> Teardown() override {
    if (client_) co_await client_->Stop("OpenClawOS shutting down", std::chrono::milliseconds(1500));
  }

  asio::awaitable<oc::Result<std::string>> Deliver(std::string target, std::string content, json::value) override {
    if (!client_) co_return oc::MakeError(oc::ErrorCode::kConnectionClosed, "IRC is not configured");
    oc::Status sent = co_await client_->SendMessage(std::move(target), std::move(content));
    if (!sent.ok()) co_return sent.error();
    co_return std::string();  // IRC has no message ids
  }

 private:
  bool Allowed(const oc::irc::Prefix& sender) const {
    for (const auto& entry : allow_from_)
      if (oc::irc::AllowEntryMatches(entry, sender, client_->case_mapping())) return true;
    return false;
  }

  void OnIrcMessage(IncomingMessage m) {
    const bool group = oc::irc::IsChannelName(m.target);
    const std::string mask = m.sender.nick + "!" + m.sender.user + "@" + m.sender.host;
    if (!Allowed(m.sender)) {
      if (group) {
        spdlog::debug("irc: ignoring {} in {}: not in channels.irc.allowFrom", mask, m.target);
      } else {
        RefuseDirect(m.sender, mask);
      }
      return;
    }
    std::string text = m.text;
    bool mentioned = !group;
    if (group) {
      oc::irc::Addressing a = oc::irc::ClassifyAddressing(text, client_->nick());
      mentioned = a.mentioned;
      if (require_mention_ && !mentioned) {
        spdlog::debug("irc: {} in {} does not address {}; ignored", m.sender.nick, m.target, client_->nick());
        return;
      }
      text = std::move(a.text);
    }
    if (m.action) text = "* " + m.sender.nick + " " + text;
    if (text.find_first_not_of(" \t") == std::string::npos) return;
    json::object metadata{{"from", m.sender.nick},
                          {"senderName", m.sender.nick},
                          {"chatType", group ? "group" : "direct"},
                          {"mentioned", mentioned},
                          {"userHost", m.sender.user + "@" + m.sender.host}};
    std::string conversation = oc::irc::CaseFold(group ? m.target : m.sender.nick, client_->case_mapping());
    if (group) metadata["groupId"] = conversation;
    if (!m.msgid.empty()) metadata["messageId"] = m.msgid;
    Spawn(Queue(std::move(conversation), std::move(text), std::move(metadata)));
  }

  void RefuseDirect(const oc::irc::Prefix& sender, const std::string& mask) {
    spdlog::info("irc: refused a direct message from {}; to allow it add \"{}\" (or a mask like \"{}\") to channels.irc.allowFrom",
                 mask, sender.nick, "*!" + sender.user + "@" + sender.host);
    std::string key = oc::irc::CaseFold(sender.nick, client_->case_mapping());
    if (!refused_.insert(key).second) return;  // one reply per sender per process
    client_->SendNotice(sender.nick, "This assistant does not know you yet. Ask its owner to add " + sender.nick +
                                         " to channels.irc.allowFrom.");
  }

  asio::awaitable<void> Queue(std::string conversation, std::string text, json::object metadata) {
    oc::Result<json::value> queued = co_await Inbound(conversation, std::move(text), json::value(std::move(metadata)));
    if (!queued.ok()) spdlog::warn("irc: could not queue the message from {}: {}", conversation, queued.error().message);
  }

  std::unique_ptr<IrcClient> client_;
  std::vector<std::string> allow_from_;
  bool require_mention_ = true;
  std::set<std::string> refused_;  // case-folded nicks already told they are not allowed
};

}  // namespace

int main() {
  IrcApp app;
  return app.Run();
}
