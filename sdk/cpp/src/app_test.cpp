// App and ChannelApp driven end to end by a scripted kernel on a real Unix socket: the app runs
// App::Run() on the test's main thread, the fake kernel plays its side from another thread.
#include "openclawos/app.h"

#include <gtest/gtest.h>

#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/base64.h"
#include "fake_kernel_for_test.h"
#include "openclawos/channel_app.h"

namespace openclawos::sdk {
namespace {

namespace asio = boost::asio;
namespace json = oc::json;
using oc::ErrorCode;
using oc::Result;
using oc::protocol::Frame;
using testing::FakeKernel;
using namespace std::chrono_literals;

// Writes a manifest next to the fake kernel's socket and points the SDK's environment at it.
std::string PrepareEnvironment(const FakeKernel& kernel) {
  std::string path = kernel.dir() + "/openclawos.manifest.json";
  std::ofstream(path) << R"({"id": "test-app", "name": "Test", "version": "1.0.0", "type": "app",
                            "main": "x", "protocol": {"version": "1.0"}, "capabilities": {}, // lenient
                            })";
  ::setenv("OPENCLAWOS_SOCKET", kernel.socket_path().c_str(), 1);
  ::setenv("OPENCLAWOS_APP_ID", "test-app", 1);
  ::setenv("OPENCLAWOS_APP_TOKEN", "spawn-1", 1);
  return path;
}

// Stops a stuck app instead of hanging the test run.
class WatchdogApp : public App {
 public:
  explicit WatchdogApp(std::string manifest_path) : App(std::move(manifest_path)), watchdog_(io()) {
    watchdog_.expires_after(15s);
    watchdog_.async_wait([this](boost::system::error_code ec) {
      if (!ec) RequestStop(99, "test watchdog");
    });
  }

 private:
  asio::steady_timer watchdog_;
};

class ProbeApp : public WatchdogApp {
 public:
  ProbeApp(std::string manifest_path, bool register_everything)
      : WatchdogApp(std::move(manifest_path)), register_everything_(register_everything) {}

  bool ready = false;
  bool torn_down = false;
  bool raise_sigterm_when_ready = false;
  std::chrono::milliseconds teardown_takes{0};
  std::string setup_error;
  std::vector<std::string> hooks_seen;

 protected:
  asio::awaitable<oc::Status> Setup() override {
    oc::Status s = co_await RegisterEverything();
    if (!s.ok()) setup_error = s.error().message;
    co_return s;
  }
  void OnReady() override {
    ready = true;
    if (raise_sigterm_when_ready) std::raise(SIGTERM);
  }
  asio::awaitable<void> Teardown() override {
    torn_down = true;
    if (teardown_takes.count() > 0) {
      asio::steady_timer slow(io(), teardown_takes);
      co_await slow.async_wait(asio::use_awaitable);
    }
  }

 private:
  asio::awaitable<oc::Status> RegisterEverything() {
    if (!register_everything_) co_return oc::Status();
    json::value schema = json::parse(R"({"type":"object","required":["text"],"properties":{"text":{"type":"string"}}})");
    oc::Status tool = co_await RegisterTool(
        "echo", "Echoes text", schema, [](json::value input, json::value) -> asio::awaitable<Result<json::value>> {
          if (input.at("text") == "fail") co_return oc::MakeError(ErrorCode::kInternalError, "asked to fail");
          co_return json::value(json::object{{"echo", input.at("text")}});
        });
    if (!tool.ok()) co_return tool;
    oc::Status method = co_await RegisterMethod(
        "probe.echo", [](json::value params) -> asio::awaitable<Result<json::value>> { co_return params; });
    if (!method.ok()) co_return method;
    std::vector<std::string> events{"agent_completed", "before_tool_call"};
    Result<json::value> subscribed = co_await Subscribe(
        std::move(events), [this](const json::value& payload) -> asio::awaitable<std::optional<json::value>> {
          hooks_seen.emplace_back(payload.at("hookName").as_string());
          const json::object& data = payload.at("data").as_object();
          if (data.contains("throw")) throw std::runtime_error("handler bug");
          if (const json::value* answer = data.if_contains("answer")) co_return *answer;
          co_return std::nullopt;
        });
    if (!subscribed.ok()) co_return subscribed.error();
    co_return oc::Status();
  }

