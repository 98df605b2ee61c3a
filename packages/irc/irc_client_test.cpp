// IrcClient against an IRC server scripted in the test (loopback TCP): SASL success and failure,
// nick collision, PING/PONG, the keepalive, reply splitting, flood control, KICK, reconnects.
#include "irc_client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <functional>

namespace oc::irc {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A line-based server: every line a client sends is recorded (without CR LF) with its arrival
// time and handed to the script, whose answer lines are written back at once.
class ScriptedServer {
 public:
  using Script = std::function<std::vector<std::string>(size_t connection, const Message& m)>;

  ScriptedServer(asio::io_context& io, Script script)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)) {
    asio::co_spawn(io, Accept(), asio::detached);
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  size_t connections() const { return sockets_.size(); }
  const std::vector<std::string>& lines(size_t c) const { return lines_.at(c); }
  const std::vector<Clock::time_point>& times(size_t c) const { return times_.at(c); }
  bool Saw(size_t c, std::string_view line) const {
    if (c >= lines_.size()) return false;
    return std::find(lines_[c].begin(), lines_[c].end(), line) != lines_[c].end();
  }
  void Send(size_t c, const std::string& line) {
    boost::system::error_code ec;
    asio::write(*sockets_.at(c), asio::buffer(line + "\r\n"), ec);
  }
  void Drop(size_t c) {
    boost::system::error_code ec;
    sockets_.at(c)->close(ec);
  }
  std::string greeting;  // sent on accept, as servers send "*** Looking up your hostname"

  void Close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& s : sockets_) s->close(ec);
  }

 private:
  asio::awaitable<void> Accept() {
    while (acceptor_.is_open()) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      sockets_.push_back(std::make_shared<tcp::socket>(std::move(socket)));
      lines_.emplace_back();
      times_.emplace_back();
      if (!greeting.empty()) Send(sockets_.size() - 1, greeting);
      asio::co_spawn(io_, Serve(sockets_.size() - 1), asio::detached);
    }
  }
  asio::awaitable<void> Serve(size_t c) {
    std::shared_ptr<tcp::socket> socket = sockets_[c];
    std::string buffer;
    while (true) {
      boost::system::error_code ec;
      size_t n = co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer), '\n',
                                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      std::string line = buffer.substr(0, n);
      buffer.erase(0, n);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      lines_[c].push_back(line);
      times_[c].push_back(Clock::now());
      auto m = ParseLine(line);
      if (!m.ok()) continue;
      for (const auto& answer : script_(c, *m)) Send(c, answer);
    }
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Script script_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::vector<std::string>> lines_;
  std::vector<std::vector<Clock::time_point>> times_;
};

// The usual registration answers: CAP LS (with the given caps), welcome after CAP END, JOIN echo.
std::vector<std::string> Registration(const Message& m, const std::string& caps, const std::string& nick) {
  if (m.command == "CAP" && m.Param(0) == "LS") return {":srv CAP * LS :" + caps};
  if (m.command == "CAP" && m.Param(0) == "REQ") return {":srv CAP * ACK :" + m.Param(1)};
  if (m.command == "CAP" && m.Param(0) == "END")
    return {":srv 001 " + nick + " :Welcome to the test network " + nick + "!~u@client.test",
            ":srv 005 " + nick + " CASEMAPPING=rfc1459 NICKLEN=12 :are supported by this server"};
  if (m.command == "JOIN") return {":" + nick + "!~u@client.test JOIN " + m.Param(0)};
  return {};
}

class IrcClientTest : public ::testing::Test {
 protected:
  IrcSettings Settings(int port) {
    IrcSettings s;
    s.server = "127.0.0.1";
    s.port = port;
    s.nick = "oc";
    s.channels = {"#c"};
    s.backoff_initial = 20ms;
    s.backoff_max = 50ms;
    s.connect_timeout = 2000ms;
    s.flood_interval = 10ms;
    return s;
  }

