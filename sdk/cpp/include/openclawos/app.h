// The base class of an OpenClawOS app written in C++ (SPEC §4, §5.2, §5.4). A subclass overrides
// Setup() to register its tools, hooks and methods with the helpers below, and main() is
//     int main() { MyApp app; return app.Run(); }
//
// Threading: Run() owns one io_context and runs it on the calling thread; Setup, Teardown and every
// handler run there. Handlers must not block (use coroutines and Asio timers/sockets on io()).
// Errors: helpers return the kernel's refusal as an oc::Error (e.g. CAPABILITY_DENIED with the
// kernel's reason); nothing throws across the SDK boundary.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "openclawos/kernel_client.h"

namespace openclawos::sdk {

using ToolFunction = std::function<boost::asio::awaitable<oc::Result<oc::json::value>>(
    oc::json::value input, oc::json::value context)>;
using HookFunction = std::function<boost::asio::awaitable<std::optional<oc::json::value>>(
    const oc::json::value& payload)>;
using MethodFunction =
    std::function<boost::asio::awaitable<oc::Result<oc::json::value>>(oc::json::value params)>;

// A request for one of the app's HTTP routes (http.request, SPEC §4.3). The gateway serves a
// route "/x" declared in capabilities.gateway.httpRoutes at /apps/<short>/x.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as the client sent it
  std::string path;    // relative to the app's mount, percent-encoding kept: "/api/notes"
  std::string query;   // after '?', "" when none
  std::map<std::string, std::string, std::less<>> headers;  // lower-case names; never authorization/cookie
  std::string body;    // the raw bytes (decoded from the wire's base64)
  // The header's value; "" when absent.
  std::string_view Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;  // the gateway accepts 200..599
  // Names as given (content-type, cache-control, ...). The gateway drops hop-by-hop headers,
  // content-length, set-cookie and access-control-*, and adds X-Content-Type-Options: nosniff.
  std::map<std::string, std::string, std::less<>> headers;
  std::string body;  // raw bytes
  static HttpResponse Text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  static HttpResponse Json(int status, const oc::json::value& body);
};

// Answers one request; an error Result makes the gateway answer 502 with its code and message.
using HttpRouteFunction = std::function<boost::asio::awaitable<oc::Result<HttpResponse>>(HttpRequest request)>;

// The http.request result {status, headers, body (base64)} for what an HttpRouteFunction returned.
oc::json::value HttpRequestResultFor(const HttpResponse& response);
// The HttpRequest in http.request params; INVALID_PARAMS when the body is not base64.
oc::Result<HttpRequest> HttpRequestFromParams(const oc::json::value& params);
// The registered route serving `path`: the exact route, else the longest one that ends in "/" and
// is a prefix of `path` (the gateway's matching rule); "" when none.
std::string MatchHttpRoute(const std::vector<std::string>& routes, std::string_view path);

// The hook.result `result` for an intercept, from what a HookFunction returned: the value itself
// (an action object, or the shorthands of SPEC §6), or {action:"continue"} for nullopt.
oc::json::value HookResultFor(std::optional<oc::json::value> handler_return);

// The tool.invoke result for what a ToolFunction returned: {output: value}, or
// {output: error.message, isError: true} so the agent sees why the tool failed.
oc::json::value ToolInvokeResultFor(const oc::Result<oc::json::value>& tool_return);

// Routes logging to stderr: replaces spdlog's default logger with one writing "[level] message"
// lines to stderr (the kernel captures an app's stderr into its log). The level comes from
// $OPENCLAWOS_LOG_LEVEL (trace, debug, info, warn, error; default info). Run() calls it.
void UseStderrLogging(const std::string& logger_name);

class App {
 public:
  // The manifest is read by Run(); the kernel starts apps with cwd = package directory.
  explicit App(std::string manifest_path = "openclawos.manifest.json");
  virtual ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Reads the manifest, connects and registers (app.register), runs Setup(), sends app.ready and
  // logs "<app-id> ready", then serves until the "app:shutdown" event, SIGTERM/SIGINT or
  // RequestStop(); then Teardown(), close, return 0. Teardown gets 80 % of the shutdown event's
  // `timeout` (5 s otherwise); Run does not wait longer for it. Fatal errors (unreadable manifest,
  // registration refused, Setup or app.ready failed, the connection lost for good) are logged and
  // return 1. Teardown() runs whenever Setup() ran, also after a failed Setup. Background work
  // still pending when Run returns is abandoned. Call once; afterwards kernel() is closed.
  int Run();

 protected:
  virtual boost::asio::awaitable<oc::Status> Setup() { co_return oc::Status(); }
  virtual boost::asio::awaitable<void> Teardown() { co_return; }
  // Called once app.ready was acknowledged: the app now takes traffic.
  virtual void OnReady() {}

