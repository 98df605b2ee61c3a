#include "openclawos/kernel_client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "fake_kernel_for_test.h"

namespace openclawos::sdk {
namespace {

namespace asio = boost::asio;
namespace json = oc::json;
using oc::ErrorCode;
using oc::Result;
using oc::protocol::Frame;
using oc::protocol::FrameType;
using testing::FakeKernel;
using namespace std::chrono_literals;

ClientOptions OptionsFor(const FakeKernel& kernel) {
  ClientOptions o;
  o.socket_path = kernel.socket_path();
  o.app_id = "test-app";
  o.spawn_token = "spawn-1";
  o.request_timeout = 3000ms;
  return o;
}

json::value TestManifest() { return json::object{{"id", "test-app"}, {"name", "Test"}, {"version", "1.0.0"}}; }

// Runs `body` as a coroutine on `io` until it ends (then stops the loop: background loops of the
// client would otherwise keep it running). Fails the test if it does not end within 20 s.
template <class MakeBody>
void RunTest(asio::io_context& io, MakeBody make_body) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, make_body(), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    io.stop();
  });
  io.run_for(20s);
  ASSERT_TRUE(done) << "test coroutine did not finish";
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Polls `done` every 10 ms for up to 5 s.
template <class Pred>
asio::awaitable<void> WaitUntil(Pred done) {
  for (int i = 0; i < 500 && !done(); ++i) co_await Sleep(10ms);
}

TEST(SdkReconnectDelay, DoublesFrom100msAndCapsAt2s) {
  EXPECT_EQ(ReconnectDelay(-1), 100ms);
  EXPECT_EQ(ReconnectDelay(0), 100ms);
  EXPECT_EQ(ReconnectDelay(1), 200ms);
  EXPECT_EQ(ReconnectDelay(2), 400ms);
  EXPECT_EQ(ReconnectDelay(3), 800ms);
  EXPECT_EQ(ReconnectDelay(4), 1600ms);
  EXPECT_EQ(ReconnectDelay(5), 2000ms);
  EXPECT_EQ(ReconnectDelay(1000), 2000ms);
}

TEST(SdkClientOptions, FilledFromEnvironmentAndSpecDefaults) {
  ::setenv("OPENCLAWOS_SOCKET", "/run/x/kernel.sock", 1);
  ::setenv("OPENCLAWOS_APP_ID", "env-app", 1);
  ::setenv("OPENCLAWOS_APP_TOKEN", "env-token", 1);
  ClientOptions from_env = ResolveClientOptions({});
  EXPECT_EQ(from_env.socket_path, "/run/x/kernel.sock");
  EXPECT_EQ(from_env.app_id, "env-app");
  EXPECT_EQ(from_env.spawn_token, "env-token");

  ClientOptions explicit_values;
  explicit_values.socket_path = "/explicit.sock";
  explicit_values.app_id = "mine";
  EXPECT_EQ(ResolveClientOptions(explicit_values).socket_path, "/explicit.sock");
  EXPECT_EQ(ResolveClientOptions(explicit_values).app_id, "mine");

  ::unsetenv("OPENCLAWOS_SOCKET");
  ::setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
  EXPECT_EQ(ResolveClientOptions({}).socket_path, "/run/user/42/openclawos/kernel.sock");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(ResolveClientOptions({}).socket_path,
            "/tmp/openclawos-" + std::to_string(::getuid()) + "/kernel.sock");
  ::unsetenv("OPENCLAWOS_APP_ID");
  ::unsetenv("OPENCLAWOS_APP_TOKEN");
}

