// Black-box tests of the control plane over real sockets on 127.0.0.1: the server runs on its own
// thread's io_context, clients (ControlClient, a raw WebSocket, raw HTTP) run on the test thread.
#include "gateway/control_server.h"

#include "common/redact.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <future>
#include <stdexcept>
#include <thread>

#include "gateway/control_client.h"

namespace oc::gateway {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// A WebSocket client that sends exactly what the test says, to drive protocol errors.
bool IsPresence(const json::value& frame) {
  const auto* o = frame.if_object();
  return o && o->contains("event") && o->at("event") == "presence";
}

// The next event other than `presence`.
Result<std::optional<json::value>> NextEvent(ControlClient& client, std::chrono::milliseconds timeout) {
  for (;;) {
    auto event = client.NextEvent(timeout);
    if (!event.ok() || !event->has_value() || !IsPresence(**event)) return event;
  }
}

class RawWs {
 public:
  struct ReadResult {
    std::optional<json::value> frame;  // parsed text frame
    bool closed = false;               // the server closed the connection
    bool timed_out = false;
  };

  bool Connect(uint16_t port) {
    error_code ec;
    ws_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return false;
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/ws", ec);
    return !ec;
  }

  void Send(const std::string& text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }

  ReadResult Read(std::chrono::milliseconds timeout = 5s) {
    ReadResult out;
    bool done = false;
    error_code result;
    buffer_.clear();
    ws_.async_read(buffer_, [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      out.timed_out = true;
      ws_.next_layer().close();
      io_.restart();
      io_.run();
      return out;
    }
    if (result) {
      out.closed = true;
      return out;
    }
    auto parsed = ParseJson(beast::buffers_to_string(buffer_.data()));
    // `presence` events (a client came or went) arrive whenever clients connect: not what these
    // tests look at.
    if (parsed.ok() && IsPresence(*parsed)) return Read(timeout);
    if (parsed.ok()) out.frame = *parsed;
    return out;
  }

  // Sends a connect with the given auth object and returns the server's answer.
  ReadResult Handshake(json::object auth, json::object client = {}) {
    json::object params{{"auth", std::move(auth)}};
    if (!client.empty()) params["client"] = std::move(client);
    Send(json::serialize(json::object{{"type", "req"}, {"id", "hello"}, {"method", "connect"}, {"params", params}}));
    return Read();
  }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
  beast::flat_buffer buffer_;
};

// Sends raw HTTP text and returns everything the server answers until it closes.
std::string RawHttp(uint16_t port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(request));
  std::string response;
  asio::async_read(socket, asio::dynamic_buffer(response), [](error_code, size_t) {});
  io.run_for(5s);
  return response;
}

const json::object& Obj(const json::value& v) { return v.as_object(); }

class ControlServerTest : public ::testing::Test {
 protected:
  void StartServer(ControlSettings settings = {}) {
    settings.host = settings.host.empty() ? "127.0.0.1" : settings.host;
    settings.port = 0;
    server_ = std::make_unique<ControlServer>(io_, settings);
    AddTestMethods();
    server_->AddHttpGet("/health", [] { return json::value(json::object{{"ok", true}}); });
    server_->AddHttpGet("/private", [] { return json::value(json::object{{"secret", 42}}); },
                        HttpAccess::kAuthenticated);
    ASSERT_TRUE(server_->Listen().ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      OnLoop([&] { server_->Stop(); });
      io_.stop();
      thread_.join();
    }
    server_.reset();
  }

