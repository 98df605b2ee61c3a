#include "openclawos/app.h"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/async.h"
#include "common/base64.h"
#include "common/json_schema.h"
#include "protocol/hooks.h"
#include "protocol/methods.h"

namespace openclawos::sdk {
namespace asio = boost::asio;
namespace json = oc::json;
using oc::Error;
using oc::ErrorCode;
using oc::MakeError;
using oc::Result;
using oc::Status;

namespace {

Result<json::value> LoadManifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kNotFound, "cannot open manifest " + path);
  std::stringstream text;
  text << in.rdbuf();
  Result<json::value> manifest = oc::ParseLenientJson(text.str());
  if (!manifest.ok()) return MakeError(ErrorCode::kInvalidParams, path + ": " + manifest.error().message);
  if (!manifest->is_object()) return MakeError(ErrorCode::kInvalidParams, path + ": not a JSON object");
  return manifest;
}

void LogIfThrown(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("app: task failed: {}", ex.what());
  } catch (...) {
    spdlog::error("app: task failed");
  }
}

bool IsTrue(const json::value& payload, std::string_view key) {
  const json::object* o = payload.if_object();
  return o && oc::GetBool(*o, key).value_or(false);
}

}  // namespace

json::value HookResultFor(std::optional<json::value> handler_return) {
  if (!handler_return) return json::object{{"action", "continue"}};
  return std::move(*handler_return);
}

json::value ToolInvokeResultFor(const Result<json::value>& tool_return) {
  if (tool_return.ok()) return json::object{{"output", tool_return.value()}};
  return json::object{{"output", tool_return.error().message}, {"isError", true}};
}

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.headers["content-type"] = std::move(content_type);
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Json(int status, const json::value& body) {
  return Text(status, json::serialize(body), "application/json");
}

json::value HttpRequestResultFor(const HttpResponse& response) {
  json::object headers;
  for (const auto& [name, value] : response.headers) headers[name] = value;
  return json::object{
      {"status", response.status}, {"headers", std::move(headers)}, {"body", oc::Base64Encode(response.body)}};
}

Result<HttpRequest> HttpRequestFromParams(const json::value& params) {
  const json::object* p = params.if_object();
  if (!p) return MakeError(ErrorCode::kInvalidParams, "params must be an object");
  HttpRequest r;
  r.method = std::string(oc::GetString(*p, "method").value_or("GET"));
  r.path = std::string(oc::GetString(*p, "path").value_or("/"));
  r.query = std::string(oc::GetString(*p, "query").value_or(""));
  if (const json::object* headers = oc::GetObject(*p, "headers"))
    for (const auto& [name, value] : *headers)
      if (value.is_string()) r.headers[std::string(name)] = std::string(value.as_string());
  auto body = oc::Base64Decode(oc::GetString(*p, "body").value_or(""));
  if (!body)
    return MakeError(ErrorCode::kInvalidParams, "params.body: not base64", json::object{{"path", "params.body"}});
  r.body = std::move(*body);
  return r;
}

std::string MatchHttpRoute(const std::vector<std::string>& routes, std::string_view path) {
  std::string best;
  for (const auto& route : routes) {
    bool fits = route == path || (!route.empty() && route.back() == '/' && path.starts_with(route));
    if (fits && route.size() > best.size()) best = route;
  }
  return best;
}