TEST(SdkKernelClient, ConnectRegistersWithManifestAndSpawnToken) {
  FakeKernel kernel;
  std::optional<Frame> reg;
  std::thread peer([&] {
    if (!kernel.Accept()) return;
    reg = kernel.ExpectRequest("app.register");
    if (reg) kernel.Reply(*reg, FakeKernel::RegisterResult());
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  EXPECT_FALSE(client.connected());
  RunTest(io, [&]() -> asio::awaitable<void> {
    Result<json::value> result = co_await client.Connect(TestManifest());
    EXPECT_TRUE(result.ok());
    if (result.ok()) {
      EXPECT_EQ(result->at("token").as_string(), "resume-1");
    }
    EXPECT_TRUE(client.connected());
    EXPECT_EQ(client.registration().at("appId").as_string(), "test-app");
    Result<json::value> again = co_await client.Connect(TestManifest());
    EXPECT_EQ(again.ok() ? ErrorCode::kUnknownError : again.error().code, ErrorCode::kConflict);
    client.Close();
    EXPECT_FALSE(client.connected());
  });
  peer.join();
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->params.at("manifest"), TestManifest());
  EXPECT_EQ(reg->params.at("spawnToken").as_string(), "spawn-1");
  EXPECT_FALSE(reg->params.as_object().contains("resumeToken"));
}

TEST(SdkKernelClient, ConnectFailsWhenNoKernelListens) {
  asio::io_context io;
  ClientOptions options;
  options.socket_path = "/nonexistent-dir/kernel.sock";
  KernelClient client(io, options);
  RunTest(io, [&]() -> asio::awaitable<void> {
    Result<json::value> result = co_await client.Connect(TestManifest());
    EXPECT_FALSE(result.ok());
    if (result.ok()) co_return;
    EXPECT_EQ(result.error().code, ErrorCode::kConnectionClosed);
    EXPECT_NE(result.error().message.find("/nonexistent-dir/kernel.sock"), std::string::npos);
    Result<json::value> request = co_await client.Request("app.heartbeat", json::object());
    EXPECT_FALSE(request.ok());
    if (request.ok()) co_return;
    EXPECT_EQ(request.error().code, ErrorCode::kConnectionClosed);
  });
}

TEST(SdkKernelClient, RefusedRegistrationReturnsKernelErrorAndCloses) {
  FakeKernel kernel;
  bool saw_eof = false;
  std::thread peer([&] {
    if (!kernel.Accept()) return;
    auto reg = kernel.ExpectRequest("app.register");
    if (!reg) return;
    kernel.ReplyError(*reg, oc::MakeError(ErrorCode::kForbidden, "manifest id differs"));
    saw_eof = kernel.WaitForEof();
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  RunTest(io, [&]() -> asio::awaitable<void> {
    Result<json::value> result = co_await client.Connect(TestManifest());
    EXPECT_FALSE(result.ok());
    if (result.ok()) co_return;
    EXPECT_EQ(result.error().code, ErrorCode::kForbidden);
    EXPECT_EQ(result.error().message, "manifest id differs");
    EXPECT_FALSE(client.connected());
    co_await Sleep(50ms);  // let the socket close reach the peer
  });
  peer.join();
  EXPECT_TRUE(saw_eof);
}

TEST(SdkKernelClient, ConcurrentRequestsAreCorrelatedWhateverTheAnswerOrder) {
  FakeKernel kernel;
  std::vector<std::string> order;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    std::vector<Frame> requests;
    for (int i = 0; i < 3; ++i) {
      auto f = kernel.ReadFrame();
      if (!f) return;
      order.push_back(f->method);
      requests.push_back(*f);
    }
    for (auto it = requests.rbegin(); it != requests.rend(); ++it)
      kernel.Reply(*it, json::object{{"echo", it->method}, {"n", it->params.at("n")}});
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  std::vector<std::string> answers(3);
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    auto one = [&](int n) -> asio::awaitable<void> {
      json::object params{{"n", n}};  // (braced lists stay out of co_await: g++ 12 bug)
      Result<json::value> r = co_await client.Request("m" + std::to_string(n), std::move(params));
      EXPECT_TRUE(r.ok());
      if (r.ok()) {
        EXPECT_EQ(r->at("n").as_int64(), n);
        answers[static_cast<size_t>(n)] = std::string(r->at("echo").as_string());
      }
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (one(0) && one(1) && one(2));
    client.Close();
  });
  peer.join();
  EXPECT_EQ(order, (std::vector<std::string>{"m0", "m1", "m2"}));
  EXPECT_EQ(answers, (std::vector<std::string>{"m0", "m1", "m2"}));
}

TEST(SdkKernelClient, LargeConcurrentWritesNeverInterleave) {
  FakeKernel kernel;
  constexpr int kRequests = 40;
  int intact = 0;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    for (int i = 0; i < kRequests; ++i) {
      auto f = kernel.ReadFrame();  // an interleaved write would make a line unparseable
      if (!f) return;
      const auto& blob = f->params.at("blob").as_string();
      char expected = static_cast<char>('a' + f->params.at("n").as_int64() % 26);
      if (blob.size() == 50000 && blob.find_first_not_of(expected) == json::string::npos) ++intact;
      kernel.Reply(*f, json::object{{"ok", true}});
    }
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  int succeeded = 0;
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    auto executor = co_await asio::this_coro::executor;
    int finished = 0;
    for (int n = 0; n < kRequests; ++n) {
      asio::co_spawn(
          executor,
          [&, n]() -> asio::awaitable<void> {
            json::object params{{"n", n}, {"blob", std::string(50000, static_cast<char>('a' + n % 26))}};
            Result<json::value> r = co_await client.Request("bulk", std::move(params));
            if (r.ok()) ++succeeded;
            ++finished;
          },
          asio::detached);
    }
    co_await WaitUntil([&] { return finished == kRequests; });
    client.Close();
  });
  peer.join();
  EXPECT_EQ(intact, kRequests);
  EXPECT_EQ(succeeded, kRequests);
}