  KernelClient& kernel();
  boost::asio::io_context& io();
  const oc::json::value& manifest() const;
  // The app.register result {appId, token, protocolVersion, kernelVersion, heartbeatIntervalMs, grants}.
  const oc::json::value& registration() const;
  // Asks Run() to stop serving (Teardown follows) and to return `exit_code`. The first request wins.
  void RequestStop(int exit_code, std::string reason);

  // capability.register {type:"tool", config:{name, description, inputSchema}}. The kernel's
  // tool.invoke {tool, input, context} then calls `fn` and gets ToolInvokeResultFor(its return);
  // input that fails `input_schema` gets {output: "invalid input: ...", isError: true} without a call.
  // A refusal (granted:false) is CAPABILITY_DENIED with the kernel's reason; `fn` is then dropped.
  boost::asio::awaitable<oc::Status> RegisterTool(std::string name, std::string description,
                                                  oc::json::value input_schema, ToolFunction fn);

  // hook.subscribe {events}; returns the kernel's {subscribed[], denied[]}. For each "hook:<name>"
  // event payload {eventId, hookName, data, context, intercept?} of those hooks, `fn` runs as its own
  // coroutine. When the payload has "intercept": true the kernel awaits an answer, sent as
  // hook.result {eventId, result: HookResultFor(fn's return)}; otherwise the return is ignored.
  // If `fn` throws, no answer is sent: the kernel's timeout policy decides (continue, or block for
  // hooks.failClosed), so a bug cannot turn a fail-closed hook into "continue".
  // Payloads marked "delivery": true belong to ChannelApp and are not passed to `fn`.
  // Aliases are resolved (agent_completed → agent_end). Calling again adds handlers.
  boost::asio::awaitable<oc::Result<oc::json::value>> Subscribe(std::vector<std::string> events, HookFunction fn);

  // capability.register {type:"gateway_method", config:{method}}. The kernel's gateway.invoke
  // {method, params, client} then calls `fn(params)` and answers {result: value}, or fn's error.
  boost::asio::awaitable<oc::Status> RegisterMethod(std::string method, MethodFunction fn);

  // capability.register {type:"http_route", config:{path}} for a route declared in the manifest's
  // capabilities.gateway.httpRoutes ("/x" serves exactly /apps/<short>/x; "/x/" also everything
  // under it). The kernel's http.request {method, path, query, headers, body} then calls the `fn`
  // of the best matching route (exact first, then the longest prefix) and gets
  // HttpRequestResultFor(its answer); a path no route matches gets 404, an exception 500.
  // CAPABILITY_DENIED with the kernel's reason when not granted; `fn` is then dropped.
  boost::asio::awaitable<oc::Status> RegisterHttpRoute(std::string path, HttpRouteFunction fn);

  // config.get {path?} → the `value` the kernel returned (the app's own section; null when unset).
  boost::asio::awaitable<oc::Result<oc::json::value>> ConfigGet(std::string path = {});

  // capability.register {type, config}; CAPABILITY_DENIED with the reason when not granted.
  // Returns the kernel's result {capabilityId, granted}.
  boost::asio::awaitable<oc::Result<oc::json::value>> RegisterCapability(std::string type, oc::json::value config);

  // $OPENCLAWOS_APP_DATA: a directory the kernel made for this app alone (<home>/apps/<id>, 0700,
  // kept across restarts) for state such as a poll offset; empty when unset (not kernel-spawned).
  static std::filesystem::path DataDir();

  // Runs `task` in the background on io(); an escaping exception is logged.
  void Spawn(boost::asio::awaitable<void> task);

 private:
  boost::asio::awaitable<int> RunAsync();
  boost::asio::awaitable<int> Serve();
  boost::asio::awaitable<void> RunTeardown();
  std::string AppId() const;
  boost::asio::awaitable<oc::Result<oc::json::value>> InvokeTool(oc::json::value params);
  boost::asio::awaitable<oc::Result<oc::json::value>> InvokeMethod(oc::json::value params);
  boost::asio::awaitable<oc::Result<oc::json::value>> ServeHttp(oc::json::value params);
  boost::asio::awaitable<void> DeliverHook(HookFunction fn, oc::json::value payload);

  std::string manifest_path_;
  oc::json::value manifest_;
  // Declared before the client: destroyed after it, so pending handlers die with a valid client.
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<KernelClient> client_;
  boost::asio::steady_timer stop_timer_;
  boost::asio::signal_set signals_;
  std::optional<int> exit_code_;
  std::chrono::milliseconds teardown_budget_{5000};
  struct RegisteredTool {
    oc::json::value input_schema;  // tool.invoke input is checked against it before `fn` runs
    ToolFunction fn;
  };
  std::map<std::string, RegisteredTool, std::less<>> tools_;
  std::map<std::string, MethodFunction, std::less<>> methods_;
  std::map<std::string, HttpRouteFunction, std::less<>> http_routes_;
};

}  // namespace openclawos::sdk
