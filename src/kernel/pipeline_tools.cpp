// The kernel's own agent tools (SPEC §8.3: sessions_list, sessions_history, sessions_send, message,
// cron), the limits of the built-in tools, and the system prompt of a run (workspace files, skills).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/system_prompt.h"
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::IntOr;
using internal::Str;
namespace {

constexpr int64_t kPromptRefreshMs = 5000;  // workspace files and skills are re-read at most this often
constexpr size_t kHistoryContentCap = 2000;

agent::ToolSpec Spec(std::string name, std::string description, json::object properties,
                     std::vector<std::string_view> required = {}) {
  json::array req;
  for (auto r : required) req.emplace_back(r);
  json::object schema{{"type", "object"}, {"properties", std::move(properties)}};
  if (!req.empty()) schema["required"] = std::move(req);
  return agent::ToolSpec{std::move(name), std::move(description), std::move(schema)};
}

json::object Prop(std::string_view type, std::string_view description) {
  return json::object{{"type", type}, {"description", description}};
}

std::vector<agent::ToolSpec> BuildKernelToolSpecs() {
  std::vector<agent::ToolSpec> specs;
  specs.push_back(Spec("sessions_list", "List conversations (sessions) of this assistant, most recent first.",
                       {{"limit", Prop("integer", "At most this many (default 20).")},
                        {"channel", Prop("string", "Only sessions on this channel.")},
                        {"includeEnded", Prop("boolean", "Also list ended (reset) sessions.")}}));
  specs.push_back(Spec("sessions_history", "Read the latest messages of a session.",
                       {{"sessionKey", Prop("string", "Session key from sessions_list.")},
                        {"limit", Prop("integer", "How many of the latest messages (default 20, at most 100).")}},
                       {"sessionKey"}));
  specs.push_back(Spec("sessions_send",
                       "Send a message into another session; its agent answers there. Optionally wait for the answer.",
                       {{"sessionKey", Prop("string", "Target session key.")},
                        {"message", Prop("string", "The message.")},
                        {"waitSeconds", Prop("integer", "Wait up to this long for the answer (0-300, default 0).")}},
                       {"sessionKey", "message"}));
  specs.push_back(Spec("message", "Send a message to a person or group on a channel (e.g. channel \"telegram\", to \"12345\").",
                       {{"channel", Prop("string", "Channel id.")},
                        {"to", Prop("string", "Conversation on that channel.")},
                        {"text", Prop("string", "The message.")}},
                       {"channel", "to", "text"}));
  json::object schedule{{"type", "object"},
                        {"description", "One of {cron: \"m h dom mon dow\", tz?}, {every: \"30m\"}, {at: ISO-8601}."}};
  json::object deliver{{"type", "object"}, {"description", "Send the answer to {channel, to}."}};
  specs.push_back(Spec("cron", "Manage scheduled jobs: list, add, update, remove or run one now.",
                       {{"action", json::object{{"type", "string"}, {"enum", json::array{"list", "add", "update", "remove", "run"}}}},
                        {"id", Prop("string", "Job id (update, remove, run).")},
                        {"name", Prop("string", "Job name (add).")},
                        {"schedule", std::move(schedule)},
                        {"message", Prop("string", "What the agent is asked when the job runs (add).")},
                        {"session", Prop("string", "\"isolated\" (default: a fresh session per run), \"main\" or a session key.")},
                        {"deliver", std::move(deliver)},
                        {"enabled", Prop("boolean", "Enable or disable (update).")}},
                       {"action"}));
  return specs;
}

std::string Capped(const std::string& s, size_t cap) {
  return s.size() <= cap ? s : s.substr(0, cap) + "... [" + std::to_string(s.size() - cap) + " more characters]";
}

agent::ToolOutcome Out(const Result<json::value>& r) {
  if (!r.ok()) return {"error: " + r.error().message, true};
  return {json::serialize(*r), false};
}

tools::ToolLimits LimitsFromConfig(const json::value& root) {
  tools::ToolLimits l;
  auto num = [&](std::string_view path) -> std::optional<int64_t> {
    const json::value* v = FindPath(root, path);
    return v && v->is_int64() ? std::optional(v->as_int64()) : std::nullopt;
  };
  if (const json::value* v = FindPath(root, "tools.exec.security"); v && v->is_string()) l.exec_security = v->as_string();
  if (const json::value* v = FindPath(root, "tools.exec.allowlist"); v && v->is_array())
    for (const auto& p : v->as_array())
      if (p.is_string()) l.exec_allowlist.emplace_back(p.as_string());
  if (auto n = num("tools.exec.timeoutMs")) l.exec_timeout = std::chrono::milliseconds(*n);
  if (auto n = num("tools.exec.maxOutputChars")) l.exec_max_output_chars = static_cast<size_t>(*n);
  if (auto n = num("tools.exec.approvalTimeoutMs")) l.approval_timeout = std::chrono::milliseconds(*n);
  if (auto n = num("tools.webFetch.maxBytes")) l.fetch_max_bytes = static_cast<size_t>(*n);
  if (auto n = num("tools.webFetch.timeoutMs")) l.fetch_timeout = std::chrono::milliseconds(*n);
  if (const json::value* v = FindPath(root, "tools.webFetch.allowPrivateNetwork"); v && v->is_bool())
    l.fetch_allow_private = v->as_bool();
  if (auto n = num("tools.files.maxReadBytes")) l.max_read_bytes = static_cast<size_t>(*n);
  return l;
}

}  // namespace