void UseStderrLogging(const std::string& logger_name) {
  auto logger = std::make_shared<spdlog::logger>(logger_name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("[%l] %v");
  logger->flush_on(spdlog::level::trace);
  spdlog::level::level_enum level = spdlog::level::info;
  if (const char* name = std::getenv("OPENCLAWOS_LOG_LEVEL"); name && *name) {
    level = spdlog::level::from_str(name);  // unknown names give "off"; keep info then
    if (level == spdlog::level::off && std::string_view(name) != "off") level = spdlog::level::info;
  }
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

App::App(std::string manifest_path)
    : manifest_path_(std::move(manifest_path)),
      io_(std::make_unique<asio::io_context>()),
      client_(std::make_unique<KernelClient>(*io_, ClientOptions{})),
      stop_timer_(*io_),
      signals_(*io_) {}

App::~App() = default;

KernelClient& App::kernel() { return *client_; }
asio::io_context& App::io() { return *io_; }
const json::value& App::manifest() const { return manifest_; }
const json::value& App::registration() const { return client_->registration(); }

void App::Spawn(asio::awaitable<void> task) { asio::co_spawn(*io_, std::move(task), LogIfThrown); }

void App::RequestStop(int exit_code, std::string reason) {
  if (exit_code_) return;
  exit_code_ = exit_code;
  if (exit_code == 0)
    spdlog::info("app: stopping: {}", reason);
  else
    spdlog::error("app: stopping: {}", reason);
  stop_timer_.cancel();
}

int App::Run() {
  UseStderrLogging("app");
  Result<json::value> manifest = LoadManifest(manifest_path_);
  if (!manifest.ok()) {
    spdlog::error("app: {}", manifest.error().message);
    return 1;
  }
  manifest_ = std::move(manifest).value();
  std::string id(oc::GetString(manifest_.get_object(), "id").value_or(""));
  if (const char* env_id = std::getenv("OPENCLAWOS_APP_ID"); env_id && *env_id && id != env_id)
    spdlog::warn("app: manifest id {} differs from OPENCLAWOS_APP_ID {}", id, env_id);

  int exit_code = 1;
  asio::co_spawn(*io_, RunAsync(), [&](std::exception_ptr e, int code) {
    exit_code = code;
    if (e) {
      LogIfThrown(e);
      exit_code = 1;
    }
    io_->stop();  // background work of handlers must not keep a stopped app alive
  });
  try {
    io_->run();
  } catch (const std::exception& e) {
    spdlog::error("app: event loop failed: {}", e.what());
    return 1;
  }
  return exit_code;
}

asio::awaitable<int> App::RunAsync() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.async_wait([this](boost::system::error_code ec, int signal_number) {
    if (!ec) RequestStop(0, signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  client_->OnEvent(std::string(oc::protocol::kEventAppShutdown), [this](const json::value& payload) {
    std::string reason = "the kernel asked";
    if (const json::object* o = payload.if_object()) {
      if (auto r = oc::GetString(*o, "reason")) reason += " (" + std::string(*r) + ")";
      if (auto timeout = oc::GetInt(*o, "timeout"); timeout && *timeout > 0 && !exit_code_)
        teardown_budget_ = std::chrono::milliseconds(*timeout * 8 / 10);
    }
    RequestStop(0, reason);
  });
  client_->OnConnectionLost([this](const Error& why) { RequestStop(1, why.message); });

  Result<json::value> registered = co_await client_->Connect(manifest_);
  if (!registered.ok()) {
    spdlog::error("app: cannot register with the kernel: {}", registered.error().message);
    signals_.cancel();
    co_return 1;
  }
  if (exit_code_) {  // stopped while connecting: nothing was set up
    client_->Close();
    signals_.cancel();
    co_return *exit_code_;
  }
  co_return co_await Serve();
}

asio::awaitable<int> App::Serve() {
  Status setup = MakeError(ErrorCode::kInternalError, "Setup threw");
  try {
    setup = co_await Setup();
  } catch (const std::exception& e) {
    setup = MakeError(ErrorCode::kInternalError, std::string("Setup threw: ") + e.what());
  }
  if (!setup.ok()) RequestStop(1, "setup failed: " + setup.error().message);

  if (!exit_code_) {
    Result<json::value> ready = co_await client_->Request("app.ready", json::object());
    if (ready.ok()) {
      spdlog::info("{} ready", AppId());
      OnReady();
    } else {
      RequestStop(1, "app.ready failed: " + ready.error().message);
    }
  }
  while (!exit_code_) {
    stop_timer_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await stop_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await RunTeardown();
  client_->Close();
  signals_.cancel();
  co_return *exit_code_;
}

// Teardown runs as its own task so that one which does not finish in its budget cannot keep the
// process alive past the kernel's patience.
asio::awaitable<void> App::RunTeardown() {
  auto finished = std::make_shared<oc::Pending<bool>>(io_->get_executor());
  Spawn([](App* app, std::shared_ptr<oc::Pending<bool>> done) -> asio::awaitable<void> {
    try {
      co_await app->Teardown();
    } catch (const std::exception& e) {
      spdlog::error("app: Teardown threw: {}", e.what());
    }
    done->Set(true);
  }(this, finished));
  if (!(co_await finished->Wait(teardown_budget_)))
    spdlog::warn("app: Teardown did not finish within {} ms; exiting anyway", teardown_budget_.count());
}

std::string App::AppId() const {
  if (const json::object* reg = client_->registration().if_object())
    if (auto id = oc::GetString(*reg, "appId")) return std::string(*id);
  if (const json::object* m = manifest_.if_object())
    if (auto id = oc::GetString(*m, "id")) return std::string(*id);
  return "app";
}

asio::awaitable<Result<json::value>> App::RegisterCapability(std::string type, json::value config) {
  // (Arguments are built before co_await: g++ 12 miscompiles braced initialisers inside it.)
  json::object params{{"type", type}, {"config", std::move(config)}};
  Result<json::value> result = co_await client_->Request("capability.register", std::move(params));
  if (!result.ok()) co_return result.error();
  const json::object* o = result->if_object();
  if (!o) co_return MakeError(ErrorCode::kInternalError, "capability.register answered with a non-object");
  if (!oc::GetBool(*o, "granted").value_or(false)) {
    std::string reason(oc::GetString(*o, "reason").value_or("not granted"));
    co_return MakeError(ErrorCode::kCapabilityDenied, type + " refused: " + reason, *result);
  }
  co_return result;
}

asio::awaitable<Status> App::RegisterTool(std::string name, std::string description, json::value input_schema,
                                          ToolFunction fn) {
  client_->OnRequest("tool.invoke", [this](json::value params) { return InvokeTool(std::move(params)); });
  // Installed before asking: the kernel may invoke the tool as soon as it is granted.
  tools_[name] = RegisteredTool{input_schema, std::move(fn)};
  json::object config{{"name", name}, {"description", description}, {"inputSchema", std::move(input_schema)}};
  Result<json::value> result = co_await RegisterCapability("tool", std::move(config));
  if (!result.ok()) {
    tools_.erase(name);
    co_return result.error();
  }
  co_return Status();
}

asio::awaitable<Result<json::value>> App::InvokeTool(json::value params) {
  json::object& p = params.as_object();  // shape checked against the method table already
  std::string name(p.at("tool").as_string());
  auto it = tools_.find(name);
  if (it == tools_.end()) co_return MakeError(ErrorCode::kNotFound, "no tool named " + name + " here");
  RegisteredTool tool = it->second;  // kept alive across the call: `fn` may be replaced meanwhile
  json::value input = p.at("input");
  if (tool.input_schema.is_object()) {
    auto violations = oc::ValidateSchema(tool.input_schema, input, "input");
    if (!violations.empty()) {
      const auto& v = violations.front();
      co_return ToolInvokeResultFor(MakeError(ErrorCode::kInvalidParams,
                                              "invalid input: " + v.path + ": " + v.message));
    }
  }
  Result<json::value> output = MakeError(ErrorCode::kInternalError, "tool failed");
  try {
    output = co_await tool.fn(std::move(input), p.at("context"));
  } catch (const std::exception& e) {
    output = MakeError(ErrorCode::kInternalError, std::string("tool failed: ") + e.what());
  }
  co_return ToolInvokeResultFor(output);
}

asio::awaitable<Status> App::RegisterMethod(std::string method, MethodFunction fn) {
  client_->OnRequest("gateway.invoke", [this](json::value params) { return InvokeMethod(std::move(params)); });
  methods_[method] = std::move(fn);
  json::object config{{"method", method}};
  Result<json::value> result = co_await RegisterCapability("gateway_method", std::move(config));
  if (!result.ok()) {
    methods_.erase(method);
    co_return result.error();
  }
  co_return Status();
}

asio::awaitable<Result<json::value>> App::InvokeMethod(json::value params) {
  json::object& p = params.as_object();
  std::string name(p.at("method").as_string());
  auto it = methods_.find(name);
  if (it == methods_.end()) co_return MakeError(ErrorCode::kMethodNotFound, "no method named " + name + " here");
  MethodFunction fn = it->second;
  Result<json::value> result = co_await fn(p.at("params"));
  if (!result.ok()) co_return result.error();
  co_return json::object{{"result", std::move(result).value()}};
}

asio::awaitable<Status> App::RegisterHttpRoute(std::string path, HttpRouteFunction fn) {
  client_->OnRequest("http.request", [this](json::value params) { return ServeHttp(std::move(params)); });
  // Installed before asking: requests may arrive as soon as the route is granted.
  http_routes_[path] = std::move(fn);
  json::object config{{"path", path}};
  Result<json::value> result = co_await RegisterCapability("http_route", std::move(config));
  if (!result.ok()) {
    http_routes_.erase(path);
    co_return result.error();
  }
  co_return Status();
}

asio::awaitable<Result<json::value>> App::ServeHttp(json::value params) {
  Result<HttpRequest> request = HttpRequestFromParams(params);
  if (!request.ok()) co_return request.error();
  std::vector<std::string> routes;
  for (const auto& [route, fn] : http_routes_) routes.push_back(route);
  std::string route = MatchHttpRoute(routes, request->path);
  if (route.empty()) {
    json::value error = json::object{{"error", {{"code", "NOT_FOUND"}, {"message", "no route for " + request->path}}}};
    co_return HttpRequestResultFor(HttpResponse::Json(404, error));
  }
  HttpRouteFunction fn = http_routes_.at(route);  // kept alive across the call
  Result<HttpResponse> response = MakeError(ErrorCode::kInternalError, "route failed");
  try {
    response = co_await fn(std::move(request).value());
  } catch (const std::exception& e) {
    spdlog::error("app: HTTP route {} threw: {}", route, e.what());
    response = HttpResponse::Text(500, "internal error\n");
  }
  if (!response.ok()) co_return response.error();
  co_return HttpRequestResultFor(*response);
}

asio::awaitable<Result<json::value>> App::Subscribe(std::vector<std::string> events, HookFunction fn) {
  std::set<std::string> hooks;  // canonical names: an alias and its name arrive as one event
  for (const auto& e : events) {
    const auto* spec = oc::protocol::FindHook(e);
    hooks.insert(spec ? std::string(spec->name) : e);
  }
  // Installed before asking: events may follow the answer immediately.
  for (const auto& hook : hooks) {
    client_->OnEvent(std::string(oc::protocol::kHookEventPrefix) + hook, [this, fn](const json::value& payload) {
      if (IsTrue(payload, "delivery")) return;  // a channel delivery: ChannelApp answers it
      Spawn(DeliverHook(fn, payload));
    });
  }
  json::object params{{"events", json::array(events.begin(), events.end())}};
  co_return co_await client_->Request("hook.subscribe", std::move(params));
}

asio::awaitable<void> App::DeliverHook(HookFunction fn, json::value payload) {
  std::optional<json::value> answer;
  try {
    answer = co_await fn(payload);
  } catch (const std::exception& e) {
    // No answer: the kernel's timeout policy decides, which keeps fail-closed hooks closed.
    spdlog::error("app: hook handler threw: {}; not answering", e.what());
    co_return;
  }
  if (!IsTrue(payload, "intercept")) co_return;
  auto event_id = oc::GetString(payload.as_object(), "eventId");
  if (!event_id) {
    spdlog::warn("app: intercept event without eventId; cannot answer");
    co_return;
  }
  json::object params{{"eventId", *event_id}, {"result", HookResultFor(std::move(answer))}};
  Result<json::value> sent = co_await client_->Request("hook.result", std::move(params));
  if (!sent.ok()) spdlog::warn("app: hook.result for {} failed: {}", *event_id, sent.error().message);
}

asio::awaitable<Result<json::value>> App::ConfigGet(std::string path) {
  json::object params;
  if (!path.empty()) params["path"] = path;
  Result<json::value> result = co_await client_->Request("config.get", std::move(params));
  if (!result.ok()) co_return result.error();
  if (const json::object* o = result->if_object())
    if (const json::value* v = o->if_contains("value")) co_return *v;
  co_return json::value();
}

std::filesystem::path App::DataDir() {
  const char* dir = std::getenv("OPENCLAWOS_APP_DATA");
  return dir && *dir ? std::filesystem::path(dir) : std::filesystem::path();
}

}  // namespace openclawos::sdk