TEST(SdkKernelClient, ErrorResponseKeepsCodeMessageAndData) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto f = kernel.ExpectRequest("hook.subscribe");
    if (f)
      kernel.ReplyError(*f, oc::MakeError(ErrorCode::kInvalidParams, "events must be an array",
                                          json::object{{"path", "params.events"}}));
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    json::object params{{"events", 1}};
    Result<json::value> r = co_await client.Request("hook.subscribe", std::move(params));
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
      EXPECT_EQ(r.error().message, "events must be an array");
      EXPECT_EQ(r.error().data.at("path").as_string(), "params.events");
    }
    client.Close();
  });
  peer.join();
}

TEST(SdkKernelClient, UnansweredRequestTimesOutAndOversizedFrameIsRefused) {
  FakeKernel kernel;
  std::optional<Frame> after;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto ignored = kernel.ExpectRequest("session.get");  // never answered
    after = kernel.ExpectRequest("after");              // the oversized frame was never sent
    if (after) kernel.Reply(*after, json::object{{"ok", true}});
  });
  asio::io_context io;
  ClientOptions options = OptionsFor(kernel);
  options.request_timeout = 150ms;
  options.max_frame_bytes = 1024;
  KernelClient client(io, options);
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    auto started = std::chrono::steady_clock::now();
    json::object params{{"key", "k"}};
    Result<json::value> r = co_await client.Request("session.get", std::move(params));
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
    }
    EXPECT_GE(std::chrono::steady_clock::now() - started, 140ms);

    json::object big_params{{"x", std::string(2000, 'x')}};
    Result<json::value> big = co_await client.Request("big", std::move(big_params));
    EXPECT_FALSE(big.ok());
    if (!big.ok()) {
      EXPECT_EQ(big.error().code, ErrorCode::kInvalidRequest);
    }
    EXPECT_TRUE((co_await client.Request("after", json::object())).ok());
    client.Close();
  });
  peer.join();
  EXPECT_TRUE(after.has_value());
}

