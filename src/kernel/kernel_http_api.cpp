// HTTP API (SPEC §11, docs/HTTP-API.md): the OpenAI-compatible /v1/chat/completions and
// /v1/models, and the webhooks /hooks/agent and /hooks/wake. Every request becomes a control-plane
// turn (Pipeline::StartAgentTurn), so it is durable, serialised with its session's other runs and
// visible in sessions.* like any other. The translation is in openai_compat.h; this file serves it.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <random>

#include "common/secure_compare.h"
#include "common/text.h"
#include "common/http_text.h"
#include "kernel/kernel.h"
#include "kernel/openai_compat.h"

namespace oc::kernel {
namespace {

using gateway::HttpRequest;
using gateway::HttpResponder;
using gateway::HttpResponse;

HttpResponse ApiErrorResponse(const openai::ApiError& e) {
  HttpResponse r = HttpResponse::Json(e.status, e.ToJson());
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  // OpenAI's SDKs retry 409 and 5xx by themselves, without an idempotency key: a failed or
  // timed-out run would run again (tools included). They obey this header.
  if (e.status >= 500 || e.status == 409) r.headers.emplace_back("x-should-retry", "false");
  return r;
}

HttpResponse OpenAiMethodNotAllowed(std::string_view method, const char* allow) {
  openai::ApiError e;
  e.status = 405;
  e.code = "method_not_allowed";
  e.message = "method " + std::string(method) + " is not allowed here; use " + allow;
  HttpResponse r = ApiErrorResponse(e);
  r.headers.emplace_back("Allow", allow);
  return r;
}

HttpResponse OpenAiUnauthorized(const HttpRequest& request) {
  openai::ApiError e;
  e.status = 401;
  e.code = "invalid_api_key";
  e.message = request.Header("authorization").empty()
                  ? "Missing API key: send Authorization: Bearer <gateway token>"
                  : "Incorrect API key provided: use the gateway's token (gateway.auth.token) or password";
  return ApiErrorResponse(e);
}

// StartAgentTurn's errors as OpenAI reports them: an unknown agent is an unknown model.
openai::ApiError TurnError(const Error& error) {
  if (error.code != ErrorCode::kNotFound) return openai::ToApiError(error);
  openai::ApiError e = openai::ToApiError(error);
  e.param = "model";
  e.code = "model_not_found";
  e.message = "The model does not exist: " + error.message;
  return e;
}

HttpResponse HookAnswer(unsigned status, std::string error) {
  return HttpResponse::Json(status, json::object{{"ok", false}, {"error", std::move(error)}});
}

// The events of one streamed completion, shared by the event tap, the coroutine waiting for the
// run and the one writing the stream (whichever outlives the others frees it).
struct CompletionStream {
  explicit CompletionStream(const asio::any_io_executor& executor)
      : wake(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;  // cancelled whenever there is something new; never expires by itself
  std::string run_id;       // "" until the turn is queued
  std::vector<std::pair<std::string, std::string>> early;  // (runId, delta) seen before that
  std::deque<std::string> deltas;
  bool finished = false;
  std::optional<json::value> summary;  // nullopt when the wait ended by timeout

  void OnEvent(std::string_view event, const json::value& payload) {
    if (event != "agent") return;
    const json::value* stream = FindPath(payload, "stream");
    const json::value* run = FindPath(payload, "runId");
    const json::value* delta = FindPath(payload, "data.delta");
    if (!stream || !run || !delta || !run->is_string() || !delta->is_string() || *stream != "assistant") return;
    if (run_id.empty()) {
      early.emplace_back(run->as_string(), delta->as_string());
    } else if (run->as_string() == run_id) {
      deltas.emplace_back(delta->as_string());
      wake.cancel();
    }
  }
};

asio::awaitable<void> WaitForRun(Pipeline& pipeline, std::shared_ptr<CompletionStream> stream, int64_t run_id,
                                 std::chrono::milliseconds timeout) {
  try {
    auto done = co_await pipeline.AwaitRun(run_id, timeout);
    stream->summary = std::move(done);
  } catch (const std::exception& e) {
    spdlog::error("http api: waiting for run {} failed: {}", run_id, e.what());
  }
  stream->finished = true;  // on every way out, or the stream would wait forever
  stream->wake.cancel();
}

// Removes an event tap on every way out of a coroutine (return, client gone, exception) — unless
// the kernel is already gone: a stream suspended at shutdown is destroyed with the io_context,
// after the kernel.
class TapGuard {
 public:
  TapGuard(Kernel& kernel, uint64_t id) : kernel_(kernel), alive_(kernel.alive_token()), id_(id) {}
  ~TapGuard() {
    if (!alive_.expired()) kernel_.RemoveEventTap(id_);
  }
  TapGuard(const TapGuard&) = delete;
  TapGuard& operator=(const TapGuard&) = delete;

