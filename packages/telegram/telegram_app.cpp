// The Telegram channel app (telegram_app.h).
#include "telegram_app.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace oc::telegram {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using openclawos::sdk::SenderAllowed;
using openclawos::sdk::StringList;

namespace {

constexpr auto kTypingEvery = 4s;
constexpr auto kTypingFor = 120s;
constexpr int64_t kMaxRetryAfterInDeliver = 30;  // seconds; longer waits are left to the outbox
constexpr size_t kMaxResumes = 256;

std::string RefusalText(const std::string& user_id) {
  return "This assistant does not know you yet. Ask its owner to add " + user_id +
         " to channels.telegram.allowFrom.";
}

// Writes `text` to `path` atomically: a temp file, fsync, rename, fsync of the directory.
bool WriteFileAtomically(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return false;
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

std::string MessageIdOf(const json::value& message) {
  const json::object* o = message.if_object();
  auto id = o ? GetInt(*o, "message_id") : std::nullopt;
  return id ? std::to_string(*id) : std::string();
}

std::string Describe(const ApiReply& reply) {
  return std::to_string(reply.error_code) + " " + (reply.description.empty() ? "(no description)" : reply.description);
}

}  // namespace

TelegramSettings SettingsFromConfig(const json::value& section, std::string token) {
  TelegramSettings s;
  s.token = std::move(token);
  const json::object* o = section.if_object();
  if (!o) return s;
  if (auto url = GetString(*o, "apiBaseUrl"); url && !url->empty()) s.api_base_url = std::string(*url);
  while (s.api_base_url.ends_with('/')) s.api_base_url.pop_back();
  s.allow_from = StringList(o->if_contains("allowFrom"));
  s.require_mention = GetBool(*o, "requireMention").value_or(true);
  s.poll_timeout_sec = std::clamp<int64_t>(GetInt(*o, "pollTimeoutSec").value_or(30), 1, 50);
  s.markdown = GetString(*o, "parseMode").value_or("MarkdownV2") != "none";
  return s;
}

// The typing indicator of one chat: refreshed every 4 s until the reply is delivered or time is up.
struct TelegramApp::Typing {
  explicit Typing(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point until;
};

TelegramApp::TelegramApp() : ChannelApp("telegram") {}
TelegramApp::~TelegramApp() = default;

asio::awaitable<Status> TelegramApp::Setup() {
  Result<json::value> section = co_await ConfigGet("channels.telegram");
  if (!section.ok()) co_return section.error();
  const char* token = std::getenv("TELEGRAM_BOT_TOKEN");
  settings_ = SettingsFromConfig(*section, token ? token : "");
  if (settings_.token.empty())
    co_return MakeError(ErrorCode::kInvalidParams,
                        "no bot token: set channels.telegram.botToken (or TELEGRAM_BOT_TOKEN); get one from @BotFather");
  if (settings_.allow_from.empty())
    spdlog::warn("telegram: channels.telegram.allowFrom is empty, so nobody may talk to the agent yet");
  http_ = std::make_unique<agent::HttpClient>(io().get_executor());
  co_return co_await ChannelApp::Setup();
}

void TelegramApp::OnReady() { Spawn(PollLoop()); }

std::string TelegramApp::Scrub(std::string text) const {
  if (settings_.token.empty()) return text;
  for (size_t at = text.find(settings_.token); at != std::string::npos; at = text.find(settings_.token, at))
    text.replace(at, settings_.token.size(), "<token>");
  return text;
}

asio::awaitable<Result<ApiReply>> TelegramApp::Call(std::string method, json::object body, std::chrono::seconds timeout) {
  agent::HttpRequest request;
  request.method = "POST";
  request.url = settings_.api_base_url + "/bot" + settings_.token + "/" + method;
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = json::serialize(body);
  Result<agent::HttpResponse> response = co_await http_->Fetch(std::move(request), nullptr, timeout);
  if (!response.ok()) co_return MakeError(response.error().code, Scrub(method + ": " + response.error().message));
  Result<ApiReply> reply = ParseApiReply(response->body, response->status);
  if (!reply.ok()) co_return MakeError(ErrorCode::kConnectionClosed, method + ": " + reply.error().message);
  co_return reply;
}

asio::awaitable<void> TelegramApp::Sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(io());
  timer.expires_after(delay);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void TelegramApp::LogFailure(const std::string& reason) {
  if (reason == last_failure_) {
    spdlog::debug("telegram: {}", reason);
    return;
  }
  spdlog::warn("telegram: {}", reason);
  last_failure_ = reason;
}

// ---------------------------------------------------------------------------------------------
// Polling

asio::awaitable<bool> TelegramApp::Identify() {
  Result<ApiReply> r = co_await Call("getMe", json::object(), 30s);
  if (!r.ok()) {
    LogFailure("cannot reach the Bot API (" + r.error().message + "); retrying");
    co_return false;
  }
  if (!r->ok) {
    co_await PollFailed(*r, "getMe");
    co_return false;
  }
  Result<User> me = ParseUser(r->result);
  if (!me.ok()) {
    LogFailure("getMe: " + me.error().message);
    co_return false;
  }
  bot_ = BotIdentity{me->id, me->username};
  spdlog::info("telegram: connected as @{} (bot id {})", me->username, me->id);
  co_return true;
}

// Logs a refused getMe / getUpdates with what to do about it. 429 is waited out here; the other
// errors are followed by the caller's backoff.
asio::awaitable<void> TelegramApp::PollFailed(const ApiReply& reply, std::string_view method) {
  if (reply.error_code == 401 || reply.error_code == 404) {
    LogFailure("botToken rejected by Telegram (" + Describe(reply) +
               "): check channels.telegram.botToken / TELEGRAM_BOT_TOKEN");
  } else if (reply.error_code == 409) {
    LogFailure("another poller or a webhook is active for this bot (" + Describe(reply) +
               "): stop the other getUpdates client or delete the webhook; retrying");
  } else if (reply.error_code == 429) {
    int64_t wait = std::max<int64_t>(1, reply.retry_after.value_or(1));
    spdlog::info("telegram: {} rate limited, waiting {} s", method, wait);
    co_await Sleep(std::chrono::seconds(wait));
  } else {
    LogFailure(std::string(method) + " refused: " + Describe(reply));
  }
}

// (Every local of these coroutines lives at function scope: g++ 12 has mis-destroyed block-scoped
// locals that live across a co_await.)
asio::awaitable<void> TelegramApp::PollLoop() {
  int64_t offset = LoadOffset();
  bool identified = false;
  Result<ApiReply> r = MakeError(ErrorCode::kUnknownError, "");
  Result<std::vector<Update>> updates = MakeError(ErrorCode::kUnknownError, "");
  for (;;) {
    if (!identified) identified = co_await Identify();
    if (!identified) {
      co_await Sleep(backoff_.Next());
      continue;
    }
    r = co_await Call("getUpdates", GetUpdatesBody(offset, settings_.poll_timeout_sec),
                      std::chrono::seconds(settings_.poll_timeout_sec + 15));
    updates = MakeError(ErrorCode::kUnknownError, "");
    if (!r.ok()) {
      LogFailure("getUpdates failed (" + r.error().message + "); retrying");
    } else if (!r->ok) {
      identified = r->error_code != 401 && r->error_code != 404;
      co_await PollFailed(*r, "getUpdates");
      if (r->error_code == 429) continue;
    } else {
      updates = ParseUpdates(r->result);
      if (!updates.ok()) LogFailure("getUpdates: " + updates.error().message);
    }
    if (!updates.ok()) {
      co_await Sleep(backoff_.Next());
      continue;
    }
    if (!last_failure_.empty()) spdlog::info("telegram: polling again");
    last_failure_.clear();
    backoff_.Reset();
    offset = co_await Consume(std::move(*updates), offset);
  }
}

// Handles a batch in order, confirming each handled update in the offset file; returns the offset.
asio::awaitable<int64_t> TelegramApp::Consume(std::vector<Update> updates, int64_t offset) {
  size_t i = 0;
  for (; i < updates.size(); ++i) {
    if (updates[i].update_id < offset) continue;  // confirmed before; a server should not resend it
    if (!(co_await HandleUpdate(updates[i]))) {
      co_await Sleep(1s);  // the kernel is away: read this update again on the next poll
      co_return offset;
    }
    offset = updates[i].update_id + 1;
    SaveOffset(offset);
  }
  co_return offset;
}

asio::awaitable<bool> TelegramApp::HandleUpdate(Update update) {
  if (!update.message || update.message->text.empty() || !update.message->from) co_return true;
  const Message& m = *update.message;
  if (m.chat.type == "channel") co_return true;
  std::string chat = std::to_string(m.chat.id);
  std::string from = std::to_string(m.from->id);
  bool direct = m.chat.type == "private";
  std::string sender = m.from->username.empty() ? m.from->first_name : "@" + m.from->username;
  if (!SenderAllowed(settings_.allow_from, {from})) {
    if (!direct) {
      spdlog::debug("telegram: ignored a group message from user {} (not in allowFrom)", from);
      co_return true;
    }
    spdlog::info("telegram: refused a direct message from user {} ({}): add {} to channels.telegram.allowFrom "
                 "to let them talk to the agent", from, sender, from);
    if (refused_.insert(from).second) co_await Refuse(chat, from);
    co_return true;
  }
  Activation activation{direct, m.text};
  if (!direct) {
    activation = CheckActivation(m, bot_);
    if (settings_.require_mention && !activation.addressed) {
      spdlog::debug("telegram: group {}: not addressed to the bot, ignored", chat);
      co_return true;
    }
    if (!activation.addressed) activation.text = m.text;
    if (activation.text.empty()) co_return true;
  }
  json::object metadata{{"from", from}, {"senderName", sender}, {"chatType", direct ? "direct" : "group"},
                        {"messageId", std::to_string(m.message_id)}, {"mentioned", activation.addressed}};
  if (!direct) metadata["groupId"] = chat;
  Result<json::value> queued = co_await Inbound(chat, activation.text, std::move(metadata));
  if (!queued.ok()) {
    ErrorCode code = queued.error().code;
    if (code == ErrorCode::kConnectionClosed || code == ErrorCode::kTimeout) {
      spdlog::warn("telegram: the kernel did not take update {} ({}); reading it again", update.update_id,
                   queued.error().message);
      co_return false;
    }
    spdlog::warn("telegram: the kernel refused update {} ({}); skipped", update.update_id, queued.error().message);
    co_return true;
  }
  const json::object* answer = queued->if_object();
  if (!(answer && GetBool(*answer, "duplicate").value_or(false))) StartTyping(chat);
  co_return true;
}

asio::awaitable<void> TelegramApp::Refuse(std::string chat, std::string user_id) {
  Result<ApiReply> r = co_await Call("sendMessage", SendMessageBody(chat, RefusalText(user_id)), 30s);
  if (!r.ok() || !r->ok) spdlog::warn("telegram: could not tell user {} they are not allowed", user_id);
}

// ---------------------------------------------------------------------------------------------
// Typing

void TelegramApp::StartTyping(const std::string& chat) {
  auto it = typing_.find(chat);
  if (it != typing_.end()) {
    it->second->until = std::chrono::steady_clock::now() + kTypingFor;
    return;
  }
  auto typing = std::make_shared<Typing>(io());
  typing->until = std::chrono::steady_clock::now() + kTypingFor;
  typing_[chat] = typing;
  Spawn(TypingLoop(chat, typing));
}

void TelegramApp::StopTyping(const std::string& chat) {
  auto it = typing_.find(chat);
  if (it == typing_.end()) return;
  it->second->timer.cancel();
  typing_.erase(it);
}

asio::awaitable<void> TelegramApp::TypingLoop(std::string chat, std::shared_ptr<Typing> typing) {
  boost::system::error_code ec;
  Result<ApiReply> r = MakeError(ErrorCode::kUnknownError, "");
  while (typing_.count(chat) && typing_[chat] == typing && std::chrono::steady_clock::now() < typing->until) {
    r = co_await Call("sendChatAction", SendChatActionBody(chat), 10s);
    if (r.ok() && !r->ok) spdlog::debug("telegram: sendChatAction refused: {}", Describe(*r));
    typing->timer.expires_after(kTypingEvery);
    co_await typing->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) break;
  }
  if (auto it = typing_.find(chat); it != typing_.end() && it->second == typing) typing_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Delivery

asio::awaitable<Result<std::string>> TelegramApp::Deliver(std::string target, std::string content,
                                                          json::value metadata) {
  StopTyping(target);
  std::vector<OutgoingPiece> pieces = settings_.markdown ? FormatReply(content) : PlainReply(content);
  std::string delivery_id;
  if (const json::object* m = metadata.if_object())
    delivery_id = std::string(GetString(*m, "deliveryId").value_or(""));
  // A retried delivery resumes after the pieces this process already sent.
  size_t k = delivery_id.empty() || !resume_.count(delivery_id) ? 0 : resume_[delivery_id];
  std::string last_id;
  Result<std::string> sent = std::string();
  for (; k < pieces.size(); ++k) {
    sent = co_await SendPiece(target, pieces[k]);
    if (!sent.ok()) {
      if (!delivery_id.empty() && k > 0) {
        if (resume_.size() >= kMaxResumes) resume_.clear();
        resume_[delivery_id] = k;
      }
      co_return sent.error();
    }
    last_id = *sent;
  }
  resume_.erase(delivery_id);
  co_return last_id;
}

asio::awaitable<Result<std::string>> TelegramApp::SendPiece(std::string chat, OutgoingPiece piece) {
  bool markdown = settings_.markdown;
  int64_t wait = 0;
  Result<ApiReply> r = MakeError(ErrorCode::kUnknownError, "");
  for (int attempt = 0; attempt < 5; ++attempt) {
    r = co_await Call("sendMessage", SendMessageBody(chat, markdown ? piece.markdown_v2 : piece.plain,
                                                     markdown ? "MarkdownV2" : ""), 30s);
    if (!r.ok()) co_return r.error();
    if (r->ok) co_return MessageIdOf(r->result);
    if (r->error_code == 400 && markdown && r->description.find("can't parse entities") != std::string::npos) {
      spdlog::warn("telegram: Telegram could not parse a reply's MarkdownV2 ({}); sending it as plain text",
                   r->description);
      markdown = false;
      continue;
    }
    if (r->error_code != 429 || r->retry_after.value_or(1) > kMaxRetryAfterInDeliver)
      co_return MakeError(r->error_code == 429 ? ErrorCode::kConnectionClosed : ErrorCode::kInvalidRequest,
                          "Telegram refused sendMessage: " + Describe(*r));
    wait = std::max<int64_t>(1, r->retry_after.value_or(1));
    spdlog::info("telegram: sendMessage rate limited, retrying in {} s", wait);
    co_await Sleep(std::chrono::seconds(wait));
  }
  co_return MakeError(ErrorCode::kConnectionClosed, "sendMessage: still refused after 5 attempts");
}

// ---------------------------------------------------------------------------------------------
// Offset

int64_t TelegramApp::LoadOffset() const {
  std::filesystem::path dir = DataDir();
  if (dir.empty()) {
    spdlog::warn("telegram: no app data directory (OPENCLAWOS_APP_DATA): the poll offset is not kept across restarts");
    return 0;
  }
  std::ifstream in(dir / "offset");
  if (!in) return 0;
  std::stringstream text;
  text << in.rdbuf();
  std::optional<int64_t> offset = ParseOffset(text.str());
  if (!offset) spdlog::warn("telegram: {} is not an offset; starting from the oldest unconfirmed update",
                            (dir / "offset").string());
  return offset.value_or(0);
}

void TelegramApp::SaveOffset(int64_t offset) const {
  std::filesystem::path dir = DataDir();
  if (dir.empty()) return;
  if (!WriteFileAtomically(dir / "offset", std::to_string(offset) + "\n"))
    spdlog::error("telegram: cannot write {}: updates may be read twice after a restart", (dir / "offset").string());
}

}  // namespace oc::telegram