const std::vector<agent::ToolSpec>& Pipeline::KernelToolSpecs() {
  static const std::vector<agent::ToolSpec> specs = BuildKernelToolSpecs();
  return specs;
}

tools::BuiltinCall Pipeline::BuiltinCallFor(const agent::ToolContext& context) {
  tools::BuiltinCall call;
  call.workspace = SettingsFor(context.agent_id).workspace;
  call.agent_id = context.agent_id;
  call.session_key = context.session_key;
  call.run_id = context.run_id;
  call.limits = LimitsFromConfig(config_root_);
  return call;
}

asio::awaitable<agent::ToolOutcome> Pipeline::InvokeKernelTool(std::string name, json::value input,
                                                               agent::ToolContext context) {
  auto alive = alive_;
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  if (name == "sessions_list") {
    json::object params{{"limit", std::clamp<int64_t>(IntOr(in, "limit", 20), 1, 200)}};
    if (auto ch = Str(in, "channel"); !ch.empty()) params["channelId"] = ch;
    auto ended = in.find("includeEnded");
    if (ended == in.end() || !ended->value().is_bool() || !ended->value().as_bool()) params["active"] = true;
    co_return Out(SessionsList(params));
  }
  if (name == "sessions_history") {
    int64_t limit = std::clamp<int64_t>(IntOr(in, "limit", 20), 1, 100);
    auto r = SessionsHistory(json::object{{"key", Str(in, "sessionKey")}, {"limit", limit}});
    if (!r.ok()) co_return Out(r);
    json::array lines;
    for (const auto& m : r->at("messages").as_array()) {
      const auto& o = m.as_object();
      json::object line{{"seq", o.at("seq")}, {"role", o.at("role")},
                        {"content", Capped(std::string(o.at("content").as_string()), kHistoryContentCap)}};
      if (auto tc = o.if_contains("toolCalls")) line["toolCalls"] = *tc;
      lines.push_back(std::move(line));
    }
    co_return agent::ToolOutcome{json::serialize(json::object{{"sessionKey", Str(in, "sessionKey")}, {"messages", std::move(lines)}}), false};
  }
  if (name == "sessions_send") co_return co_await SessionsSendTool(std::move(input), std::move(context));
  if (name == "message") {
    std::string channel = Str(in, "channel"), to = Str(in, "to"), text = Str(in, "text");
    if (channel.empty() || to.empty() || text.empty())
      co_return agent::ToolOutcome{"error: channel, to and text are required", true};
    co_return Out(Dispatch(json::object{{"sessionKey", channel + ":" + to}, {"content", text},
                                        {"metadata", json::object{{"fromSession", context.session_key}}}}));
  }
  if (name == "cron") {
    std::string action = Str(in, "action");
    json::object params = in;
    params.erase("action");
    if (action == "list") co_return Out(cron_->List(params));
    if (action == "add") {
      if (!params.contains("agentId")) params["agentId"] = context.agent_id;
      if (!params.contains("session")) params["session"] = "isolated";
      co_return Out(cron_->Add(params));
    }
    if (action == "update") co_return Out(cron_->Update(params));
    if (action == "remove") co_return Out(cron_->Remove(params));
    if (action == "run") co_return Out(cron_->RunNow(params));
    co_return agent::ToolOutcome{"error: action must be list, add, update, remove or run", true};
  }
  co_return agent::ToolOutcome{"error: no kernel tool " + name, true};
}