 private:
  Kernel& kernel_;
  std::weak_ptr<bool> alive_;
  uint64_t id_;
};

class HttpApi {
 public:
  HttpApi(asio::io_context& io, Kernel& kernel, Pipeline& pipeline, int64_t started_s)
      : io_(io), kernel_(kernel), pipeline_(pipeline), started_s_(started_s), random_(std::random_device()()) {}

  asio::awaitable<HttpResponse> ChatCompletions(const HttpRequest& request, HttpResponder& responder);
  HttpResponse Models(const HttpRequest& request) const;
  HttpResponse HookAgent(const HttpRequest& request);
  HttpResponse HookWake(const HttpRequest& request);

 private:
  asio::awaitable<HttpResponse> Stream(json::value params, openai::CompletionMeta meta, bool include_usage,
                                       HttpResponder& responder);
  // Token configured, POST, right token: nullopt; otherwise the answer to send.
  std::optional<HttpResponse> HookGate(const HttpRequest& request) const;
  HttpResponse QueueHookTurn(const json::value& params, std::string_view what);
  std::string FreshId();

  asio::io_context& io_;
  Kernel& kernel_;
  Pipeline& pipeline_;
  int64_t started_s_;
  std::mt19937_64 random_;
};

std::string HttpApi::FreshId() {
  char id[33];
  std::snprintf(id, sizeof(id), "%016llx%016llx", static_cast<unsigned long long>(random_()),
                static_cast<unsigned long long>(random_()));
  return id;
}

// (Locals that live across a co_await are declared at function scope: g++ 12.)
asio::awaitable<HttpResponse> HttpApi::ChatCompletions(const HttpRequest& request, HttpResponder& responder) {
  if (request.method != "POST") co_return OpenAiMethodNotAllowed(request.method, "POST");
  if (!request.authenticated) co_return OpenAiUnauthorized(request);
  auto parsed = openai::ParseChatRequest(request.body);
  if (!parsed.ok()) co_return ApiErrorResponse(openai::ToApiError(parsed.error()));
  openai::TurnHeaders headers{std::string(request.Header("x-openclaw-agent-id")),
                              std::string(request.Header("x-openclaw-session-key")),
                              std::string(request.Header("idempotency-key"))};
  auto params = openai::ChatTurnParams(*parsed, headers, FreshId());
  if (!params.ok()) co_return ApiErrorResponse(openai::ToApiError(params.error()));
  openai::CompletionMeta meta{"", parsed->model, NowMs() / 1000};
  if (parsed->stream) co_return co_await Stream(std::move(*params), std::move(meta), parsed->include_usage, responder);

  auto turn = pipeline_.StartAgentTurn(*params);
  if (!turn.ok()) co_return ApiErrorResponse(TurnError(turn.error()));
  meta.id = "chatcmpl-" + std::to_string(turn->run_id);
  spdlog::debug("http api: completion {} in {}", meta.id, turn->session_key);
  auto summary = co_await pipeline_.AwaitRun(turn->run_id, turn->timeout);
  if (auto error = openai::RunError(summary)) co_return ApiErrorResponse(*error);
  co_return HttpResponse::Json(200, openai::CompletionJson(meta, *summary));
}

// The tap is in place before the turn is queued, so no delta can be missed; deltas are written as
// they come, and the run's end (or the wait's timeout) closes the stream. A client that goes away
// only ends the writing: the run finishes and stays in the session's history.
asio::awaitable<HttpResponse> HttpApi::Stream(json::value params, openai::CompletionMeta meta, bool include_usage,
                                              HttpResponder& responder) {
  auto stream = std::make_shared<CompletionStream>(io_.get_executor());
  TapGuard tap(kernel_, kernel_.AddEventTap([stream](std::string_view event, const json::value& payload) {
    stream->OnEvent(event, payload);
  }));
  auto turn = pipeline_.StartAgentTurn(params);
  if (!turn.ok()) co_return ApiErrorResponse(TurnError(turn.error()));
  // A repeated Idempotency-Key joins a run that may be half done: its deltas so far are gone, so
  // none are streamed and the whole text comes at the end (StreamEnd without streamed text).
  stream->run_id = turn->repeated ? "(repeated)" : std::to_string(turn->run_id);
  for (auto& [run, delta] : stream->early)
    if (run == stream->run_id) stream->deltas.push_back(std::move(delta));
  stream->early.clear();
  asio::co_spawn(io_, WaitForRun(pipeline_, stream, turn->run_id, turn->timeout), asio::detached);
  meta.id = "chatcmpl-" + std::to_string(turn->run_id);
  spdlog::debug("http api: streamed completion {} in {}", meta.id, turn->session_key);

  HttpResponse head;
  head.content_type = "text/event-stream";
  head.headers.emplace_back("X-Accel-Buffering", "no");
  bool ok = co_await responder.Begin(std::move(head));
  std::string data = openai::SseData(openai::ChunkJson(meta, json::object{{"role", "assistant"}, {"content", ""}}, std::nullopt));
  if (ok) ok = co_await responder.Write(std::move(data));
  bool streamed_text = false;
  boost::system::error_code ec;
  while (ok && !(stream->finished && stream->deltas.empty())) {
    if (stream->deltas.empty()) {
      stream->wake.expires_at(asio::steady_timer::time_point::max());
      co_await stream->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    data = openai::SseData(openai::ChunkJson(meta, json::object{{"content", stream->deltas.front()}}, std::nullopt));
    stream->deltas.pop_front();
    streamed_text = true;
    ok = co_await responder.Write(std::move(data));
  }
  if (!ok) {
    spdlog::debug("http api: {} client went away; the run goes on", meta.id);
    co_return HttpResponse();
  }
  data = openai::StreamEnd(meta, stream->summary, streamed_text, include_usage);
  co_await responder.Write(std::move(data));
  co_return HttpResponse();
}

HttpResponse HttpApi::Models(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") return OpenAiMethodNotAllowed(request.method, "GET");
  if (!request.authenticated) return OpenAiUnauthorized(request);
  std::vector<std::string> others;
  if (const json::value* agents = FindPath(kernel_.config().root(), "agents"); agents && agents->is_object())
    for (const auto& [id, value] : agents->as_object())
      if (value.is_object() && id != "default") others.emplace_back(id);
  std::sort(others.begin(), others.end());
  others.insert(others.begin(), "default");
  return HttpResponse::Json(200, openai::ModelsJson(others, started_s_));
}

std::optional<HttpResponse> HttpApi::HookGate(const HttpRequest& request) const {
  // effective_config(): a {"$secret"} token is resolved from the vault (kernel_vault.cpp).
  const config::GatewaySettings gw = kernel_.effective_config().gateway();
  if (gw.webhook_token.empty()) {
    return HttpResponse::Error(404, ErrorCode::kNotFound, "no route for " + request.path);  // webhooks are off
  }
  if (request.method != "POST") {
    HttpResponse r = HookAnswer(405, "method " + request.method + " is not allowed here; use POST");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const std::string_view header_token = TrimAsciiSpace(request.Header("x-openclaw-token"));
  const std::string_view bearer = http::BearerCredential(request.Header("authorization"));
  if (header_token.empty() && bearer.empty())
    return HookAnswer(401, "missing webhook token: send Authorization: Bearer <token> or X-OpenClaw-Token");
  // Both are compared (no short cut) so the time taken does not tell which one matched. The token
  // is not empty here, so an absent credential never matches.
  const bool header_ok = ConstantTimeEquals(header_token, gw.webhook_token);
  const bool bearer_ok = ConstantTimeEquals(bearer, gw.webhook_token);
  if (!header_ok && !bearer_ok) return HookAnswer(401, "invalid webhook token");
  return std::nullopt;
}

HttpResponse HttpApi::QueueHookTurn(const json::value& params, std::string_view what) {
  auto turn = pipeline_.StartAgentTurn(params);
  if (!turn.ok()) {
    const unsigned status = turn.error().code == ErrorCode::kInvalidParams || turn.error().code == ErrorCode::kNotFound
                                ? 400 : 500;
    return HookAnswer(status, turn.error().message);
  }
  spdlog::info("webhook {}: run {} queued in {}{}", what, turn->run_id, turn->session_key,
               turn->repeated ? " (repeated idempotencyKey)" : "");
  json::object body{{"ok", true}, {"runId", std::to_string(turn->run_id)}, {"sessionKey", turn->session_key}};
  if (turn->repeated) body["repeated"] = true;
  return HttpResponse::Json(202, body);
}

HttpResponse HttpApi::HookAgent(const HttpRequest& request) {
  if (auto refused = HookGate(request)) return *refused;
  auto parsed = openai::ParseHookAgent(request.body);
  if (!parsed.ok()) return HookAnswer(400, parsed.error().message);
  return QueueHookTurn(openai::HookTurnParams(*parsed, kernel_.config().gateway().webhook_agent_id),
                       "/hooks/agent (" + parsed->name + ")");
}

HttpResponse HttpApi::HookWake(const HttpRequest& request) {
  if (auto refused = HookGate(request)) return *refused;
  auto parsed = openai::ParseHookWake(request.body);
  if (!parsed.ok()) return HookAnswer(400, parsed.error().message);
  return QueueHookTurn(openai::WakeTurnParams(*parsed, kernel_.config().gateway().webhook_agent_id), "/hooks/wake");
}

}  // namespace

void Kernel::RegisterHttpApi() {
  auto api = std::make_shared<HttpApi>(io_, *this, *pipeline_, started_at_ms_ / 1000);
  using gateway::HttpAccess;
  // Public routes: each checks its own credentials so that refusals come in its own error shape.
  control_->AddHttpRoute(
      "/v1/chat/completions",
      [api](const HttpRequest& r, HttpResponder& out) { return api->ChatCompletions(r, out); }, HttpAccess::kPublic);
  control_->AddHttpRoute(
      "/v1/models",
      [api](const HttpRequest& r, HttpResponder&) -> asio::awaitable<HttpResponse> { co_return api->Models(r); },
      HttpAccess::kPublic);
  control_->AddHttpRoute(
      "/hooks/agent",
      [api](const HttpRequest& r, HttpResponder&) -> asio::awaitable<HttpResponse> { co_return api->HookAgent(r); },
      HttpAccess::kPublic);
  control_->AddHttpRoute(
      "/hooks/wake",
      [api](const HttpRequest& r, HttpResponder&) -> asio::awaitable<HttpResponse> { co_return api->HookWake(r); },
      HttpAccess::kPublic);
}

}  // namespace oc::kernel
