#include "irc_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>

#include "common/async.h"
#include "openclawos/channel_text.h"

namespace oc::irc {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace json = oc::json;
using asio::ip::tcp;
using boost::system::error_code;
using oc::ErrorCode;
using oc::MakeError;
using oc::Status;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

struct IrcClient::Outgoing {
  Outgoing(asio::any_io_executor ex, std::string l) : line(std::move(l)), done(std::move(ex)) {}
  std::string line;
  oc::Pending<bool> done;  // true once written, false when dropped with the connection
};

struct IrcClient::Session {
  Session(asio::any_io_executor ex, const IrcSettings& settings)
      : wake(ex), watchdog(ex), bucket(settings.flood_burst, settings.flood_interval, Clock::now()),
        started(Clock::now()), last_received(started) {
    if (settings.tls) {
      tls_context = std::make_unique<ssl::context>(ssl::context::tls_client);
      error_code ec;
      tls_context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1, ec);
      tls_context->set_default_verify_paths(ec);  // without a system store only extra_ca_pem is trusted
      tls_context->set_verify_mode(ssl::verify_peer);
      if (!settings.extra_ca_pem.empty()) tls_context->add_certificate_authority(asio::buffer(settings.extra_ca_pem), ec);
      tls.emplace(ex, *tls_context);
    } else {
      plain.emplace(ex);
    }
  }
  tcp::socket& Lowest() { return tls ? tls->next_layer() : *plain; }

  void Close() {
    if (closed) return;
    closed = true;
    error_code ec;
    if (resolver) resolver->cancel();
    Lowest().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close(ec);
    wake.cancel();
    watchdog.cancel();
    for (auto* queue : {&control, &flooded}) {
      for (auto& out : *queue) out->done.Set(false);
      queue->clear();
    }
  }

  std::unique_ptr<ssl::context> tls_context;
  std::optional<ssl::stream<tcp::socket>> tls;
  std::optional<tcp::socket> plain;
  tcp::resolver* resolver = nullptr;  // while resolving, so Close() can cancel it
  asio::steady_timer wake;            // the writer sleeps on it; Queue() and Close() cancel it
  asio::steady_timer watchdog;
  std::deque<std::shared_ptr<Outgoing>> control, flooded;
  FloodBucket bucket;
  Clock::time_point started, last_received;
  Clock::time_point last_nick_try;  // the last NICK <configured nick> after a collision
  bool closed = false, registered = false, ping_sent = false;
  bool sasl_wanted = false, sasl_done = false;
  std::string cap_ls;        // capabilities offered, accumulated over multi-line CAP LS
  std::string close_reason;  // why the client itself ended the session
};