  // The server lives in the fixture: TearDown still runs the loop while the client says QUIT.
  ScriptedServer& Serve(ScriptedServer::Script script) {
    server_ = std::make_unique<ScriptedServer>(io, std::move(script));
    return *server_;
  }

  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      io.restart();
      io.run_for(5ms);
    }
    return true;
  }

  void Start(IrcSettings settings) {
    client = std::make_unique<IrcClient>(io.get_executor(), std::move(settings));
    client->OnMessage([this](IncomingMessage m) { messages.push_back(std::move(m)); });
    client->OnState([this](bool up) { states.push_back(up); });
    asio::co_spawn(io, [](IrcClient* c, bool* finished) -> asio::awaitable<void> {
      co_await c->Run();
      *finished = true;
    }(client.get(), &run_finished), asio::detached);
  }

  std::optional<Status> Send(std::string target, std::string text) {
    std::optional<Status> result;
    asio::co_spawn(io, [](IrcClient* c, std::string t, std::string x, std::optional<Status>* out) -> asio::awaitable<void> {
      *out = co_await c->SendMessage(std::move(t), std::move(x));
    }(client.get(), std::move(target), std::move(text), &result), asio::detached);
    RunUntil([&] { return result.has_value(); }, 10000ms);
    return result;
  }

  void TearDown() override {
    if (!client) return;
    asio::co_spawn(io, client->Stop("bye", 500ms), asio::detached);
    EXPECT_TRUE(RunUntil([&] { return run_finished; }));
  }

  asio::io_context io;
  std::unique_ptr<ScriptedServer> server_;
  std::unique_ptr<IrcClient> client;
  std::vector<IncomingMessage> messages;
  std::vector<bool> states;
  bool run_finished = false;
};

TEST_F(IrcClientTest, SaslPlainSuccessThenRegistersJoinsAndReceives) {
  const std::string expected = "AUTHENTICATE " + SaslPlainPayload("acct", "s3cret");
  ScriptedServer& server = Serve([&](size_t, const Message& m) -> std::vector<std::string> {
    if (m.command == "AUTHENTICATE" && m.Param(0) == "PLAIN") return {"AUTHENTICATE +"};
    if (m.command == "AUTHENTICATE")
      return {":srv 900 oc oc!~u@client.test acct :You are now logged in as acct", ":srv 903 oc :SASL authentication successful"};
    return Registration(m, "multi-prefix sasl=PLAIN message-tags", "oc");
  });
  IrcSettings s = Settings(server.port());
  s.sasl_user = "acct";
  s.sasl_password = "s3cret";
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return server.Saw(0, "JOIN #c") && client->registered(); }));
  const auto& lines = server.lines(0);
  std::vector<std::string> head(lines.begin(), lines.begin() + 6);
  EXPECT_EQ(head, (std::vector<std::string>{"CAP LS 302", "NICK oc", "USER oc 0 * :OpenClawOS assistant",
                                            "CAP REQ :sasl message-tags", "AUTHENTICATE PLAIN", expected}));
  EXPECT_EQ(lines[6], "CAP END");
  EXPECT_EQ(states, (std::vector<bool>{true}));
  EXPECT_EQ(client->nick(), "oc");
  EXPECT_EQ(client->PrefixBytes(), std::string(":oc!~u@client.test ").size());

  server.Send(0, "@msgid=m-42 :alice!~a@home.test PRIVMSG oc :\x02hello\x02 there");
  server.Send(0, ":bob!~b@b.test PRIVMSG #c :\x01" "ACTION waves\x01");
  server.Send(0, ":bob!~b@b.test NOTICE oc :notices are never answered");
  server.Send(0, ":oc!~u@client.test PRIVMSG #c :our own echo");
  server.Send(0, ":bob!~b@b.test PRIVMSG #c :\x01VERSION\x01");
  server.Send(0, ":bob!~b@b.test PRIVMSG #c :last");
  ASSERT_TRUE(RunUntil([&] { return messages.size() >= 3; }));
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].sender.nick, "alice");
  EXPECT_EQ(messages[0].sender.host, "home.test");
  EXPECT_EQ(messages[0].target, "oc");
  EXPECT_EQ(messages[0].text, "hello there");
  EXPECT_EQ(messages[0].msgid, "m-42");
  EXPECT_TRUE(messages[1].action);
  EXPECT_EQ(messages[1].text, "waves");
  EXPECT_EQ(messages[2].text, "last");
}

TEST_F(IrcClientTest, SaslFailureIsReportedAndRetriedNeverRegistered) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) -> std::vector<std::string> {
    if (m.command == "AUTHENTICATE" && m.Param(0) == "PLAIN") return {"AUTHENTICATE +"};
    if (m.command == "AUTHENTICATE") return {":srv 904 oc :SASL authentication failed"};
    return Registration(m, "sasl", "oc");
  });
  IrcSettings s = Settings(server.port());
  s.sasl_user = "acct";
  s.sasl_password = "wrong";
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return server.connections() >= 2; }));
  EXPECT_NE(client->last_error().find("SASL authentication as acct failed (904)"), std::string::npos) << client->last_error();
  EXPECT_FALSE(server.Saw(0, "CAP END"));
  EXPECT_TRUE(states.empty());
  EXPECT_FALSE(client->registered());
}

TEST_F(IrcClientTest, SaslNotOfferedFailsClearly) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "multi-prefix", "oc"); });
  IrcSettings s = Settings(server.port());
  s.sasl_user = "acct";
  s.sasl_password = "pw";
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return server.connections() >= 2; }));
  EXPECT_EQ(client->last_error(), "SASL is configured but the server does not offer it");
  EXPECT_FALSE(server.Saw(0, "CAP END"));
}