TEST(SdkKernelClient, ServesKernelRequestsThroughHandlers) {
  FakeKernel kernel;
  std::vector<std::optional<Frame>> responses;
  std::atomic<bool> peer_done{false};
  std::thread peer([&] {
    struct MarkDone {
      std::atomic<bool>& flag;
      ~MarkDone() { flag = true; }
    } mark{peer_done};
    if (!kernel.AcceptAndRegister()) return;
    std::string unknown = kernel.SendRequest("http.request", json::object{{"method", "GET"}, {"path", "/"}});
    responses.push_back(kernel.ExpectResponse(unknown));
    std::string invalid = kernel.SendRequest("tool.invoke", json::object{{"tool", 5}});
    responses.push_back(kernel.ExpectResponse(invalid));
    std::string ok = kernel.SendRequest(
        "tool.invoke", json::object{{"tool", "echo"}, {"input", "hi"}, {"context", json::object()}});
    responses.push_back(kernel.ExpectResponse(ok));
    std::string failing = kernel.SendRequest(
        "gateway.invoke", json::object{{"method", "x.fail"}, {"params", json::object()}});
    responses.push_back(kernel.ExpectResponse(failing));
    std::string throwing = kernel.SendRequest(
        "gateway.invoke", json::object{{"method", "x.throw"}, {"params", json::object()}});
    responses.push_back(kernel.ExpectResponse(throwing));
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  client.OnRequest("tool.invoke", [](json::value params) -> asio::awaitable<Result<json::value>> {
    co_return json::value(json::object{{"output", params.at("input")}});
  });
  client.OnRequest("gateway.invoke", [](json::value params) -> asio::awaitable<Result<json::value>> {
    if (params.at("method") == "x.throw") throw std::runtime_error("boom");
    co_return oc::MakeError(ErrorCode::kNotFound, "nothing here");
  });
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    co_await WaitUntil([&] { return peer_done.load(); });
    client.Close();
  });
  peer.join();
  ASSERT_EQ(responses.size(), 5u);
  for (const auto& r : responses) ASSERT_TRUE(r.has_value());
  EXPECT_EQ(responses[0]->error->code, ErrorCode::kMethodNotFound);
  EXPECT_EQ(responses[1]->error->code, ErrorCode::kInvalidParams);
  EXPECT_TRUE(responses[2]->success);
  EXPECT_EQ(responses[2]->result.at("output").as_string(), "hi");
  EXPECT_EQ(responses[3]->error->code, ErrorCode::kNotFound);
  EXPECT_EQ(responses[3]->error->message, "nothing here");
  EXPECT_EQ(responses[4]->error->code, ErrorCode::kInternalError);
}

TEST(SdkKernelClient, EventsReachEveryHandlerOfThatExactName) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    kernel.SendEvent("hook:agent_end", json::object{{"eventId", "e1"}});
    kernel.SendEvent("config:changed", json::object{{"path", "apps.x"}});
    kernel.SendEvent("hook:agent_end", json::object{{"eventId", "e2"}});
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  std::vector<std::string> first, second, config;
  client.OnEvent("hook:agent_end", [&](const json::value& p) { first.emplace_back(p.at("eventId").as_string()); });
  client.OnEvent("hook:agent_end", [&](const json::value& p) {
    second.emplace_back(p.at("eventId").as_string());
    throw std::runtime_error("a throwing handler does not stop the others");
  });
  client.OnEvent("config:changed", [&](const json::value& p) { config.emplace_back(p.at("path").as_string()); });
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    co_await WaitUntil([&] { return first.size() >= 2 && !config.empty(); });
    client.Close();
  });
  peer.join();
  EXPECT_EQ(first, (std::vector<std::string>{"e1", "e2"}));
  EXPECT_EQ(second, (std::vector<std::string>{"e1", "e2"}));
  EXPECT_EQ(config, (std::vector<std::string>{"apps.x"}));
}

TEST(SdkKernelClient, HeartbeatsFollowTheRegisteredInterval) {
  FakeKernel kernel;
  std::atomic<int> beats{0};
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister(/*heartbeat_ms=*/40)) return;
    while (beats < 3) {
      auto f = kernel.ReadFrame();
      if (!f || f->method != "app.heartbeat") return;
      ++beats;
      kernel.Reply(*f, json::object{{"ok", true}, {"serverTime", 1}});
    }
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    co_await WaitUntil([&] { return beats >= 3; });
    client.Close();
  });
  peer.join();
  EXPECT_EQ(beats, 3);
}