  bool register_everything_;
};

json::value HookPayload(std::string event_id, std::string hook, json::object data, bool intercept) {
  json::object p{{"eventId", std::move(event_id)},
                 {"hookName", std::move(hook)},
                 {"data", std::move(data)},
                 {"context", json::object{{"timestamp", 1}}}};
  if (intercept) p["intercept"] = true;
  return p;
}

TEST(SdkHelpers, HookResultMapsHandlerReturns) {
  EXPECT_EQ(HookResultFor(std::nullopt), (json::value(json::object{{"action", "continue"}})));
  json::value block = json::object{{"action", "block"}, {"reason", "spam"}};
  EXPECT_EQ(HookResultFor(block), block);
  EXPECT_TRUE(HookResultFor(json::value()).is_null());  // null is the block shorthand, passed through
}

TEST(SdkHelpers, ToolResultMapsErrorsToIsError) {
  EXPECT_EQ(ToolInvokeResultFor(json::value(42)), (json::value(json::object{{"output", 42}})));
  json::value failed = ToolInvokeResultFor(oc::MakeError(ErrorCode::kNotFound, "no such note"));
  EXPECT_EQ(failed, (json::value(json::object{{"output", "no such note"}, {"isError", true}})));
}

TEST(SdkHelpers, DeliveryResultOmitsEmptyMessageId) {
  EXPECT_EQ(DeliveryResultFor(std::string("m-9")),
            (json::value(json::object{{"delivered", true}, {"messageId", "m-9"}})));
  EXPECT_EQ(DeliveryResultFor(std::string()), (json::value(json::object{{"delivered", true}})));
  EXPECT_EQ(DeliveryResultFor(oc::MakeError(ErrorCode::kTimeout, "platform timed out")),
            (json::value(json::object{{"delivered", false}, {"error", "platform timed out"}})));
}

TEST(SdkApp, MissingManifestIsFatal) {
  ProbeApp app("/nonexistent/openclawos.manifest.json", false);
  EXPECT_EQ(app.Run(), 1);
  EXPECT_FALSE(app.ready);
}

// What the fake kernel saw while driving ProbeApp, checked after both sides finished.
struct ProbeTranscript {
  std::optional<Frame> tool_registration, method_registration, subscription, ready;
  std::optional<Frame> echoed, invalid_input, failed_tool, unknown_tool, method_call;
  std::optional<Frame> continue_answer, block_answer, after_delivery;
};