TEST_F(IrcClientTest, NickCollisionTriesUnderscoresThenDigitsAndPassIsSent) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) -> std::vector<std::string> {
    if (m.command == "NICK" && (m.Param(0) == "oc" || m.Param(0) == "oc_"))
      return {":srv 433 * " + m.Param(0) + " :Nickname is already in use"};
    if (m.command == "NICK" && m.Param(0) == "oc__") return {":srv 436 * oc__ :Nickname collision KILL"};
    if (m.command == "CAP" && m.Param(0) == "LS") return {":srv 421 * CAP :Unknown command"};
    if (m.command == "USER") return {};
    if (m.command == "NICK" && m.Param(0) == "oc1") return {":srv 001 oc1 :Welcome oc1!~u@h"};
    return Registration(m, "", "oc1");
  });
  IrcSettings s = Settings(server.port());
  s.server_password = "serverpw";
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return client->registered(); }));
  EXPECT_EQ(client->nick(), "oc1");
  std::vector<std::string> sent(server.lines(0).begin(), server.lines(0).begin() + 7);
  EXPECT_EQ(sent, (std::vector<std::string>{"CAP LS 302", "PASS serverpw", "NICK oc", "USER oc 0 * :OpenClawOS assistant",
                                            "NICK oc_", "NICK oc__", "NICK oc1"}));
}

TEST_F(IrcClientTest, RegainsTheConfiguredNickOnceItIsFree) {
  int tries = 0;
  ScriptedServer& server = Serve([&](size_t, const Message& m) -> std::vector<std::string> {
    if (m.command == "NICK" && m.Param(0) == "oc" && ++tries <= 2) return {":srv 433 * oc :Nickname is already in use"};
    if (m.command == "NICK" && m.Param(0) == "oc") return {":oc_!~u@client.test NICK :oc"};
    return Registration(m, "", "oc_");
  });
  IrcSettings s = Settings(server.port());
  s.nick_regain_interval = 100ms;
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return client->registered(); }));
  ASSERT_TRUE(RunUntil([&] { return client->nick() == "oc"; }));
  EXPECT_EQ(tries, 3);  // at registration, one refused retry, then the one that worked
  EXPECT_EQ(client->PrefixBytes(), std::string(":oc!~u@client.test ").size());
  io.restart();
  io.run_for(300ms);
  EXPECT_EQ(tries, 3);  // no more tries once we have it
}

TEST_F(IrcClientTest, AnswersPingAndDetectsADeadServer) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "", "oc"); });
  IrcSettings s = Settings(server.port());
  s.ping_interval = 150ms;
  s.ping_timeout = 150ms;
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return client->registered(); }));
  server.Send(0, "PING :srv.token");
  ASSERT_TRUE(RunUntil([&] { return server.Saw(0, "PONG srv.token"); }));
  // silence: our own PING goes out, nothing answers, the connection is dropped and made again
  ASSERT_TRUE(RunUntil([&] { return server.Saw(0, "PING openclawos"); }));
  ASSERT_TRUE(RunUntil([&] { return server.connections() >= 2 && client->registered(); }));
  EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
}

TEST_F(IrcClientTest, LongReplyIsSplitInOrderAndFloodControlled) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "", "oc"); });
  IrcSettings s = Settings(server.port());
  s.flood_burst = 2;
  s.flood_interval = 100ms;
  s.channels.clear();
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return client->registered(); }));
  std::string text;
  for (int i = 0; i < 400; ++i) text += "w" + std::to_string(i) + " ";
  text += "\nsecond paragraph";
  auto sent = Send("#c", text);
  ASSERT_TRUE(sent && sent->ok()) << (sent ? sent->error().message : "no result");
  std::vector<std::string> privmsgs;
  std::vector<Clock::time_point> at;
  for (size_t i = 0; i < server.lines(0).size(); ++i) {
    if (server.lines(0)[i].rfind("PRIVMSG #c :", 0) != 0) continue;
    privmsgs.push_back(server.lines(0)[i].substr(12));
    at.push_back(server.times(0)[i]);
  }
  ASSERT_GE(privmsgs.size(), 4u);
  EXPECT_EQ(privmsgs.back(), "second paragraph");
  std::string joined;
  for (size_t i = 0; i + 1 < privmsgs.size(); ++i) {
    EXPECT_LE((":oc!~u@client.test PRIVMSG #c :" + privmsgs[i] + "\r\n").size(), kMaxLineBytes);
    joined += privmsgs[i] + " ";
  }
  EXPECT_EQ(joined + "\nsecond paragraph", text);
  // burst of 2, then about one line per 100 ms
  EXPECT_GE(at.back() - at.front(), std::chrono::milliseconds(90 * (static_cast<int>(privmsgs.size()) - 2)));
  // a target that could inject a command is refused
  auto bad = Send("#c :x\r\nQUIT", "hi");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->error().code, ErrorCode::kInvalidParams);
}

