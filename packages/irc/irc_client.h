// One IRC client connection that keeps itself up: TCP (optionally TLS with the system CA store and
// host name verification), IRCv3 CAP negotiation, SASL PLAIN, PASS/NICK/USER, nick collisions,
// PING/PONG plus its own keepalive PING, JOIN of the configured channels (and again after a KICK),
// flood control on everything it sends after registration, reconnect with Backoff forever.
// Library oc_irc_client (Asio, OpenSSL); the kernel-facing part is the app in main.cpp.
//
// Threading: every member runs on the executor given to the constructor (one thread). Errors are
// values; nothing throws out of the public members.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "irc_proto.h"

namespace oc::irc {

struct IrcSettings {
  std::string server;
  int port = 6667;
  bool tls = false;
  std::string nick = "openclaw";
  std::string username;  // USER's user name; the nick when empty
  std::string realname = "OpenClawOS assistant";
  std::vector<std::string> channels;  // "#chan" or "#chan key"
  std::string server_password;        // PASS, when not empty
  std::string sasl_user, sasl_password;  // SASL PLAIN when sasl_user is not empty
  int flood_burst = 4;
  std::chrono::milliseconds flood_interval{700};
  // Keepalive: after `ping_interval` without any line from the server we send PING; without any
  // line for `ping_interval + ping_timeout` the connection is taken as dead and reconnected.
  std::chrono::milliseconds ping_interval{60000};
  std::chrono::milliseconds ping_timeout{30000};
  std::chrono::milliseconds connect_timeout{20000};   // TCP + TLS + registration
  std::chrono::milliseconds rejoin_delay{5000};       // after a KICK
  // While registered under another nick (collision), how often to try the configured one again.
  std::chrono::milliseconds nick_regain_interval{30000};
  std::chrono::milliseconds backoff_initial{1000}, backoff_max{60000};
  std::string extra_ca_pem;  // tests only: a CA trusted besides the system store
};

// The settings in a channels.irc section (config.get's answer, schema defaults filled in). The
// secrets come from the environment, never from config.get: `password` from $IRC_PASSWORD and
// `sasl.password` from $IRC_SASL_PASSWORD (the kernel sets them from the x-env keys).
// INVALID_PARAMS naming the key when `server` is missing, the nick is empty or malformed, the
// port is out of range, or sasl.user is set without a password.
oc::Result<IrcSettings> SettingsFromConfig(const oc::json::value& section,
                                           const std::function<std::string(const char*)>& getenv);

// A PRIVMSG that reached us (never one we sent; NOTICEs are not reported).
struct IncomingMessage {
  Prefix sender;
  std::string target;    // our nick for a direct message, else the channel
  std::string text;      // formatting stripped; a CTCP ACTION's text without the wrapper
  bool action = false;   // it was a CTCP ACTION ("/me")
  std::string msgid;     // IRCv3 msgid tag, "" when absent
};

class IrcClient {
 public:
  using MessageHandler = std::function<void(IncomingMessage)>;
  // Called with true after each successful registration (001) and false after each disconnect.
  using StateHandler = std::function<void(bool registered)>;

  IrcClient(boost::asio::any_io_executor executor, IrcSettings settings);
  ~IrcClient();
  IrcClient(const IrcClient&) = delete;
  IrcClient& operator=(const IrcClient&) = delete;

  void OnMessage(MessageHandler handler) { on_message_ = std::move(handler); }
  void OnState(StateHandler handler) { on_state_ = std::move(handler); }

  // Connects and stays connected until Stop(): each failure is logged once with its reason
  // (repeats of the same reason at debug) and retried after Backoff(initial → max). Co_spawn it
  // once; it returns after Stop().
  boost::asio::awaitable<void> Run();

  // Sends QUIT :<reason> when registered, waits up to `grace` for it to be written, closes the
  // connection and ends Run(). Later sends fail.
  boost::asio::awaitable<void> Stop(std::string reason, std::chrono::milliseconds grace);

  // Sends `text` to `target` as PRIVMSGs cut to the line limit (SplitForIrc with the budget for our
  // prefix), in order, through the flood-control queue. Succeeds once the last piece was written
  // to the socket; CONNECTION_CLOSED when not registered or when the connection drops first;
  // INVALID_PARAMS for a target with spaces, CR, LF or NUL. Empty text sends nothing.
  boost::asio::awaitable<oc::Status> SendMessage(std::string target, std::string text);
  // A NOTICE (one line, cut to the limit), not waited for; false when not registered.
  bool SendNotice(const std::string& target, const std::string& text);

  bool registered() const { return registered_; }
  const std::string& nick() const { return nick_; }
  CaseMapping case_mapping() const { return case_mapping_; }
  // Bytes of ":nick!user@host " as the server shows us to others (an estimate until we see our
  // own JOIN echo or the welcome's mask).
  size_t PrefixBytes() const;
  // The last reason a connection failed or was refused ("" after a successful registration).
  const std::string& last_error() const { return last_error_; }

 private:
  struct Session;
  struct Outgoing;

  boost::asio::awaitable<oc::Status> RunSession();
  boost::asio::awaitable<oc::Status> Connect(Session& session);
  boost::asio::awaitable<oc::Status> ReadLoop(std::shared_ptr<Session> session);
  boost::asio::awaitable<void> WriteLoop(std::shared_ptr<Session> session);
  boost::asio::awaitable<void> Watchdog(std::shared_ptr<Session> session);
  boost::asio::awaitable<void> RejoinLater(std::shared_ptr<Session> session, std::string channel);

  // Handling of one server line; an error ends the session with that reason.
  oc::Status Handle(Session& session, const Message& m);
  oc::Status HandleCap(Session& session, const Message& m);
  oc::Status HandleRegistrationNumeric(Session& session, const Message& m);
  void HandleWelcome(Session& session, const Message& m);
  void HandlePrivmsg(const Message& m);
  void HandleJoinKick(Session& session, const Message& m);
  void StartRegistration(Session& session);
  void FinishCap(Session& session);

  // Queues one formatted line; control lines (registration, PONG, QUIT) skip the flood bucket.
  // Returns the waiter that is set when the line was written (true) or dropped (false).
  std::shared_ptr<Outgoing> Queue(Session& session, std::string line, bool flood_controlled);
  bool QueueCommand(Session& session, std::string_view command, std::vector<std::string> params,
                    bool flood_controlled = false);
  void EndSession(Session& session);

  boost::asio::any_io_executor executor_;
  IrcSettings settings_;
  MessageHandler on_message_;
  StateHandler on_state_;
  std::shared_ptr<Session> session_;  // the current connection, null between connections
  boost::asio::steady_timer retry_timer_;
  NickSequence nicks_;
  std::string nick_;
  std::string own_prefix_;  // "nick!user@host" once known
  CaseMapping case_mapping_ = CaseMapping::kRfc1459;
  bool registered_ = false;
  bool ever_registered_ = false;  // the current session reached 001 (resets the backoff)
  bool stopping_ = false;
  std::string last_error_;
  std::string last_logged_error_;
};

}  // namespace oc::irc