namespace {

std::string Env(const std::function<std::string(const char*)>& getenv, const char* name) {
  return getenv ? getenv(name) : std::string();
}

bool ValidNick(std::string_view nick) {
  if (nick.empty() || nick.size() > 64) return false;
  if (std::string_view("0123456789-").find(nick.front()) != std::string_view::npos) return false;
  return std::all_of(nick.begin(), nick.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-[]\\`^{}|").find(c) != std::string_view::npos;
  });
}

bool ValidTarget(std::string_view target) {
  return !target.empty() && target.find_first_of(std::string_view(" ,\r\n\0", 5)) == std::string_view::npos;
}

// Whether the space-separated capability list offers `cap` (entries may be "cap=value").
bool Offers(std::string_view caps, std::string_view cap) {
  std::string_view rest = caps;
  while (!rest.empty()) {
    size_t end = rest.find(' ');
    std::string_view entry = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (entry.substr(0, entry.find('=')) == cap) return true;
  }
  return false;
}

}  // namespace

oc::Result<IrcSettings> SettingsFromConfig(const json::value& section,
                                           const std::function<std::string(const char*)>& getenv) {
  IrcSettings s;
  const json::object empty;
  const json::object& o = section.is_object() ? section.as_object() : empty;
  s.server = std::string(oc::GetString(o, "server").value_or(""));
  if (s.server.empty()) return MakeError(ErrorCode::kInvalidParams, "channels.irc.server is required");
  s.tls = oc::GetBool(o, "tls").value_or(false);
  int64_t port = oc::GetInt(o, "port").value_or(s.tls ? 6697 : 6667);
  if (port < 1 || port > 65535) return MakeError(ErrorCode::kInvalidParams, "channels.irc.port must be 1..65535");
  s.port = static_cast<int>(port);
  s.nick = std::string(oc::GetString(o, "nick").value_or("openclaw"));
  if (!ValidNick(s.nick)) return MakeError(ErrorCode::kInvalidParams, "channels.irc.nick is not a valid IRC nick: " + s.nick);
  s.realname = std::string(oc::GetString(o, "realname").value_or("OpenClawOS assistant"));
  if (s.realname.empty() || s.realname.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
    s.realname = "OpenClawOS assistant";
  s.channels = openclawos::sdk::StringList(o.if_contains("channels"));
  for (const auto& c : s.channels)
    if (!IsChannelName(c) || c.find_first_of(std::string_view(",\r\n\0", 4)) != std::string::npos)
      return MakeError(ErrorCode::kInvalidParams, "channels.irc.channels: not a channel name: " + c);
  s.server_password = Env(getenv, "IRC_PASSWORD");
  if (const json::object* sasl = oc::GetObject(o, "sasl")) {
    s.sasl_user = std::string(oc::GetString(*sasl, "user").value_or(""));
    s.sasl_password = Env(getenv, "IRC_SASL_PASSWORD");
    if (!s.sasl_user.empty() && s.sasl_password.empty())
      return MakeError(ErrorCode::kInvalidParams,
                       "channels.irc.sasl.user is set but sasl.password is empty (it reaches the app as $IRC_SASL_PASSWORD)");
  }
  s.flood_burst = static_cast<int>(std::clamp<int64_t>(oc::GetInt(o, "floodBurst").value_or(4), 1, 100));
  s.flood_interval = milliseconds(std::clamp<int64_t>(oc::GetInt(o, "floodDelayMs").value_or(700), 0, 60000));
  return s;
}

IrcClient::IrcClient(asio::any_io_executor executor, IrcSettings settings)
    : executor_(executor), settings_(std::move(settings)), retry_timer_(executor), nicks_(settings_.nick) {
  if (settings_.username.empty()) settings_.username = settings_.nick;
  nick_ = settings_.nick;
}

IrcClient::~IrcClient() {
  if (session_) session_->Close();
}

size_t IrcClient::PrefixBytes() const {
  if (!own_prefix_.empty()) return own_prefix_.size() + 2;  // ':' and the space after it
  // Unknown host: assume a user name of up to 10 (plus '~') and the longest host name, 63.
  return 1 + nick_.size() + 1 + std::min<size_t>(settings_.username.size() + 1, 11) + 1 + 63 + 1;
}

asio::awaitable<void> IrcClient::Run() {
  openclawos::sdk::Backoff backoff(settings_.backoff_initial, settings_.backoff_max);
  while (!stopping_) {
    Status st = co_await RunSession();
    bool registered_before = ever_registered_;
    ever_registered_ = false;
    if (stopping_) break;
    if (registered_before) backoff.Reset();
    std::string reason = st.ok() ? "connection closed by the server" : st.error().message;
    last_error_ = reason;
    milliseconds delay = backoff.Next();
    if (reason != last_logged_error_) {
      spdlog::warn("irc: {}:{}: {}; reconnecting in {} ms", settings_.server, settings_.port, reason, delay.count());
      last_logged_error_ = reason;
    } else {
      spdlog::debug("irc: {}:{}: {} again; reconnecting in {} ms", settings_.server, settings_.port, reason, delay.count());
    }
    retry_timer_.expires_after(delay);
    error_code ec;
    co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> IrcClient::Stop(std::string reason, milliseconds grace) {
  stopping_ = true;
  retry_timer_.cancel();
  std::shared_ptr<Session> s = session_;
  if (!s) co_return;
  if (s->registered && !s->closed) {
    std::vector<std::string> params{reason.empty() ? std::string("bye") : reason};
    auto line = FormatCommand("QUIT", params, true);
    if (line.ok()) {
      std::shared_ptr<Outgoing> out = Queue(*s, std::move(*line), false);
      co_await out->done.Wait(grace);
    }
  }
  s->Close();
}

asio::awaitable<Status> IrcClient::RunSession() {
  auto s = std::make_shared<Session>(executor_, settings_);
  session_ = s;
  nicks_.Reset();
  nick_ = nicks_.Current();
  own_prefix_.clear();
  asio::co_spawn(executor_, Watchdog(s), asio::detached);
  Status st = co_await Connect(*s);
  if (st.ok()) {
    asio::co_spawn(executor_, WriteLoop(s), asio::detached);
    StartRegistration(*s);
    st = co_await ReadLoop(s);
  }
  if (!s->close_reason.empty()) st = MakeError(ErrorCode::kConnectionClosed, s->close_reason);
  EndSession(*s);
  co_return st;
}

void IrcClient::EndSession(Session& s) {
  bool was_registered = s.registered;
  s.Close();
  if (session_.get() == &s) session_.reset();
  registered_ = false;
  if (was_registered && on_state_) on_state_(false);
}

asio::awaitable<Status> IrcClient::Connect(Session& s) {
  tcp::resolver resolver(executor_);
  s.resolver = &resolver;
  auto [rec, endpoints] = co_await resolver.async_resolve(settings_.server, std::to_string(settings_.port), kUseTuple);
  s.resolver = nullptr;
  if (s.closed) co_return MakeError(ErrorCode::kTimeout, "connecting timed out");
  if (rec) co_return MakeError(ErrorCode::kConnectionClosed, "cannot resolve " + settings_.server + ": " + rec.message());
  auto [cec, endpoint] = co_await asio::async_connect(s.Lowest(), endpoints, kUseTuple);
  if (s.closed) co_return MakeError(ErrorCode::kTimeout, "connecting timed out");
  if (cec) co_return MakeError(ErrorCode::kConnectionClosed, "cannot connect: " + cec.message());
  error_code ignored;
  s.Lowest().set_option(tcp::no_delay(true), ignored);
  if (s.tls) {
    // SNI carries names only; the certificate check covers names and IP addresses alike.
    error_code not_ip;
    asio::ip::make_address(settings_.server, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(s.tls->native_handle(), settings_.server.c_str());
    s.tls->set_verify_callback(ssl::host_name_verification(settings_.server));
    auto [hec] = co_await s.tls->async_handshake(ssl::stream_base::client, kUseTuple);
    if (s.closed) co_return MakeError(ErrorCode::kTimeout, "TLS handshake timed out");
    if (hec) co_return MakeError(ErrorCode::kConnectionClosed, "TLS handshake failed: " + hec.message());
  }
  spdlog::debug("irc: connected to {}:{}", settings_.server, settings_.port);
  co_return Status();
}

asio::awaitable<Status> IrcClient::ReadLoop(std::shared_ptr<Session> s) {
  std::string buffer;
  while (!s->closed) {
    auto dyn = asio::dynamic_buffer(buffer, kMaxTaggedLineBytes + 2);
    error_code ec;
    size_t n = 0;
    if (s->tls) {
      auto r = co_await asio::async_read_until(*s->tls, dyn, '\n', kUseTuple);
      ec = std::get<0>(r);
      n = std::get<1>(r);
    } else {
      auto r = co_await asio::async_read_until(*s->plain, dyn, '\n', kUseTuple);
      ec = std::get<0>(r);
      n = std::get<1>(r);
    }
    if (ec == asio::error::not_found) co_return MakeError(ErrorCode::kConnectionClosed, "the server sent a line that is too long");
    if (ec == asio::error::eof) co_return MakeError(ErrorCode::kConnectionClosed, "connection closed by the server");
    if (ec) co_return MakeError(ErrorCode::kConnectionClosed, "connection lost: " + ec.message());
    std::string line = buffer.substr(0, n);
    buffer.erase(0, n);
    s->last_received = Clock::now();
    s->ping_sent = false;
    oc::Result<Message> m = ParseLine(line);
    if (!m.ok()) {
      spdlog::debug("irc: ignoring a malformed line: {}", m.error().message);
      continue;
    }
    Status handled = Handle(*s, *m);
    if (!handled.ok()) co_return handled;
  }
  co_return Status();
}

asio::awaitable<void> IrcClient::WriteLoop(std::shared_ptr<Session> s) {
  while (!s->closed) {
    bool control = !s->control.empty();
    if (!control && s->flooded.empty()) {
      s->wake.expires_at(Clock::time_point::max());
      error_code ec;
      co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (!control) {
      milliseconds wait = s->bucket.WaitTime(Clock::now());
      if (wait.count() > 0) {
        s->wake.expires_after(wait);
        error_code ec;
        co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      s->bucket.Take(Clock::now());
    }
    auto& queue = control ? s->control : s->flooded;
    std::shared_ptr<Outgoing> out = queue.front();
    queue.pop_front();
    error_code ec;
    if (s->tls) {
      auto r = co_await asio::async_write(*s->tls, asio::buffer(out->line), kUseTuple);
      ec = std::get<0>(r);
    } else {
      auto r = co_await asio::async_write(*s->plain, asio::buffer(out->line), kUseTuple);
      ec = std::get<0>(r);
    }
    out->done.Set(!ec);
    if (ec) {
      if (!s->closed && s->close_reason.empty()) s->close_reason = "writing failed: " + ec.message();
      s->Close();
    }
  }
}

asio::awaitable<void> IrcClient::Watchdog(std::shared_ptr<Session> s) {
  const IrcSettings& cfg = settings_;
  milliseconds tick = std::clamp(std::min({cfg.ping_interval, cfg.ping_timeout, cfg.connect_timeout}) / 4,
                                 milliseconds(10), milliseconds(1000));
  while (!s->closed) {
    s->watchdog.expires_after(tick);
    error_code ec;
    co_await s->watchdog.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (s->closed) break;
    Clock::time_point now = Clock::now();
    if (!s->registered) {
      if (now - s->started > cfg.connect_timeout) {
        s->close_reason = "no registration within " + std::to_string(cfg.connect_timeout.count()) + " ms";
        s->Close();
      }
      continue;
    }
    auto idle = now - s->last_received;
    if (idle > cfg.ping_interval + cfg.ping_timeout) {
      s->close_reason = "the server did not answer our PING (connection dead?)";
      s->Close();
    } else if (idle > cfg.ping_interval && !s->ping_sent) {
      s->ping_sent = true;
      QueueCommand(*s, "PING", {"openclawos"});
    }
    // Back under the configured nick once its holder left (e.g. our own ghost after a crash).
    if (!s->closed && !IrcEquals(nick_, cfg.nick, case_mapping_) && now - s->last_nick_try > cfg.nick_regain_interval) {
      s->last_nick_try = now;
      QueueCommand(*s, "NICK", {cfg.nick}, true);
    }
  }
}

asio::awaitable<void> IrcClient::RejoinLater(std::shared_ptr<Session> s, std::string channel) {
  asio::steady_timer timer(executor_);
  timer.expires_after(settings_.rejoin_delay);
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (s->closed || !s->registered) co_return;
  for (const auto& entry : settings_.channels) {
    std::string name = entry.substr(0, entry.find(' '));
    if (!IrcEquals(name, channel, case_mapping_)) continue;
    std::vector<std::string> params{name};
    if (name.size() < entry.size()) params.push_back(entry.substr(name.size() + 1));
    QueueCommand(*s, "JOIN", std::move(params), true);
  }
}

std::shared_ptr<IrcClient::Outgoing> IrcClient::Queue(Session& s, std::string line, bool flood_controlled) {
  auto out = std::make_shared<Outgoing>(executor_, std::move(line));
  if (s.closed) {
    out->done.Set(false);
    return out;
  }
  (flood_controlled ? s.flooded : s.control).push_back(out);
  s.wake.cancel();
  return out;
}

bool IrcClient::QueueCommand(Session& s, std::string_view command, std::vector<std::string> params, bool flood_controlled) {
  oc::Result<std::string> line = FormatCommand(command, params);
  if (!line.ok()) {
    spdlog::warn("irc: not sending {}: {}", command, line.error().message);
    return false;
  }
  Queue(s, std::move(*line), flood_controlled);
  return true;
}

void IrcClient::StartRegistration(Session& s) {
  s.sasl_wanted = !settings_.sasl_user.empty();
  QueueCommand(s, "CAP", {"LS", "302"});
  if (!settings_.server_password.empty()) QueueCommand(s, "PASS", {settings_.server_password});
  QueueCommand(s, "NICK", {nick_});
  QueueCommand(s, "USER", {settings_.username, "0", "*", settings_.realname});
}

void IrcClient::FinishCap(Session& s) { QueueCommand(s, "CAP", {"END"}); }

asio::awaitable<Status> IrcClient::SendMessage(std::string target, std::string text) {
  if (!ValidTarget(target)) co_return MakeError(ErrorCode::kInvalidParams, "not an IRC target: " + target);
  std::shared_ptr<Session> s = session_;
  if (!s || !registered_ || s->closed) co_return MakeError(ErrorCode::kConnectionClosed, "not connected to the IRC server");
  std::vector<std::string> pieces = SplitForIrc(text, PrivmsgTextBudget(target, PrefixBytes()));
  std::shared_ptr<Outgoing> last;
  for (auto& piece : pieces) {
    std::vector<std::string> params{target, std::move(piece)};
    oc::Result<std::string> line = FormatCommand("PRIVMSG", params, true);
    if (!line.ok()) co_return line.error();
    last = Queue(*s, std::move(*line), true);
  }
  if (!last) co_return Status();
  std::optional<bool> written = co_await last->done.Wait(std::chrono::minutes(30));
  if (!written || !*written)
    co_return MakeError(ErrorCode::kConnectionClosed, "the connection to the IRC server dropped before the message was sent");
  co_return Status();
}

bool IrcClient::SendNotice(const std::string& target, const std::string& text) {
  std::shared_ptr<Session> s = session_;
  if (!s || !registered_ || s->closed || !ValidTarget(target)) return false;
  for (auto& piece : SplitForIrc(text, PrivmsgTextBudget(target, PrefixBytes())))
    QueueCommand(*s, "NOTICE", {target, std::move(piece)}, true);
  return true;
}

}  // namespace oc::irc

// ---- server lines ----------------------------------------------------------------------------
namespace oc::irc {

Status IrcClient::Handle(Session& s, const Message& m) {
  const std::string& c = m.command;
  if (c == "PING") {
    QueueCommand(s, "PONG", {m.Param(0).empty() ? std::string("openclawos") : m.Param(0)});
  } else if (c == "CAP") {
    return HandleCap(s, m);
  } else if (c == "AUTHENTICATE") {
    if (m.Param(0) == "+" && s.sasl_wanted && !s.sasl_done)
      for (auto& chunk : AuthenticateChunks(SaslPlainPayload(settings_.sasl_user, settings_.sasl_password)))
        QueueCommand(s, "AUTHENTICATE", {chunk});
  } else if (c == "ERROR") {
    s.close_reason = "the server closed the link: " + m.Param(0);
  } else if (c == "001") {
    if (s.sasl_wanted && !s.sasl_done)
      return MakeError(ErrorCode::kUnauthorized, "SASL is configured but the server registered us without it (no CAP support?)");
    HandleWelcome(s, m);
  } else if (c == "005") {
    auto tokens = ParseIsupport(m);
    if (auto it = tokens.find("CASEMAPPING"); it != tokens.end()) case_mapping_ = CaseMappingFromName(it->second);
    if (auto it = tokens.find("NICKLEN"); it != tokens.end() && !s.registered) {
      int len = std::atoi(it->second.c_str());
      if (len > 0) nicks_.SetMaxLength(static_cast<size_t>(len));
    }
  } else if (c == "NICK") {
    if (IrcEquals(m.Nick(), nick_, case_mapping_)) {
      Prefix p = ParsePrefix(m.prefix);
      nick_ = m.Param(0);
      if (!own_prefix_.empty()) own_prefix_ = nick_ + "!" + p.user + "@" + p.host;
      spdlog::info("irc: our nick is now {}", nick_);
    }
  } else if (c == "JOIN" || c == "KICK") {
    HandleJoinKick(s, m);
  } else if (c == "PRIVMSG") {
    HandlePrivmsg(m);
  } else if (c.size() == 3 && c[0] >= '0' && c[0] <= '9') {
    return HandleRegistrationNumeric(s, m);
  }
  return Status();
}

Status IrcClient::HandleCap(Session& s, const Message& m) {
  const std::string sub = m.Param(1);
  if (sub == "LS") {
    bool more = m.Param(2) == "*" && m.params.size() >= 4;
    if (!s.cap_ls.empty()) s.cap_ls += ' ';
    s.cap_ls += more ? m.Param(3) : m.Param(2);
    if (more) return Status();
    std::string request;
    if (s.sasl_wanted) {
      if (!Offers(s.cap_ls, "sasl"))
        return MakeError(ErrorCode::kUnauthorized, "SASL is configured but the server does not offer it");
      request = "sasl";
    }
    if (Offers(s.cap_ls, "message-tags")) request += request.empty() ? "message-tags" : " message-tags";
    if (request.empty()) {
      FinishCap(s);
    } else {
      QueueCommand(s, "CAP", {"REQ", request});
    }
  } else if (sub == "ACK") {
    if (s.sasl_wanted && Offers(m.Param(2), "sasl")) {
      QueueCommand(s, "AUTHENTICATE", {"PLAIN"});
    } else {
      FinishCap(s);
    }
  } else if (sub == "NAK") {
    if (s.sasl_wanted) return MakeError(ErrorCode::kUnauthorized, "the server refused the sasl capability");
    FinishCap(s);
  }
  return Status();
}

Status IrcClient::HandleRegistrationNumeric(Session& s, const Message& m) {
  const std::string& c = m.command;
  const std::string& text = m.params.empty() ? c : m.params.back();
  if (c == "903") {
    s.sasl_done = true;
    spdlog::info("irc: SASL authentication as {} succeeded", settings_.sasl_user);
    FinishCap(s);
  } else if (c == "902" || c == "904" || c == "905" || c == "906") {
    return MakeError(ErrorCode::kUnauthorized, "SASL authentication as " + settings_.sasl_user + " failed (" + c + "): " + text);
  } else if (c == "464") {
    return MakeError(ErrorCode::kUnauthorized, "the server refused the password (464): " + text);
  } else if (c == "465") {
    return MakeError(ErrorCode::kForbidden, "banned from the server (465): " + text);
  } else if ((c == "433" || c == "436" || c == "432" || c == "437") && !s.registered) {
    if (nicks_.attempts() >= 30) return MakeError(ErrorCode::kConflict, "no free nick after 30 attempts: " + text);
    std::string taken = nick_;
    nick_ = nicks_.Next();
    spdlog::info("irc: nick {} unavailable ({}); trying {}", taken, c, nick_);
    QueueCommand(s, "NICK", {nick_});
  } else if (c == "471" || c == "473" || c == "474" || c == "475" || c == "403" || c == "405" || c == "477") {
    spdlog::warn("irc: cannot join {} ({}): {}", m.Param(1), c, text);
  }
  return Status();
}

void IrcClient::HandleWelcome(Session& s, const Message& m) {
  s.registered = registered_ = ever_registered_ = true;
  s.last_nick_try = Clock::now();
  nick_ = m.Param(0).empty() ? nick_ : m.Param(0);
  // RFC 2812's welcome ends with our nick!user@host: the prefix others see, for the line budget.
  const std::string& text = m.Param(1);
  std::string mask = text.substr(text.rfind(' ') == std::string::npos ? 0 : text.rfind(' ') + 1);
  if (mask.find('!') != std::string::npos && mask.find('@') != std::string::npos && IrcEquals(ParsePrefix(mask).nick, nick_))
    own_prefix_ = mask;
  last_error_.clear();
  last_logged_error_.clear();
  spdlog::info("irc: registered on {}:{} as {}", settings_.server, settings_.port, nick_);
  for (const auto& entry : settings_.channels) {
    std::string name = entry.substr(0, entry.find(' '));
    std::vector<std::string> params{name};
    if (name.size() < entry.size()) params.push_back(entry.substr(name.size() + 1));
    QueueCommand(s, "JOIN", std::move(params), true);
  }
  if (on_state_) on_state_(true);
}

void IrcClient::HandleJoinKick(Session& s, const Message& m) {
  if (m.command == "JOIN") {
    if (!IrcEquals(m.Nick(), nick_, case_mapping_)) return;
    own_prefix_ = m.prefix;  // exactly what the server shows others
    spdlog::info("irc: joined {}", m.Param(0));
    return;
  }
  if (!IrcEquals(m.Param(1), nick_, case_mapping_)) return;
  spdlog::warn("irc: kicked from {} by {} ({}); rejoining in {} ms", m.Param(0), m.Nick(), m.Param(2),
               settings_.rejoin_delay.count());
  asio::co_spawn(executor_, RejoinLater(session_, m.Param(0)), asio::detached);
  (void)s;
}

void IrcClient::HandlePrivmsg(const Message& m) {
  IncomingMessage in;
  in.sender = ParsePrefix(m.prefix);
  in.target = m.Param(0);
  if (in.sender.nick.empty() || IrcEquals(in.sender.nick, nick_, case_mapping_)) return;
  if (!IsChannelName(in.target) && !IrcEquals(in.target, nick_, case_mapping_)) return;  // "$mask", "@#chan", ...
  const std::string& text = m.Param(1);
  if (IsCtcp(text)) {
    auto action = CtcpAction(text);
    if (!action) return;  // VERSION, PING, DCC...: not for the agent
    in.action = true;
    in.text = StripFormatting(*action);
  } else {
    in.text = StripFormatting(text);
  }
  in.msgid = m.Tag("msgid").value_or("");
  if (on_message_) on_message_(std::move(in));
}

}  // namespace oc::irc