void DriveProbe(FakeKernel& kernel, ProbeTranscript& t) {
  auto grant = [&](std::optional<Frame>& slot) {
    slot = kernel.ExpectRequest("capability.register");
    if (slot) kernel.Reply(*slot, json::object{{"capabilityId", "cap-" + slot->id}, {"granted", true}});
    return slot.has_value();
  };
  if (!kernel.AcceptAndRegister() || !grant(t.tool_registration) || !grant(t.method_registration)) return;
  t.subscription = kernel.ExpectRequest("hook.subscribe");
  if (!t.subscription) return;
  kernel.Reply(*t.subscription, json::object{{"subscribed", json::array{"agent_end", "before_tool_call"}},
                                             {"denied", json::array()}});
  t.ready = kernel.ExpectRequest("app.ready");
  if (!t.ready) return;
  kernel.Reply(*t.ready, json::object{{"ok", true}});

  auto invoke = [&](std::string method, json::object params) {
    return kernel.ExpectResponse(kernel.SendRequest(std::move(method), std::move(params)));
  };
  json::object ctx{{"sessionKey", "s"}, {"runId", "r"}, {"agentId", "main"}};
  t.echoed = invoke("tool.invoke", {{"tool", "echo"}, {"input", {{"text", "hi"}}}, {"context", ctx}});
  t.invalid_input = invoke("tool.invoke", {{"tool", "echo"}, {"input", json::object()}, {"context", ctx}});
  t.failed_tool = invoke("tool.invoke", {{"tool", "echo"}, {"input", {{"text", "fail"}}}, {"context", ctx}});
  t.unknown_tool = invoke("tool.invoke", {{"tool", "nope"}, {"input", json::object()}, {"context", ctx}});
  t.method_call = invoke("gateway.invoke", {{"method", "probe.echo"}, {"params", {{"a", 1}}}, {"client", {}}});

  // An observed event, and an intercept whose handler throws, get no answer: the next frame must
  // answer the intercept that follows them.
  kernel.SendEvent("hook:agent_end", HookPayload("s1", "agent_end", {}, false));
  kernel.SendEvent("hook:before_tool_call", HookPayload("i0", "before_tool_call", {{"throw", true}}, true));
  kernel.SendEvent("hook:before_tool_call", HookPayload("i1", "before_tool_call", {{"toolName", "x"}}, true));
  t.continue_answer = kernel.ExpectRequest("hook.result");
  if (t.continue_answer) kernel.Reply(*t.continue_answer, json::object{{"ok", true}});
  json::object block{{"toolName", "x"}, {"answer", {{"action", "block"}, {"reason", "no"}}}};
  kernel.SendEvent("hook:before_tool_call", HookPayload("i2", "before_tool_call", block, true));
  t.block_answer = kernel.ExpectRequest("hook.result");
  if (t.block_answer) kernel.Reply(*t.block_answer, json::object{{"ok", true}});

  // A channel delivery is not for Subscribe handlers (no ChannelApp here: nobody answers it).
  json::value delivery = HookPayload("d1", "before_tool_call", {}, true);
  delivery.as_object()["delivery"] = true;
  kernel.SendEvent("hook:before_tool_call", delivery);
  kernel.SendEvent("app:shutdown", json::object{{"reason", "test over"}, {"timeout", 5000}});
  t.after_delivery = kernel.ReadFrame();  // nullopt: the app closed without sending anything
}

TEST(SdkApp, RegistersServesToolsMethodsAndHooksThenShutsDown) {
  FakeKernel kernel;
  ProbeApp app(PrepareEnvironment(kernel), true);
  ProbeTranscript t;
  std::thread peer([&] { DriveProbe(kernel, t); });
  int exit_code = app.Run();
  peer.join();

  EXPECT_EQ(exit_code, 0);
  EXPECT_TRUE(app.ready);
  EXPECT_TRUE(app.torn_down);
  ASSERT_TRUE(t.tool_registration && t.method_registration && t.subscription && t.ready);
  EXPECT_EQ(t.tool_registration->params.at("type").as_string(), "tool");
  EXPECT_EQ(t.tool_registration->params.at("config").at("name").as_string(), "echo");
  EXPECT_EQ(t.tool_registration->params.at("config").at("description").as_string(), "Echoes text");
  EXPECT_TRUE(t.tool_registration->params.at("config").at("inputSchema").is_object());
  EXPECT_EQ(t.method_registration->params.at("type").as_string(), "gateway_method");
  EXPECT_EQ(t.method_registration->params.at("config").at("method").as_string(), "probe.echo");
  EXPECT_EQ(t.subscription->params.at("events"), (json::value(json::array{"agent_completed", "before_tool_call"})));

  ASSERT_TRUE(t.echoed && t.invalid_input && t.failed_tool && t.unknown_tool && t.method_call);
  EXPECT_EQ(t.echoed->result, (json::value(json::object{{"output", {{"echo", "hi"}}}})));
  EXPECT_TRUE(t.invalid_input->result.at("isError").as_bool());
  EXPECT_NE(t.invalid_input->result.at("output").as_string().find("invalid input"), std::string::npos);
  EXPECT_EQ(t.failed_tool->result, (json::value(json::object{{"output", "asked to fail"}, {"isError", true}})));
  ASSERT_FALSE(t.unknown_tool->success);
  EXPECT_EQ(t.unknown_tool->error->code, ErrorCode::kNotFound);
  EXPECT_EQ(t.method_call->result, (json::value(json::object{{"result", {{"a", 1}}}})));

  ASSERT_TRUE(t.continue_answer && t.block_answer);
  EXPECT_EQ(t.continue_answer->params.at("eventId").as_string(), "i1");
  EXPECT_EQ(t.continue_answer->params.at("result"), (json::value(json::object{{"action", "continue"}})));
  EXPECT_EQ(t.block_answer->params.at("eventId").as_string(), "i2");
  EXPECT_EQ(t.block_answer->params.at("result"),
            (json::value(json::object{{"action", "block"}, {"reason", "no"}})));
  EXPECT_FALSE(t.after_delivery.has_value());
  // agent_completed was subscribed under its canonical name; the delivery never reached the handler.
  EXPECT_EQ(app.hooks_seen,
            (std::vector<std::string>{"agent_end", "before_tool_call", "before_tool_call", "before_tool_call"}));
}