  // Runs f on the server's loop and returns its result.
  template <class F>
  auto OnLoop(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  size_t ClientCount() {
    return OnLoop([&] { return server_->client_count(); });
  }

  // Polls until the server counts `n` clients (disconnects are noticed asynchronously).
  bool WaitForClientCount(size_t n) {
    for (int i = 0; i < 200; ++i) {
      if (ClientCount() == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::unique_ptr<ControlClient> MustConnect(std::string token = "", std::string password = "") {
    auto client = ControlClient::Connect("127.0.0.1", port_, token, password);
    EXPECT_TRUE(client.ok()) << client.error().message;
    return client.ok() ? std::move(client).value() : nullptr;
  }

  void AddTestMethods() {
    server_->AddMethod("echo", [](const ClientInfo&, json::value params) -> asio::awaitable<Result<json::value>> {
      co_return params;
    });
    server_->AddMethod("fail", [](const ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
      co_return MakeError(ErrorCode::kNotFound, "no such thing", json::object{{"path", "params.x"}});
    });
    server_->AddMethod("whoami", [](const ClientInfo& info, json::value) -> asio::awaitable<Result<json::value>> {
      co_return json::value(json::object{{"id", info.id}, {"name", info.name}, {"remote", info.remote}});
    });
    server_->AddMethod("sleep", [](const ClientInfo&, json::value params) -> asio::awaitable<Result<json::value>> {
      asio::steady_timer timer(co_await asio::this_coro::executor,
                               std::chrono::milliseconds(params.at("ms").to_number<int64_t>()));
      co_await timer.async_wait(asio::use_awaitable);
      co_return params;
    });
    server_->AddMethod("throw", [](const ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
      throw std::runtime_error("boom");
      co_return nullptr;
    });
  }

  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// ---- connect and auth ------------------------------------------------------------------------

TEST_F(ControlServerTest, ConnectWithRightTokenGetsHello) {
  ControlSettings s;
  s.auth_token = "s3cret";
  StartServer(s);
  auto client = MustConnect("s3cret");
  ASSERT_TRUE(client);
  const json::object& hello = Obj(client->hello());
  EXPECT_EQ(hello.at("protocol").as_int64(), 1);
  EXPECT_EQ(hello.at("server").at("version").as_string(), OPENCLAWOS_KERNEL_VERSION);
  const json::array& methods = hello.at("methods").as_array();
  EXPECT_EQ(methods, (json::array{"echo", "fail", "sleep", "throw", "whoami"}));
  EXPECT_EQ(ClientCount(), 1u);
  auto who = client->Call("whoami", json::object{});
  ASSERT_TRUE(who.ok()) << who.error().message;
  EXPECT_EQ(who->at("name").as_string(), "openclaw-cli");
  EXPECT_EQ(who->at("remote").as_string().subview().substr(0, 10), "127.0.0.1:");
}

TEST_F(ControlServerTest, ConnectWithRightPassword) {
  ControlSettings s;
  s.auth_password = "hunter2";
  StartServer(s);
  auto client = MustConnect("", "hunter2");
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->Call("echo", json::object{}).ok());
}

TEST_F(ControlServerTest, EitherCredentialWorksWhenBothConfigured) {
  ControlSettings s;
  s.auth_token = "tok";
  s.auth_password = "pw";
  StartServer(s);
  EXPECT_TRUE(ControlClient::Connect("127.0.0.1", port_, "tok", "").ok());
  EXPECT_TRUE(ControlClient::Connect("127.0.0.1", port_, "", "pw").ok());
  auto swapped = ControlClient::Connect("127.0.0.1", port_, "pw", "tok");
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error().code, ErrorCode::kUnauthorized);
}

TEST_F(ControlServerTest, WrongTokenIsUnauthorized) {
  ControlSettings s;
  s.auth_token = "s3cret";
  StartServer(s);
  for (const char* wrong : {"s3cre", "s3cret!", "", "S3CRET"}) {
    auto client = ControlClient::Connect("127.0.0.1", port_, wrong, "");
    ASSERT_FALSE(client.ok()) << wrong;
    EXPECT_EQ(client.error().code, ErrorCode::kUnauthorized) << wrong;
  }
  EXPECT_EQ(ClientCount(), 0u);
}

TEST_F(ControlServerTest, WrongPasswordIsUnauthorized) {
  ControlSettings s;
  s.auth_password = "hunter2";
  StartServer(s);
  auto client = ControlClient::Connect("127.0.0.1", port_, "hunter2", "hunter3");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kUnauthorized);
}

TEST_F(ControlServerTest, WrongCredentialsGetErrorFrameThenClose) {
  ControlSettings s;
  s.auth_token = "s3cret";
  StartServer(s);
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  auto answer = ws.Handshake(json::object{{"token", "nope"}});
  ASSERT_TRUE(answer.frame);
  const json::object& res = Obj(*answer.frame);
  EXPECT_EQ(res.at("type"), "res");
  EXPECT_EQ(res.at("id"), "hello");
  EXPECT_EQ(res.at("ok"), false);
  EXPECT_EQ(res.at("error").at("code"), "UNAUTHORIZED");
  auto next = ws.Read();
  EXPECT_TRUE(next.closed);
  EXPECT_FALSE(next.timed_out);
}

TEST_F(ControlServerTest, NoAuthConfiguredAcceptsAnyCredentials) {
  StartServer();
  EXPECT_TRUE(ControlClient::Connect("127.0.0.1", port_, "", "").ok());
  EXPECT_TRUE(ControlClient::Connect("127.0.0.1", port_, "whatever", "").ok());
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  auto answer = ws.Handshake({}, json::object{{"id", "webchat-ui"}});
  ASSERT_TRUE(answer.frame);
  EXPECT_EQ(answer.frame->at("ok"), true);
  ws.Send(R"({"type":"req","id":1,"method":"whoami"})");
  auto who = ws.Read();
  ASSERT_TRUE(who.frame);
  EXPECT_EQ(who.frame->at("payload").at("name"), "webchat-ui");
}

TEST_F(ControlServerTest, FirstFrameNotConnectIsRejectedAndClosed) {
  StartServer();
  for (const char* first : {R"({"type":"req","id":"x","method":"echo","params":{}})", "{oops"}) {
    RawWs ws;
    ASSERT_TRUE(ws.Connect(port_));
    ws.Send(first);
    auto answer = ws.Read();
    ASSERT_TRUE(answer.frame) << first;
    EXPECT_EQ(answer.frame->at("ok"), false);
    EXPECT_EQ(answer.frame->at("error").at("code"), "UNAUTHORIZED");
    EXPECT_TRUE(ws.Read().closed) << first;
  }
  EXPECT_EQ(ClientCount(), 0u);
}

TEST_F(ControlServerTest, SilentClientIsClosedAfterHandshakeTimeout) {
  ControlSettings s;
  s.handshake_timeout = 300ms;
  StartServer(s);
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  auto answer = ws.Read(3s);
  EXPECT_TRUE(answer.closed);
  EXPECT_FALSE(answer.timed_out);
}

TEST_F(ControlServerTest, ConnectToClosedPortIsNotReachable) {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = probe.local_endpoint().port();
  probe.close();
  auto client = ControlClient::Connect("127.0.0.1", port, "", "", 2s);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kConnectionClosed);
  EXPECT_NE(client.error().message.find("not reachable at 127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST_F(ControlServerTest, ConnectToMuteServerTimesOut) {
  asio::io_context io;
  // Listening but never accepting: the kernel completes TCP, nobody answers the upgrade.
  tcp::acceptor mute(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto started = std::chrono::steady_clock::now();
  auto client = ControlClient::Connect("127.0.0.1", mute.local_endpoint().port(), "", "", 300ms);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

// ---- requests --------------------------------------------------------------------------------

TEST_F(ControlServerTest, MethodCallsReturnPayloadOrError) {
  StartServer();
  auto client = MustConnect();
  ASSERT_TRUE(client);
  auto echo = client->Call("echo", json::object{{"x", 1}, {"s", "two"}});
  ASSERT_TRUE(echo.ok()) << echo.error().message;
  EXPECT_EQ(*echo, (json::object{{"x", 1}, {"s", "two"}}));

  auto fail = client->Call("fail", json::object{});
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(fail.error().message, "no such thing");
  EXPECT_EQ(fail.error().data, (json::object{{"path", "params.x"}}));

  auto unknown = client->Call("nope.nothing", json::object{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kMethodNotFound);

  auto thrown = client->Call("throw", json::object{});
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().code, ErrorCode::kInternalError);

  auto again = client->Call("connect", json::object{});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(ControlServerTest, MethodsCanBeAddedAndRemovedWhileRunning) {
  StartServer();
  auto client = MustConnect();
  ASSERT_TRUE(client);
  OnLoop([&] {
    server_->AddMethod("late", [](const ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
      co_return json::value("here");
    });
  });
  auto late = client->Call("late", json::object{});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(*late, "here");
  OnLoop([&] { server_->RemoveMethod("late"); });
  auto gone = client->Call("late", json::object{});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kMethodNotFound);
}

TEST_F(ControlServerTest, MalformedFramesGetInvalidRequestAndConnectionSurvives) {
  StartServer();
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  ASSERT_TRUE(ws.Handshake({}).frame);

  ws.Send("{this is not json");
  auto bad = ws.Read();
  ASSERT_TRUE(bad.frame);
  EXPECT_TRUE(bad.frame->at("id").is_null());
  EXPECT_EQ(bad.frame->at("error").at("code"), "INVALID_REQUEST");

  ws.Send(R"({"type":"req","id":7})");  // no method: the id is still echoed
  auto no_method = ws.Read();
  ASSERT_TRUE(no_method.frame);
  EXPECT_EQ(no_method.frame->at("id"), 7);
  EXPECT_EQ(no_method.frame->at("error").at("code"), "INVALID_REQUEST");

  ws.Send(R"([1,2,3])");
  auto not_object = ws.Read();
  ASSERT_TRUE(not_object.frame);
  EXPECT_EQ(not_object.frame->at("error").at("code"), "INVALID_REQUEST");

  ws.Send(R"({"type":"req","id":8,"method":"echo","params":{"still":"alive"}})");
  auto ok = ws.Read();
  ASSERT_TRUE(ok.frame);
  EXPECT_EQ(ok.frame->at("id"), 8);
  EXPECT_EQ(ok.frame->at("ok"), true);
  EXPECT_EQ(ok.frame->at("payload").at("still"), "alive");
}

TEST_F(ControlServerTest, ConcurrentRequestsAnswerOutOfOrder) {
  StartServer();
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  ASSERT_TRUE(ws.Handshake({}).frame);
  ws.Send(R"({"type":"req","id":"slow","method":"sleep","params":{"ms":300}})");
  ws.Send(R"({"type":"req","id":"fast","method":"echo","params":{}})");
  auto first = ws.Read();
  auto second = ws.Read();
  ASSERT_TRUE(first.frame);
  ASSERT_TRUE(second.frame);
  EXPECT_EQ(first.frame->at("id"), "fast");
  EXPECT_EQ(second.frame->at("id"), "slow");
  EXPECT_EQ(second.frame->at("payload").at("ms"), 300);
}

TEST_F(ControlServerTest, CallTimeoutKeepsConnectionUsable) {
  StartServer();
  auto client = MustConnect();
  ASSERT_TRUE(client);
  auto slow = client->Call("sleep", json::object{{"ms", 600}}, 100ms);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
  auto echo = client->Call("echo", json::object{{"n", 1}});  // the late "sleep" answer is skipped
  ASSERT_TRUE(echo.ok()) << echo.error().message;
  EXPECT_EQ(echo->at("n"), 1);
  auto after = client->Call("sleep", json::object{{"ms", 700}}, 2s);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->at("ms"), 700);
}

// ---- events and backpressure -----------------------------------------------------------------

TEST_F(ControlServerTest, BroadcastReachesEveryClientWithIncreasingSeq) {
  StartServer();
  auto a = MustConnect();
  auto b = MustConnect();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(ClientCount(), 2u);
  OnLoop([&] {
    server_->Broadcast("tick", json::object{{"n", 1}});
    server_->Broadcast("tick", json::object{{"n", 2}});
  });
  for (auto* client : {a.get(), b.get()}) {
    auto first = NextEvent(*client, 2s);
    auto second = NextEvent(*client, 2s);
    ASSERT_TRUE(first.ok() && first->has_value());
    ASSERT_TRUE(second.ok() && second->has_value());
    const json::value& e1 = **first;
    const json::value& e2 = **second;
    EXPECT_EQ(e1.at("type"), "event");
    EXPECT_EQ(e1.at("event"), "tick");
    EXPECT_EQ(e1.at("payload").at("n"), 1);
    EXPECT_EQ(e2.at("payload").at("n"), 2);
    EXPECT_EQ(e2.at("seq").to_number<int64_t>(), e1.at("seq").to_number<int64_t>() + 1);
    auto none = NextEvent(*client, 50ms);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
  }
}

TEST_F(ControlServerTest, EventsArrivingDuringACallAreKept) {
  StartServer();
  auto client = MustConnect();
  ASSERT_TRUE(client);
  OnLoop([&] { server_->Broadcast("note", json::object{{"k", "v"}}); });
  ASSERT_TRUE(client->Call("echo", json::object{}).ok());
  auto event = NextEvent(*client, 0ms);
  ASSERT_TRUE(event.ok() && event->has_value());
  EXPECT_EQ((*event)->at("event"), "note");
}

TEST_F(ControlServerTest, OversizeFrameClosesOnlyThatClient) {
  ControlSettings s;
  s.max_ws_frame_bytes = 4096;
  StartServer(s);
  auto big = MustConnect();
  auto other = MustConnect();
  ASSERT_TRUE(big && other);
  auto r = big->Call("echo", json::object{{"blob", std::string(10000, 'x')}}, 3s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  EXPECT_TRUE(WaitForClientCount(1));
  auto fine = other->Call("echo", json::object{{"blob", std::string(1000, 'y')}});
  EXPECT_TRUE(fine.ok());
}

TEST_F(ControlServerTest, ClientThatNeverReadsIsDroppedWhenItsQueueOverflows) {
  ControlSettings s;
  s.max_send_queue = 8;
  StartServer(s);
  auto slow = MustConnect();  // never reads: its socket buffers fill, then its queue
  auto fast = MustConnect();
  ASSERT_TRUE(slow && fast);
  const std::string blob(128 * 1024, 'z');
  bool dropped = false;
  for (int i = 0; i < 2000 && !dropped; ++i) {
    OnLoop([&] { server_->Broadcast("blob", json::object{{"i", i}, {"data", blob}}); });
    auto event = NextEvent(*fast, 5s);
    ASSERT_TRUE(event.ok()) << event.error().message;
    ASSERT_TRUE(event->has_value());
    ASSERT_EQ((*event)->at("payload").at("i"), i);
    dropped = ClientCount() == 1;
  }
  ASSERT_TRUE(dropped);
  auto still = fast->Call("echo", json::object{{"ok", true}});
  EXPECT_TRUE(still.ok());
  auto gone = slow->Call("echo", json::object{}, 10s);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kConnectionClosed);
}

TEST_F(ControlServerTest, StopClosesEveryConnection) {
  StartServer();
  auto client = MustConnect();
  ASSERT_TRUE(client);
  OnLoop([&] { server_->Stop(); });
  EXPECT_EQ(ClientCount(), 0u);
  auto r = client->Call("echo", json::object{}, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionClosed);
  auto next = NextEvent(*client, 100ms);
  EXPECT_FALSE(next.ok());
  EXPECT_FALSE(HttpGet("127.0.0.1", port_, "/health", 1s).ok());
}

// ---- listening -------------------------------------------------------------------------------

TEST_F(ControlServerTest, NonLoopbackWithoutAuthIsRefused) {
  for (const char* host : {"0.0.0.0", "::"}) {
    ControlSettings s;
    s.host = host;
    s.port = 0;
    ControlServer server(io_, s);
    Status st = server.Listen();
    ASSERT_FALSE(st.ok()) << host;
    EXPECT_EQ(st.error().code, ErrorCode::kForbidden);
    EXPECT_NE(st.error().message.find("gateway.auth.token"), std::string::npos);
  }
  ControlSettings s;
  s.host = "0.0.0.0";
  s.port = 0;
  s.auth_token = "tok";
  ControlServer with_auth(io_, s);
  EXPECT_TRUE(with_auth.Listen().ok());
  EXPECT_NE(with_auth.port(), 0);
  with_auth.Stop();
}

TEST_F(ControlServerTest, ListenReportsBadAddressAndPortInUse) {
  ControlSettings bad;
  bad.host = "not-an-address";
  ControlServer bad_server(io_, bad);
  Status st = bad_server.Listen();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidParams);

  ControlSettings first;
  first.port = 0;
  ControlServer a(io_, first);
  ASSERT_TRUE(a.Listen().ok());
  ControlSettings second;
  second.host = "localhost";
  second.port = a.port();
  ControlServer b(io_, second);
  Status in_use = b.Listen();
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.error().code, ErrorCode::kConflict);
  EXPECT_EQ(a.Listen().error().code, ErrorCode::kConflict);  // only once
}

// ---- HTTP ------------------------------------------------------------------------------------

TEST_F(ControlServerTest, HealthAndNotFound) {
  StartServer();
  auto health = HttpGet("127.0.0.1", port_, "/health");
  ASSERT_TRUE(health.ok()) << health.error().message;
  EXPECT_EQ(health->first, 200);
  EXPECT_EQ(ParseJson(health->second).value(), (json::object{{"ok", true}}));

  auto with_query = HttpGet("127.0.0.1", port_, "/health?verbose=1");
  ASSERT_TRUE(with_query.ok());
  EXPECT_EQ(with_query->first, 200);

  auto missing = HttpGet("127.0.0.1", port_, "/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->first, 404);
  EXPECT_EQ(ParseJson(missing->second)->at("error").at("code"), "NOT_FOUND");

  auto plain_ws = HttpGet("127.0.0.1", port_, "/ws");
  ASSERT_TRUE(plain_ws.ok());
  EXPECT_EQ(plain_ws->first, 426);
}

TEST_F(ControlServerTest, HttpBearerAuthAndLimits) {
  ControlSettings s;
  s.auth_token = "tok";
  s.max_body_bytes = 1024;
  StartServer(s);
  auto status_of = [&](const std::string& request) { return RawHttp(port_, request).substr(0, 12); };
  const std::string get = "GET /private HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  EXPECT_EQ(status_of(get + "\r\n"), "HTTP/1.1 401");
  EXPECT_EQ(status_of(get + "Authorization: Bearer wrong\r\n\r\n"), "HTTP/1.1 401");
  EXPECT_EQ(status_of(get + "Authorization: Bearer tok\r\n\r\n"), "HTTP/1.1 200");
  EXPECT_EQ(status_of(get + "authorization: bearer tok\r\n\r\n"), "HTTP/1.1 200");
  // /health stays public even with auth configured.
  EXPECT_EQ(status_of("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), "HTTP/1.1 200");
  EXPECT_EQ(status_of("POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 405");
  EXPECT_EQ(status_of("POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n"), "HTTP/1.1 413");
  EXPECT_EQ(status_of("NONSENSE\r\n\r\n"), "HTTP/1.1 400");
}

TEST_F(ControlServerTest, HttpKeepAliveServesSeveralRequests) {
  StartServer();
  const std::string one = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string last = "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string all = RawHttp(port_, one + one + last);
  size_t oks = 0;
  for (size_t pos = all.find("HTTP/1.1 200"); pos != std::string::npos; pos = all.find("HTTP/1.1 200", pos + 1)) ++oks;
  EXPECT_EQ(oks, 2u);
  EXPECT_NE(all.find("HTTP/1.1 404"), std::string::npos);
}

// ---- HTTP routes, streaming, CORS, rate limits, presence -------------------------------------

TEST_F(ControlServerTest, RoutesSeeMethodBodyQueryHeadersAndPickTheLongestPrefix) {
  ControlSettings s;
  s.auth_token = "tok";
  StartServer(s);
  auto echo = [](std::string tag) {
    return [tag](const HttpRequest& r, HttpResponder&) -> asio::awaitable<HttpResponse> {
      json::object o{{"tag", tag}, {"method", r.method}, {"path", r.path}, {"query", r.query},
                     {"body", r.body}, {"x", r.Header("x-thing")}, {"auth", r.authenticated}};
      co_return HttpResponse::Json(201, o);
    };
  };
  OnLoop([&] {
    server_->AddHttpRoute("/v1/things", echo("exact"), HttpAccess::kPublic);
    server_->AddHttpRoute("/apps/", echo("apps"), HttpAccess::kPublic, RouteMatch::kPrefix);
    server_->AddHttpRoute("/apps/notes/", echo("notes"), HttpAccess::kAuthenticated, RouteMatch::kPrefix);
  });
  auto body_of = [](const std::string& response) { return ParseJson(response.substr(response.find("\r\n\r\n") + 4)).value(); };
  std::string r = RawHttp(port_, "POST /v1/things?a=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Thing: yes\r\nContent-Length: 5\r\n"
                                 "Connection: close\r\n\r\nhello");
  ASSERT_EQ(r.substr(0, 12), "HTTP/1.1 201") << r;
  json::value b = body_of(r);
  EXPECT_EQ(b.at("tag"), "exact");
  EXPECT_EQ(b.at("method"), "POST");
  EXPECT_EQ(b.at("path"), "/v1/things");
  EXPECT_EQ(b.at("query"), "a=1");
  EXPECT_EQ(b.at("body"), "hello");
  EXPECT_EQ(b.at("x"), "yes");
  EXPECT_EQ(b.at("auth"), false);
  EXPECT_EQ(body_of(RawHttp(port_, "GET /apps/other/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).at("tag"), "apps");
  // The longer prefix wins, and its access rule applies (bearer or the UI's cookie).
  EXPECT_EQ(RawHttp(port_, "GET /apps/notes/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").substr(0, 12), "HTTP/1.1 401");
  EXPECT_EQ(body_of(RawHttp(port_, "GET /apps/notes/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=b; openclaw_auth=tok\r\n"
                                   "Connection: close\r\n\r\n")).at("tag"), "notes");
  EXPECT_EQ(body_of(RawHttp(port_, "GET /apps/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok\r\n"
                                   "Connection: close\r\n\r\n")).at("tag"), "notes");
  EXPECT_EQ(RawHttp(port_, "GET /apps/notes/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: openclaw_auth=nope\r\n"
                           "Connection: close\r\n\r\n").substr(0, 12), "HTTP/1.1 401");
  OnLoop([&] { server_->RemoveHttpRoute("/apps/notes/"); });
  EXPECT_EQ(body_of(RawHttp(port_, "GET /apps/notes/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).at("tag"), "apps");
}

TEST_F(ControlServerTest, StreamedAnswerIsChunkedAndEnds) {
  StartServer();
  OnLoop([&] {
    server_->AddHttpRoute("/sse", [](const HttpRequest&, HttpResponder& out) -> asio::awaitable<HttpResponse> {
      HttpResponse head;
      head.content_type = "text/event-stream";
      if (!co_await out.Begin(head)) co_return HttpResponse{};
      for (int i = 0; i < 3; ++i) {
        std::string chunk = "data: " + std::to_string(i) + "\n\n";
        if (!co_await out.Write(std::move(chunk))) break;
      }
      co_return HttpResponse{};
    }, HttpAccess::kPublic);
  });
  std::string r = RawHttp(port_, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_EQ(r.substr(0, 12), "HTTP/1.1 200") << r;
  EXPECT_NE(r.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(r.find("9\r\ndata: 0\n\n\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("data: 2\n\n"), std::string::npos);
  EXPECT_NE(r.find("\r\n0\r\n\r\n"), std::string::npos) << "the last chunk ends the body";
}

TEST_F(ControlServerTest, HandlerExceptionIs500AndNonGetOnGetRouteIs405) {
  StartServer();
  OnLoop([&] {
    server_->AddHttpRoute("/boom", [](const HttpRequest&, HttpResponder&) -> asio::awaitable<HttpResponse> {
      throw std::runtime_error("boom");
      co_return HttpResponse{};
    }, HttpAccess::kPublic);
  });
  EXPECT_EQ(RawHttp(port_, "GET /boom HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").substr(0, 12), "HTTP/1.1 500");
  std::string r = RawHttp(port_, "DELETE /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 405");
  EXPECT_NE(r.find("Allow: GET"), std::string::npos);
}

TEST_F(ControlServerTest, CorsPreflightAndCrossOriginWrites) {
  ControlSettings s;
  s.cors_origins = {"https://allowed.example"};
  StartServer(s);
  OnLoop([&] {
    server_->AddHttpRoute("/post", [](const HttpRequest&, HttpResponder&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, json::object{{"ok", true}});
    }, HttpAccess::kPublic);
  });
  const std::string preflight = "OPTIONS /post HTTP/1.1\r\nHost: 127.0.0.1\r\nAccess-Control-Request-Method: POST\r\n"
                                "Connection: close\r\nOrigin: ";
  std::string ok = RawHttp(port_, preflight + "https://allowed.example\r\n\r\n");
  EXPECT_EQ(ok.substr(0, 12), "HTTP/1.1 204") << ok;
  EXPECT_NE(ok.find("Access-Control-Allow-Origin: https://allowed.example"), std::string::npos);
  EXPECT_NE(ok.find("Authorization"), std::string::npos);
  EXPECT_EQ(RawHttp(port_, preflight + "https://evil.example\r\n\r\n").substr(0, 12), "HTTP/1.1 403");
  const std::string post = "POST /post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                           "Connection: close\r\nOrigin: ";
  std::string allowed = RawHttp(port_, post + "https://allowed.example\r\n\r\nhi");
  EXPECT_EQ(allowed.substr(0, 12), "HTTP/1.1 200");
  EXPECT_NE(allowed.find("Access-Control-Allow-Origin: https://allowed.example"), std::string::npos);
  // A "simple" cross-site POST needs no preflight in a browser: refused outright.
  EXPECT_EQ(RawHttp(port_, post + "https://evil.example\r\n\r\nhi").substr(0, 12), "HTTP/1.1 403");
  // The gateway's own pages may post.
  EXPECT_EQ(RawHttp(port_, post + "http://127.0.0.1:" + std::to_string(port_) + "\r\n\r\nhi").substr(0, 12),
            "HTTP/1.1 200");
}

TEST_F(ControlServerTest, RateLimitAnswers429WithRetryAfterThenRecovers) {
  ControlSettings s;
  s.rate_limit_max_requests = 3;
  s.rate_limit_window = 1s;
  StartServer(s);
  const std::string get = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(RawHttp(port_, get).substr(0, 12), "HTTP/1.1 200");
  std::string limited = RawHttp(port_, get);
  EXPECT_EQ(limited.substr(0, 12), "HTTP/1.1 429");
  EXPECT_NE(limited.find("Retry-After: 1"), std::string::npos) << limited;
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(RawHttp(port_, get).substr(0, 12), "HTTP/1.1 200");
  // WebSocket requests count too: the upgrade above took one, the calls take the rest.
  auto client = MustConnect();
  ASSERT_TRUE(client);
  Result<json::value> last = json::value();
  for (int i = 0; i < 4 && last.ok(); ++i) last = client->Call("echo", json::object{});
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, ErrorCode::kForbidden);
  EXPECT_GT(last.error().data.at("retryAfterMs").to_number<int64_t>(), 0);
}

TEST_F(ControlServerTest, TooManyRequestsInFlightAreRefusedAtOnce) {
  ControlSettings s;
  s.max_in_flight = 4;
  StartServer(s);
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  ASSERT_TRUE(ws.Handshake(json::object{}).frame);
  for (int i = 0; i < 5; ++i)
    ws.Send(R"({"type":"req","id":)" + std::to_string(i) + R"(,"method":"sleep","params":{"ms":300}})");
  auto first = ws.Read();  // the fifth, refused before the sleepers answer
  ASSERT_TRUE(first.frame);
  EXPECT_EQ(first.frame->at("id"), 4);
  EXPECT_EQ(first.frame->at("error").at("code"), "FORBIDDEN");
  for (int i = 0; i < 4; ++i) {
    auto r = ws.Read();
    ASSERT_TRUE(r.frame);
    EXPECT_EQ(r.frame->at("ok"), true);
  }
  ws.Send(R"({"type":"req","id":"after","method":"echo"})");
  auto after = ws.Read();
  ASSERT_TRUE(after.frame);
  EXPECT_EQ(after.frame->at("ok"), true) << "the count went back down";
}

TEST_F(ControlServerTest, ForeignHostIsRefusedWithoutAuthButHeadAndEmptyStatusesAreClean) {
  StartServer();
  // DNS rebinding: evil.example resolving to 127.0.0.1 must not read our GET routes.
  std::string rebound = RawHttp(port_, "GET /health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(rebound.substr(0, 12), "HTTP/1.1 421") << rebound;
  EXPECT_EQ(RawHttp(port_, "GET /health HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n").substr(0, 12),
            "HTTP/1.1 200");
  EXPECT_EQ(RawHttp(port_, "GET /health HTTP/1.1\r\nHost: [::1]:5\r\nConnection: close\r\n\r\n").substr(0, 12),
            "HTTP/1.1 200");
  OnLoop([&] {
    server_->AddHttpRoute("/empty", [](const HttpRequest&, HttpResponder&) -> asio::awaitable<HttpResponse> {
      HttpResponse r;
      r.status = 304;
      r.body = "must not be sent";
      co_return r;
    }, HttpAccess::kPublic);
  });
  std::string not_modified = RawHttp(port_, "GET /empty HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(not_modified.substr(0, 12), "HTTP/1.1 304");
  EXPECT_EQ(not_modified.find("must not"), std::string::npos);
  EXPECT_EQ(not_modified.find("Content-Length"), std::string::npos);
  // HEAD: the length of the body, no body, and the connection stays in sync for the next request.
  std::string both = RawHttp(port_, "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(both.find("Content-Length: 11\r\n"), std::string::npos) << both;
  EXPECT_EQ(both.find("{\"ok\":true}"), both.rfind("{\"ok\":true}")) << "one body only: " << both;
  EXPECT_NE(both.find("HTTP/1.1 200", 10), std::string::npos);
}

TEST_F(ControlServerTest, AuthCookieIsSetHttpOnlyOnlyForValidBearer) {
  ControlSettings s;
  s.auth_token = "t/k n";
  StartServer(s);
  const std::string post = "POST /auth/cookie HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n";
  EXPECT_EQ(RawHttp(port_, post + "\r\n").substr(0, 12), "HTTP/1.1 401");
  EXPECT_EQ(RawHttp(port_, post + "Authorization: Bearer nope\r\n\r\n").substr(0, 12), "HTTP/1.1 401");
  std::string ok = RawHttp(port_, post + "Authorization: Bearer t/k n\r\n\r\n");
  ASSERT_EQ(ok.substr(0, 12), "HTTP/1.1 204") << ok;
  EXPECT_NE(ok.find("Set-Cookie: openclaw_auth=t%2Fk%20n; HttpOnly; SameSite=Strict; Path=/"), std::string::npos) << ok;
  // The cookie it set is accepted as a credential.
  std::string with_cookie = RawHttp(port_, "GET /private HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: openclaw_auth=t%2Fk%20n\r\n"
                                           "Connection: close\r\n\r\n");
  EXPECT_EQ(with_cookie.substr(0, 12), "HTTP/1.1 200");
  std::string cleared = RawHttp(port_, "DELETE /auth/cookie HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(cleared.substr(0, 12), "HTTP/1.1 204");
  EXPECT_NE(cleared.find("openclaw_auth=; Max-Age=0"), std::string::npos);
}

TEST_F(ControlServerTest, AcknowledgeSendsAnInterimResponseWithTheSameId) {
  StartServer();
  OnLoop([&] {
    server_->AddMethod("twostep", [](const ClientInfo& info, json::value) -> asio::awaitable<Result<json::value>> {
      info.acknowledge(json::object{{"status", "accepted"}});
      co_return json::value(json::object{{"status", "done"}});
    });
  });
  RawWs ws;
  ASSERT_TRUE(ws.Connect(port_));
  ASSERT_TRUE(ws.Handshake(json::object{}).frame);
  ws.Send(R"({"type":"req","id":"r1","method":"twostep"})");
  auto first = ws.Read();
  auto second = ws.Read();
  ASSERT_TRUE(first.frame && second.frame);
  EXPECT_EQ(first.frame->at("id"), "r1");
  EXPECT_EQ(first.frame->at("payload").at("status"), "accepted");
  EXPECT_EQ(second.frame->at("id"), "r1");
  EXPECT_EQ(second.frame->at("payload").at("status"), "done");
}

TEST_F(ControlServerTest, PresenceIsBroadcastWhenClientsComeAndGo) {
  StartServer();
  auto watcher = MustConnect();
  ASSERT_TRUE(watcher);
  auto presence_count = [&](size_t want) {
    for (int i = 0; i < 20; ++i) {
      auto e = watcher->NextEvent(500ms);
      if (!e.ok() || !e->has_value()) continue;
      if ((**e).at("event") == "presence" && (**e).at("payload").at("clients").as_array().size() == want) return true;
    }
    return false;
  };
  EXPECT_TRUE(presence_count(1));
  {
    auto other = MustConnect();
    ASSERT_TRUE(other);
    EXPECT_TRUE(presence_count(2));
    json::value list = OnLoop([&] { return server_->Presence(); });
    ASSERT_EQ(list.as_array().size(), 2u);
    EXPECT_EQ(list.as_array()[1].at("name"), "openclaw-cli");
  }
  EXPECT_TRUE(presence_count(1));
}

TEST_F(ControlServerTest, TickEventsArriveAtTheInterval) {
  ControlSettings s;
  s.tick_interval = 50ms;
  StartServer(s);
  auto client = MustConnect();
  ASSERT_TRUE(client);
  auto e = NextEvent(*client, 2s);
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((**e).at("event"), "tick");
  EXPECT_GT((**e).at("payload").at("ts").to_number<int64_t>(), 0);
}

// ---- redaction (common/redact.h) -------------------------------------------------------------

TEST_F(ControlServerTest, SecretValuesNeverLeaveInAnswersErrorsEventsOrHttpBodies) {
  ClearSecretsForTesting();
  ASSERT_TRUE(AddSecretValue("tok-ABCDEF-123456"));
  ASSERT_TRUE(AddSecretValue("quote\"d-secret"));
  StartServer();
  OnLoop([&] {
    server_->AddMethod("leak", [](const ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
      co_return MakeError(ErrorCode::kInvalidParams, "bad value tok-ABCDEF-123456");
    });
    server_->AddHttpGet("/leak", [] { return json::value(json::object{{"v", "x quote\"d-secret y"}}); });
  });
  auto client = MustConnect();
  ASSERT_TRUE(client);
  auto echo = client->Call("echo", json::object{{"a", "tok-ABCDEF-123456"}, {"b", "quote\"d-secret!"}, {"c", "fine"}});
  ASSERT_TRUE(echo.ok()) << echo.error().message;
  EXPECT_EQ(*echo, (json::object{{"a", "[redacted]"}, {"b", "[redacted]!"}, {"c", "fine"}}));
  auto err = client->Call("leak", json::object{});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().message, "bad value [redacted]");
  OnLoop([&] { server_->Broadcast("chat", json::object{{"delta", "the token is tok-ABCDEF-123456."}}); });
  auto event = NextEvent(*client, 2s);
  ASSERT_TRUE(event.ok() && event->has_value());
  EXPECT_EQ((**event).at("payload").at("delta"), "the token is [redacted].");
  auto body = HttpGet("127.0.0.1", port_, "/leak");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(ParseJson(body->second).value(), (json::object{{"v", "x [redacted] y"}}));
  ClearSecretsForTesting();
}

}  // namespace
}  // namespace oc::gateway