TEST_F(IrcClientTest, SendWhileDisconnectedFailsAndKickRejoins) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "", "oc"); });
  IrcSettings s = Settings(server.port());
  s.rejoin_delay = 50ms;
  Start(s);
  auto before = Send("alice", "too early");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->error().code, ErrorCode::kConnectionClosed);
  ASSERT_TRUE(RunUntil([&] { return server.Saw(0, "JOIN #c"); }));
  server.Send(0, ":op!o@h KICK #c oc :behave");
  ASSERT_TRUE(RunUntil([&] { return std::count(server.lines(0).begin(), server.lines(0).end(), "JOIN #c") == 2; }));
  // the server goes away: sends fail until the client is back
  server.Drop(0);
  ASSERT_TRUE(RunUntil([&] { return !client->registered(); }));
  auto during = Send("alice", "while down");
  ASSERT_TRUE(during);
  EXPECT_FALSE(during->ok());
  ASSERT_TRUE(RunUntil([&] { return server.connections() >= 2 && client->registered(); }));
  auto after = Send("alice", "back");
  ASSERT_TRUE(after && after->ok());
  EXPECT_TRUE(server.Saw(1, "PRIVMSG alice :back"));
}

TEST_F(IrcClientTest, TlsToAPlainServerFailsTheHandshakeAndIsRetried) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "", "oc"); });
  IrcSettings s = Settings(server.port());
  s.tls = true;
  server.greeting = ":srv NOTICE * :*** Looking up your hostname...";
  Start(s);
  ASSERT_TRUE(RunUntil([&] { return server.connections() >= 2; }));
  EXPECT_EQ(client->last_error().rfind("TLS handshake failed", 0), 0u) << client->last_error();
  EXPECT_FALSE(server.Saw(0, "NICK oc"));  // nothing was sent in the clear
  EXPECT_TRUE(states.empty());
}

TEST_F(IrcClientTest, StopSendsQuit) {
  ScriptedServer& server = Serve([&](size_t, const Message& m) { return Registration(m, "", "oc"); });
  Start(Settings(server.port()));
  ASSERT_TRUE(RunUntil([&] { return client->registered(); }));
  asio::co_spawn(io, client->Stop("see you", 500ms), asio::detached);
  ASSERT_TRUE(RunUntil([&] { return run_finished; }));
  EXPECT_TRUE(server.Saw(0, "QUIT :see you"));
  client.reset();
}

TEST(IrcSettings, FromConfigWithSecretsFromTheEnvironment) {
  auto env = [](const char* name) -> std::string {
    if (std::string_view(name) == "IRC_SASL_PASSWORD") return "from-env";
    if (std::string_view(name) == "IRC_PASSWORD") return "server-pw";
    return "";
  };
  auto cfg = oc::json::parse(R"({"enabled":true,"server":"irc.example.org","tls":true,"nick":"bot",
      "channels":["#a","#b key"],"sasl":{"user":"acct","password":"[redacted]"},"floodDelayMs":50})");
  auto s = SettingsFromConfig(cfg, env);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->port, 6697);  // the TLS default
  EXPECT_EQ(s->nick, "bot");
  EXPECT_EQ(s->channels, (std::vector<std::string>{"#a", "#b key"}));
  EXPECT_EQ(s->sasl_password, "from-env");  // never the redacted config value
  EXPECT_EQ(s->server_password, "server-pw");
  EXPECT_EQ(s->flood_interval, 50ms);
  EXPECT_EQ(SettingsFromConfig(oc::json::parse(R"({"server":"h"})"), env)->port, 6667);

  auto no_env = [](const char*) { return std::string(); };
  EXPECT_NE(SettingsFromConfig(oc::json::parse(R"({"enabled":true})"), env).error().message.find("server is required"), std::string::npos);
  EXPECT_FALSE(SettingsFromConfig(oc::json::parse(R"({"server":"h","sasl":{"user":"a"}})"), no_env).ok());
  EXPECT_FALSE(SettingsFromConfig(oc::json::parse(R"({"server":"h","nick":"9lives"})"), env).ok());
  EXPECT_FALSE(SettingsFromConfig(oc::json::parse(R"({"server":"h","nick":"a b"})"), env).ok());
  EXPECT_FALSE(SettingsFromConfig(oc::json::parse(R"({"server":"h","port":70000})"), env).ok());
  EXPECT_FALSE(SettingsFromConfig(oc::json::parse(R"({"server":"h","channels":["nochan"]})"), env).ok());
}

}  // namespace
}  // namespace oc::irc