TEST(SdkApp, RefusedCapabilityFailsSetupWithTheKernelsReason) {
  FakeKernel kernel;
  ProbeApp app(PrepareEnvironment(kernel), true);
  bool ready_sent = true;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto reg = kernel.ExpectRequest("capability.register");
    if (!reg) return;
    kernel.Reply(*reg, json::object{{"capabilityId", nullptr},
                                    {"granted", false},
                                    {"reason", "tool echo is owned by another app"}});
    ready_sent = kernel.ReadFrame().has_value();  // the app closes instead of sending app.ready
  });
  int exit_code = app.Run();
  peer.join();
  EXPECT_EQ(exit_code, 1);
  EXPECT_FALSE(app.ready);
  EXPECT_FALSE(ready_sent);
  EXPECT_NE(app.setup_error.find("tool echo is owned by another app"), std::string::npos);
  EXPECT_TRUE(app.torn_down);  // Teardown runs whenever Setup ran
}

TEST(SdkApp, SigtermStopsTheAppCleanly) {
  FakeKernel kernel;
  ProbeApp app(PrepareEnvironment(kernel), false);
  app.raise_sigterm_when_ready = true;
  bool closed = false;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto ready = kernel.ExpectRequest("app.ready");
    if (!ready) return;
    kernel.Reply(*ready, json::object{{"ok", true}});
    closed = kernel.WaitForEof();
  });
  int exit_code = app.Run();
  peer.join();
  EXPECT_EQ(exit_code, 0);
  EXPECT_TRUE(app.ready);
  EXPECT_TRUE(app.torn_down);
  EXPECT_TRUE(closed);
}

TEST(SdkApp, TeardownIsBoundedByTheShutdownTimeout) {
  FakeKernel kernel;
  ProbeApp app(PrepareEnvironment(kernel), false);
  app.teardown_takes = 10s;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    auto ready = kernel.ExpectRequest("app.ready");
    if (!ready) return;
    kernel.Reply(*ready, json::object{{"ok", true}});
    kernel.SendEvent("app:shutdown", json::object{{"reason", "stop"}, {"timeout", 300}});
    kernel.WaitForEof();
  });
  auto started = std::chrono::steady_clock::now();
  int exit_code = app.Run();
  auto took = std::chrono::steady_clock::now() - started;
  peer.join();
  EXPECT_EQ(exit_code, 0);
  EXPECT_TRUE(app.torn_down);
  EXPECT_LT(took, 3s);  // 80 % of 300 ms, not the 10 s the teardown wanted
}

TEST(SdkApp, RegistrationRefusedIsFatal) {
  FakeKernel kernel;
  ProbeApp app(PrepareEnvironment(kernel), false);
  std::optional<Frame> reg;
  std::thread peer([&] {
    if (!kernel.Accept()) return;
    reg = kernel.ExpectRequest("app.register");
    if (reg) kernel.ReplyError(*reg, oc::MakeError(ErrorCode::kUnauthorized, "bad spawn token"));
  });
  int exit_code = app.Run();
  peer.join();
  EXPECT_EQ(exit_code, 1);
  EXPECT_FALSE(app.torn_down);
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->params.at("spawnToken").as_string(), "spawn-1");
  EXPECT_EQ(reg->params.at("manifest").at("id").as_string(), "test-app");
}