TEST(SdkKernelClient, ReconnectsWithResumeTokenAndRequestsWaitForIt) {
  FakeKernel kernel;
  std::optional<Frame> resume;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto dropped = kernel.ExpectRequest("session.get");  // in flight when the connection drops
    kernel.Disconnect();
    if (!kernel.Accept()) return;
    resume = kernel.ExpectRequest("app.register");
    if (!resume) return;
    kernel.Reply(*resume, FakeKernel::RegisterResult(60000, "resume-2"));
    auto later = kernel.ExpectRequest("session.list");
    if (later) kernel.Reply(*later, json::object{{"sessions", json::array()}, {"total", 0}});
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  bool lost_called = false;
  client.OnConnectionLost([&](const oc::Error&) { lost_called = true; });
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    json::object params{{"key", "k"}};
    Result<json::value> in_flight = co_await client.Request("session.get", std::move(params));
    EXPECT_FALSE(in_flight.ok());
    if (!in_flight.ok()) {
      EXPECT_EQ(in_flight.error().code, ErrorCode::kConnectionClosed);
    }
    // Sent while reconnecting: waits for the new registration, then goes out.
    Result<json::value> later = co_await client.Request("session.list", json::object());
    EXPECT_TRUE(later.ok());
    EXPECT_TRUE(client.connected());
    EXPECT_EQ(client.registration().at("token").as_string(), "resume-2");
    client.Close();
  });
  peer.join();
  ASSERT_TRUE(resume.has_value());
  EXPECT_EQ(resume->params.at("resumeToken").as_string(), "resume-1");
  EXPECT_EQ(resume->params.at("manifest"), TestManifest());
  EXPECT_FALSE(resume->params.as_object().contains("spawnToken"));
  EXPECT_FALSE(lost_called);
}

TEST(SdkKernelClient, RefusedResumeEndsTheClient) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    kernel.Disconnect();
    if (!kernel.Accept()) return;
    auto resume = kernel.ExpectRequest("app.register");
    if (resume) kernel.ReplyError(*resume, oc::MakeError(ErrorCode::kUnauthorized, "resume window over"));
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  std::optional<oc::Error> lost;
  client.OnConnectionLost([&](const oc::Error& e) { lost = e; });
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    co_await WaitUntil([&] { return lost.has_value(); });
    Result<json::value> r = co_await client.Request("session.list", json::object());
    EXPECT_FALSE(r.ok());
  });
  peer.join();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->code, ErrorCode::kUnauthorized);
  EXPECT_FALSE(client.connected());
}

TEST(SdkKernelClient, WithoutAutoReconnectADropEndsTheClient) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (kernel.AcceptAndRegister()) kernel.Disconnect();
  });
  asio::io_context io;
  ClientOptions options = OptionsFor(kernel);
  options.auto_reconnect = false;
  KernelClient client(io, options);
  std::optional<oc::Error> lost;
  client.OnConnectionLost([&](const oc::Error& e) { lost = e; });
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    co_await WaitUntil([&] { return lost.has_value(); });
  });
  peer.join();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->code, ErrorCode::kConnectionClosed);
  EXPECT_FALSE(client.connected());
}

TEST(SdkKernelClient, StreamsDeliverChunksUntilDoneAndCancelSendsStreamCancel) {
  FakeKernel kernel;
  std::optional<Frame> cancel;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto watch = kernel.ExpectRequest("config.watch");
    if (!watch) return;
    kernel.Reply(*watch, json::object{{"watching", true}});
    json::value rid(watch->id);
    kernel.Send(oc::protocol::MakeStream(rid, json::object{{"path", "a"}}, false));
    kernel.Send(oc::protocol::MakeStream(rid, json::object{{"path", "b"}}, true));
    kernel.Send(oc::protocol::MakeStream(rid, json::object{{"path", "after-done"}}, false));
    auto second = kernel.ExpectRequest("config.watch");
    if (!second) return;
    kernel.Send(oc::protocol::MakeStream(json::value(second->id), json::object{{"path", "c"}}, false));
    cancel = kernel.ExpectRequest("stream.cancel");
    if (!cancel) return;
    kernel.Reply(*cancel, json::object{{"ok", true}});
    kernel.Send(oc::protocol::MakeStream(json::value(second->id), json::object{{"path", "late"}}, false));
    auto third = kernel.ExpectRequest("config.watch");
    if (third) kernel.ReplyError(*third, oc::MakeError(ErrorCode::kForbidden, "no"));
  });
  asio::io_context io;
  KernelClient client(io, OptionsFor(kernel));
  std::vector<std::pair<std::string, bool>> chunks;
  auto collect = [&](const json::value& chunk, bool done) {
    chunks.emplace_back(std::string(chunk.at("path").as_string()), done);
  };
  std::string second_id;
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    Result<std::string> first = co_await client.Stream("config.watch", json::object(), collect);
    EXPECT_TRUE(first.ok());
    co_await WaitUntil([&] { return chunks.size() >= 2; });
    // Acknowledged by its first chunk (no response).
    Result<std::string> second = co_await client.Stream("config.watch", json::object(), collect);
    EXPECT_TRUE(second.ok());
    if (second.ok()) second_id = *second;
    co_await WaitUntil([&] { return chunks.size() >= 3; });
    EXPECT_TRUE((co_await client.CancelStream(second_id)).ok());
    Result<std::string> third = co_await client.Stream("config.watch", json::object(), collect);
    EXPECT_FALSE(third.ok());
    if (!third.ok()) {
      EXPECT_EQ(third.error().code, ErrorCode::kForbidden);
    }
    client.Close();
  });
  peer.join();
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(cancel->params.at("requestId").as_string(), second_id);
  std::vector<std::pair<std::string, bool>> expected{{"a", false}, {"b", true}, {"c", false}};
  EXPECT_EQ(chunks, expected);
}