// sessions_send: the message becomes the target session's next user message and runs there.
asio::awaitable<agent::ToolOutcome> Pipeline::SessionsSendTool(json::value input, agent::ToolContext context) {
  auto alive = alive_;
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  std::string key = Str(in, "sessionKey"), message = Str(in, "message");
  if (key.empty() || message.empty()) co_return agent::ToolOutcome{"error: sessionKey and message are required", true};
  if (key == context.session_key)
    co_return agent::ToolOutcome{"error: a session cannot send to itself (its turn is the one running)", true};
  auto found = FindSession(key);
  if (!found.ok() || !*found) co_return agent::ToolOutcome{"error: no active session " + key, true};
  SyntheticRun spec;
  spec.session_key = (*found)->key;
  spec.agent_id = (*found)->agent_id;
  spec.kind = (*found)->kind;
  spec.origin = "session";
  spec.message = message;
  spec.metadata = json::object{{"fromSession", context.session_key}, {"fromAgent", context.agent_id}};
  auto run_id = QueueSynthetic(spec);
  if (!run_id.ok()) co_return agent::ToolOutcome{"error: " + run_id.error().message, true};
  int64_t wait_s = std::clamp<int64_t>(IntOr(in, "waitSeconds", 0), 0, 300);
  if (wait_s == 0)
    co_return agent::ToolOutcome{json::serialize(json::object{{"runId", std::to_string(*run_id)}, {"status", "queued"}}), false};
  auto done = co_await AwaitRun(*run_id, std::chrono::seconds(wait_s));
  if (!*alive) co_return agent::ToolOutcome{"error: the gateway is stopping", true};
  if (!done)
    co_return agent::ToolOutcome{json::serialize(json::object{{"runId", std::to_string(*run_id)}, {"status", "running"}}), false};
  co_return agent::ToolOutcome{json::serialize(*done), false};
}

std::string Pipeline::SystemPromptFor(const agent::AgentSettings& settings, const json::value& metadata, int64_t now_ms) {
  PromptCache& cache = prompt_cache_[settings.id];
  if (cache.built_at_ms == 0 || now_ms - cache.built_at_ms > kPromptRefreshMs) {
    cache.bootstrap = agent::ReadBootstrapFiles(settings.workspace);
    cache.skills = agent::DiscoverSkills({{settings.workspace / "skills", "workspace"}, {paths_.home / "skills", "home"}},
                                         config::ProcessEnv());
    cache.built_at_ms = now_ms;
  }
  agent::PromptParts parts;
  parts.agent_prompt = settings.system_prompt;  // base instructions + the agent's own
  parts.bootstrap = cache.bootstrap;
  parts.skills = cache.skills;
  parts.enabled_skills = settings.skills;
  parts.workspace = settings.workspace.string();
  parts.runtime_facts = agent::RuntimeFacts(metadata, now_ms);
  return agent::AssembleSystemPrompt(parts);
}

void Pipeline::PrepareWorkspaces() {
  std::vector<std::string> ids{"default"};
  if (const json::value* agents = FindPath(config_root_, "agents"); agents && agents->is_object())
    for (const auto& [id, v] : agents->as_object())
      if (v.is_object() && id != "default") ids.emplace_back(id);
  std::set<std::filesystem::path> done;
  for (const auto& id : ids) {
    std::filesystem::path dir = SettingsFor(id).workspace;
    if (!done.insert(dir).second) continue;
    auto created = agent::EnsureWorkspace(dir);
    if (!created.ok()) spdlog::error("agent {}: workspace {}: {}", id, dir.string(), created.error().message);
    else if (!created->empty()) spdlog::info("agent {}: created workspace files in {}", id, dir.string());
  }
}

}  // namespace oc::kernel