TEST(SdkHttp, RequestParamsAndResultsUseTheWireShape) {
  json::value params = json::parse(R"({"method": "POST", "path": "/api/notes", "query": "a=1",
      "headers": {"content-type": "application/json", "x-n": "2"}, "body": "aGk="})");
  Result<HttpRequest> r = HttpRequestFromParams(params);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/api/notes");
  EXPECT_EQ(r->query, "a=1");
  EXPECT_EQ(r->body, "hi");
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(r->Header("absent"), "");
  params.as_object()["body"] = "not base64!";
  Result<HttpRequest> bad = HttpRequestFromParams(params);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidParams);

  HttpResponse text = HttpResponse::Text(201, std::string("a\0b", 3));
  text.headers["x-count"] = "3";
  EXPECT_EQ(HttpRequestResultFor(text),
            json::parse(R"({"status": 201, "headers": {"content-type": "text/plain; charset=utf-8", "x-count": "3"},
                            "body": "YQBi"})"));
  json::value as_json = HttpRequestResultFor(HttpResponse::Json(200, json::object{{"ok", true}}));
  EXPECT_EQ(as_json.at("headers").at("content-type"), "application/json");
  EXPECT_EQ(*oc::Base64Decode(as_json.at("body").as_string()), R"({"ok":true})");
}

TEST(SdkHttp, RoutesMatchExactlyOrByPrefixEndingInSlash) {
  std::vector<std::string> routes{"/", "/api/", "/api/notes"};
  EXPECT_EQ(MatchHttpRoute(routes, "/api/notes"), "/api/notes");
  EXPECT_EQ(MatchHttpRoute(routes, "/api/notes/1"), "/api/");
  EXPECT_EQ(MatchHttpRoute(routes, "/favicon.ico"), "/");
  EXPECT_EQ(MatchHttpRoute({"/api"}, "/api/x"), "");
  EXPECT_EQ(MatchHttpRoute({"/api/"}, "/api"), "");
}

class HttpApp : public WatchdogApp {
 public:
  using WatchdogApp::WatchdogApp;
  std::vector<HttpRequest> seen;

 protected:
  using Answer = asio::awaitable<Result<HttpResponse>>;
  asio::awaitable<oc::Status> Setup() override {
    oc::Status exact = co_await RegisterHttpRoute("/hello", [this](HttpRequest req) -> Answer {
      seen.push_back(req);
      HttpResponse r = HttpResponse::Text(200, "hello " + req.body);
      r.headers["x-query"] = req.query;
      co_return r;
    });
    if (!exact.ok()) co_return exact;
    oc::Status prefix = co_await RegisterHttpRoute("/files/", [](HttpRequest req) -> Answer {
      if (req.path == "/files/fail") co_return oc::MakeError(ErrorCode::kNotFound, "no such file");
      if (req.path == "/files/throw") throw std::runtime_error("route bug");
      co_return HttpResponse::Json(202, json::object{{"path", req.path}});
    });
    if (!prefix.ok()) co_return prefix;
    // A refused route: its handler is dropped and Setup goes on.
    oc::Status refused = co_await RegisterHttpRoute("/secret", [](HttpRequest) -> Answer {
      co_return HttpResponse::Text(200, "leak");
    });
    if (refused.ok() || refused.error().code != ErrorCode::kCapabilityDenied)
      co_return oc::MakeError(ErrorCode::kInternalError, "refusal not reported");
    co_return oc::Status();
  }
};