TEST(SdkKernelClient, BadLinesFromTheKernelAreAnsweredAndSkipped) {
  FakeKernel kernel;
  std::optional<Frame> not_json, too_large, after;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto f = kernel.ExpectRequest("config.get");
    if (!f) return;
    kernel.SendRaw("this is not json\n");
    not_json = kernel.ReadFrame();
    kernel.SendRaw(std::string(3000, 'x') + "\n");
    too_large = kernel.ReadFrame();
    kernel.SendRaw(R"({"id":"r9","type":"response","timestamp":1})" "\n");  // malformed: only logged
    kernel.Reply(*f, json::object{{"value", 7}});
    after = kernel.ExpectRequest("after");  // proves nothing answered the malformed response
    if (after) kernel.Reply(*after, json::object());
  });
  asio::io_context io;
  ClientOptions options = OptionsFor(kernel);
  options.max_frame_bytes = 1024;
  KernelClient client(io, options);
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    Result<json::value> r = co_await client.Request("config.get", json::object());
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      EXPECT_EQ(r->at("value").as_int64(), 7);
    }
    EXPECT_TRUE((co_await client.Request("after", json::object())).ok());
    client.Close();
  });
  peer.join();
  ASSERT_TRUE(not_json && too_large && after);
  EXPECT_TRUE(not_json->request_id.is_null());
  EXPECT_EQ(not_json->error->code, ErrorCode::kInvalidRequest);
  EXPECT_NE(not_json->error->message.find("not JSON"), std::string::npos);
  EXPECT_TRUE(too_large->request_id.is_null());
  EXPECT_EQ(too_large->error->message, "frame too large (limit 1024 bytes)");
}

TEST(SdkKernelClient, ReconnectionStopsAfterTheResumeWindow) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (kernel.AcceptAndRegister()) kernel.Disconnect();
  });
  asio::io_context io;
  ClientOptions options = OptionsFor(kernel);
  options.resume_window = 300ms;
  KernelClient client(io, options);
  std::optional<oc::Error> lost;
  client.OnConnectionLost([&](const oc::Error& e) { lost = e; });
  auto started = std::chrono::steady_clock::now();
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client.Connect(TestManifest())).ok());
    peer.join();  // the fake kernel accepts no more connections: attempts are never answered
    co_await WaitUntil([&] { return lost.has_value(); });
  });
  if (peer.joinable()) peer.join();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->code, ErrorCode::kConnectionClosed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2000ms);  // attempts are bounded by the window
  EXPECT_NE(lost->message.find("could not resume"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
}

TEST(SdkKernelClient, DestroyingTheClientMidRequestIsSafe) {
  FakeKernel kernel;
  std::thread peer([&] {
    if (kernel.AcceptAndRegister()) kernel.WaitForEof();
  });
  asio::io_context io;
  auto client = std::make_unique<KernelClient>(io, OptionsFor(kernel));
  std::optional<Result<json::value>> answer;
  RunTest(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await client->Connect(TestManifest())).ok());
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> { answer = co_await client->Request("session.list", json::object()); },
        asio::detached);
    co_await Sleep(20ms);
    client.reset();
    co_await WaitUntil([&] { return answer.has_value(); });
  });
  peer.join();
  ASSERT_TRUE(answer.has_value());
  ASSERT_FALSE(answer->ok());
  EXPECT_EQ(answer->error().code, ErrorCode::kConnectionClosed);
}

}  // namespace
}  // namespace openclawos::sdk