TEST(SdkHttp, RegisteredRoutesAnswerHttpRequests) {
  FakeKernel kernel;
  HttpApp app(PrepareEnvironment(kernel));
  std::optional<Frame> first, second, hello, file, failed, thrown, unmatched, refused_call;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    first = kernel.ExpectRequest("capability.register");
    if (!first) return;
    kernel.Reply(*first, json::object{{"capabilityId", "http_route:/hello"}, {"granted", true}});
    second = kernel.ExpectRequest("capability.register");
    if (!second) return;
    kernel.Reply(*second, json::object{{"capabilityId", "http_route:/files/"}, {"granted", true}});
    auto third = kernel.ExpectRequest("capability.register");
    if (!third) return;
    kernel.Reply(*third, json::object{{"capabilityId", nullptr}, {"granted", false}, {"reason", "not declared"}});
    auto ready = kernel.ExpectRequest("app.ready");
    if (!ready) return;
    kernel.Reply(*ready, json::object{{"ok", true}});
    auto call = [&](std::string path, std::string body) {
      json::object params{{"method", "POST"}, {"path", std::move(path)}, {"query", "q=1"},
                          {"headers", {{"x-a", "b"}}}, {"body", oc::Base64Encode(body)}};
      return kernel.ExpectResponse(kernel.SendRequest("http.request", std::move(params)));
    };
    hello = call("/hello", "world");
    file = call("/files/a/b.txt", "");
    failed = call("/files/fail", "");
    thrown = call("/files/throw", "");
    unmatched = call("/hello/extra", "");
    refused_call = call("/secret", "");
    kernel.SendEvent("app:shutdown", json::object{{"reason", "test over"}});
    kernel.WaitForEof();
  });
  int exit_code = app.Run();
  peer.join();

  EXPECT_EQ(exit_code, 0);
  ASSERT_TRUE(first && second && hello && file && failed && thrown && unmatched && refused_call);
  EXPECT_EQ(first->params, json::parse(R"({"type": "http_route", "config": {"path": "/hello"}})"));
  EXPECT_EQ(second->params.at("config").at("path"), "/files/");
  ASSERT_TRUE(hello->success);
  EXPECT_EQ(hello->result.at("status"), 200);
  EXPECT_EQ(*oc::Base64Decode(hello->result.at("body").as_string()), "hello world");
  EXPECT_EQ(hello->result.at("headers").at("x-query"), "q=1");
  ASSERT_EQ(app.seen.size(), 1u);
  EXPECT_EQ(app.seen[0].method, "POST");
  EXPECT_EQ(app.seen[0].Header("x-a"), "b");
  ASSERT_TRUE(file->success);
  EXPECT_EQ(file->result.at("status"), 202);
  EXPECT_EQ(*oc::Base64Decode(file->result.at("body").as_string()), R"({"path":"/files/a/b.txt"})");
  ASSERT_FALSE(failed->success);  // an error Result is an error response (the gateway answers 502)
  EXPECT_EQ(failed->error->code, ErrorCode::kNotFound);
  EXPECT_EQ(failed->error->message, "no such file");
  ASSERT_TRUE(thrown->success);
  EXPECT_EQ(thrown->result.at("status"), 500);
  ASSERT_TRUE(unmatched->success);
  EXPECT_EQ(unmatched->result.at("status"), 404);
  ASSERT_TRUE(refused_call->success);
  EXPECT_EQ(refused_call->result.at("status"), 404);  // the refused route's handler was dropped
}

class TestChannel : public ChannelApp {
 public:
  explicit TestChannel(std::string manifest_path) : ChannelApp("testchan", std::move(manifest_path)), watchdog_(io()) {
    watchdog_.expires_after(15s);
    watchdog_.async_wait([this](boost::system::error_code ec) {
      if (!ec) RequestStop(99, "test watchdog");
    });
  }

  std::vector<std::pair<std::string, std::string>> delivered;
  std::optional<Result<json::value>> inbound;

 protected:
  asio::awaitable<Result<std::string>> Deliver(std::string target, std::string content, json::value) override {
    if (target == "bad") co_return oc::MakeError(ErrorCode::kUnknownError, "platform said no");
    delivered.emplace_back(target, content);
    co_return "m-" + std::to_string(delivered.size());
  }
  void OnReady() override { Spawn(QueueHello()); }

 private:
  asio::awaitable<void> QueueHello() {
    json::object metadata{{"from", "alice"}, {"chatType", "direct"}};
    inbound = co_await Inbound("conv1", "hello", std::move(metadata));
  }

  asio::steady_timer watchdog_;
};

json::value Delivery(std::string event_id, std::string channel, std::string target, std::string delivery_id = "") {
  json::object metadata;
  if (!delivery_id.empty()) metadata["deliveryId"] = delivery_id;
  json::value p = HookPayload(std::move(event_id), "message_sending",
                              {{"channelId", std::move(channel)},
                               {"target", std::move(target)},
                               {"content", "hi there"},
                               {"metadata", std::move(metadata)}},
                              true);
  p.as_object()["delivery"] = true;
  return p;
}

TEST(SdkChannelApp, RegistersChannelQueuesInboundAndAcknowledgesDeliveries) {
  FakeKernel kernel;
  TestChannel app(PrepareEnvironment(kernel));
  std::optional<Frame> channel, queued, ok, failed, foreign, repeat, after;
  std::thread peer([&] {
    if (!kernel.AcceptAndRegister()) return;
    channel = kernel.ExpectRequest("capability.register");
    if (!channel) return;
    kernel.Reply(*channel, json::object{{"capabilityId", "c1"}, {"granted", true}});
    auto ready = kernel.ExpectRequest("app.ready");
    if (!ready) return;
    kernel.Reply(*ready, json::object{{"ok", true}});
    queued = kernel.ExpectRequest("agent.queue");
    if (!queued) return;
    kernel.Reply(*queued, json::object{{"runId", "r1"}, {"queued", true}});
    auto deliver = [&](json::value payload, std::optional<Frame>& slot) {
      kernel.SendEvent("hook:message_sending", std::move(payload));
      slot = kernel.ExpectRequest("hook.result");
      if (slot) kernel.Reply(*slot, json::object{{"ok", true}});
    };
    deliver(Delivery("d1", "testchan", "alice", "41"), ok);
    deliver(Delivery("d1b", "testchan", "alice", "41"), repeat);  // offered again: not sent twice
    deliver(Delivery("d2", "testchan", "bad"), failed);
    deliver(Delivery("d3", "otherchan", "bob"), foreign);
    // An intercept of message_sending that is not a delivery: ChannelApp leaves it alone.
    kernel.SendEvent("hook:message_sending", HookPayload("i1", "message_sending", {}, true));
    kernel.SendEvent("app:shutdown", json::object{{"reason", "test over"}});
    after = kernel.ReadFrame();
  });
  int exit_code = app.Run();
  peer.join();

  EXPECT_EQ(exit_code, 0);
  ASSERT_TRUE(channel && queued && ok && failed && foreign && repeat);
  EXPECT_EQ(repeat->params.at("result"), (json::value(json::object{{"delivered", true}, {"messageId", "m-1"}})));
  EXPECT_EQ(channel->params, (json::value(json::object{{"type", "channel"}, {"config", {{"id", "testchan"}}}})));
  EXPECT_EQ(queued->params.at("sessionKey").as_string(), "testchan:conv1");
  EXPECT_EQ(queued->params.at("text").as_string(), "hello");
  EXPECT_EQ(queued->params.at("metadata").at("channelId").as_string(), "testchan");
  EXPECT_EQ(queued->params.at("metadata").at("from").as_string(), "alice");
  ASSERT_TRUE(app.inbound && app.inbound->ok());
  EXPECT_EQ(app.inbound->value().at("runId").as_string(), "r1");

  EXPECT_EQ(ok->params.at("eventId").as_string(), "d1");
  EXPECT_EQ(ok->params.at("result"), (json::value(json::object{{"delivered", true}, {"messageId", "m-1"}})));
  EXPECT_EQ(failed->params.at("eventId").as_string(), "d2");
  EXPECT_EQ(failed->params.at("result"),
            (json::value(json::object{{"delivered", false}, {"error", "platform said no"}})));
  EXPECT_FALSE(foreign->params.at("result").at("delivered").as_bool());
  EXPECT_FALSE(after.has_value());
  EXPECT_EQ(app.delivered, (std::vector<std::pair<std::string, std::string>>{{"alice", "hi there"}}));
}

}  // namespace
}  // namespace openclawos::sdk
