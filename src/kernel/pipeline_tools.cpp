// The kernel's own agent tools (SPEC §8.3: sessions_list, sessions_history, sessions_send, message,
// cron), the limits of the built-in tools, and the system prompt of a run (workspace files, skills).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "agent/system_prompt.h"
#include "kernel/pipeline.h"
#include "kernel/pipeline_params.h"

namespace oc::kernel {
using internal::IntOr;
using internal::Prop;
using internal::Str;
namespace {

constexpr int64_t kPromptRefreshMs = 5000;  // workspace files and skills are re-read at most this often
constexpr size_t kHistoryContentCap = 2000;
constexpr int64_t kMaxSendDepth = 3;

std::vector<agent::ToolSpec> BuildKernelToolSpecs() {
  std::vector<agent::ToolSpec> specs;
  specs.push_back(internal::ToolSpecOf("sessions_list", "List conversations (sessions) of this assistant, most recent first.",
                       {{"limit", Prop("integer", "At most this many (default 20).")},
                        {"channel", Prop("string", "Only sessions on this channel.")},
                        {"includeEnded", Prop("boolean", "Also list ended (reset) sessions.")}}));
  specs.push_back(internal::ToolSpecOf("sessions_history", "Read the latest messages of a session.",
                       {{"sessionKey", Prop("string", "Session key from sessions_list.")},
                        {"limit", Prop("integer", "How many of the latest messages (default 20, at most 100).")}},
                       {"sessionKey"}));
  specs.push_back(internal::ToolSpecOf("sessions_send",
                       "Send a message into another session; its agent answers there. Optionally wait for the answer.",
                       {{"sessionKey", Prop("string", "Target session key.")},
                        {"message", Prop("string", "The message.")},
                        {"waitSeconds", Prop("integer", "Wait up to this long for the answer (0-300, default 0).")}},
                       {"sessionKey", "message"}));
  specs.push_back(internal::ToolSpecOf("message", "Send a message to a person or group on a channel (e.g. channel \"telegram\", to \"12345\").",
                       {{"channel", Prop("string", "Channel id.")},
                        {"to", Prop("string", "Conversation on that channel.")},
                        {"text", Prop("string", "The message.")}},
                       {"channel", "to", "text"}));
  json::object schedule{{"type", "object"},
                        {"description", "One of {cron: \"m h dom mon dow\", tz?}, {every: \"30m\"}, {at: ISO-8601}."}};
  json::object deliver{{"type", "object"}, {"description", "Send the answer to {channel, to}."}};
  specs.push_back(internal::ToolSpecOf("cron", "Manage scheduled jobs: list, add, update, remove or run one now.",
                       {{"action", json::object{{"type", "string"}, {"enum", json::array{"list", "add", "update", "remove", "run"}}}},
                        {"id", Prop("string", "Job id (update, remove, run).")},
                        {"name", Prop("string", "Job name (add).")},
                        {"schedule", std::move(schedule)},
                        {"message", Prop("string", "What the agent is asked when the job runs (add).")},
                        {"session", Prop("string", "\"isolated\" (default: a fresh session per run), \"main\" or a session key.")},
                        {"deliver", std::move(deliver)},
                        {"enabled", Prop("boolean", "Enable or disable (update).")}},
                       {"action"}));
  specs.push_back(internal::ToolSpecOf("canvas",
                       "Show a web page to the user on the canvas (the Control UI's canvas view). action \"present\": "
                       "html is a whole page, shown at once; \"show\": path names a file under canvas/ in your "
                       "workspace (with its CSS, scripts and images beside it); \"clear\": empty the canvas. "
                       "Pages run sandboxed: scripts work, the gateway's data is out of reach.",
                       {{"action", json::object{{"type", "string"}, {"enum", json::array{"present", "show", "clear"}}}},
                        {"html", Prop("string", "The page (present).")},
                        {"path", Prop("string", "File under canvas/, e.g. \"report.html\" (show).")},
                        {"title", Prop("string", "A short title for the page (present, show).")}},
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

// What the sessions tools of a run may see: the calling agent's sessions, except that a run in a
// group conversation sees only its own session (a group member must not be able to read the
// owner's direct messages through the agent).
struct Pipeline::SessionScope {
  std::string agent_id;
  std::optional<int64_t> only_session;  // set for group sessions
  int64_t caller_session = 0;
};

Pipeline::SessionScope Pipeline::ScopeOf(const agent::ToolContext& context) {
  SessionScope scope{context.agent_id, std::nullopt, 0};
  if (auto s = sessions_.Get(context.session_key); s.ok() && *s) {
    scope.caller_session = (*s)->id;
    if ((*s)->kind == "group") scope.only_session = (*s)->id;
  }
  return scope;
}

Result<sessions::SessionEntry> Pipeline::VisibleSession(const SessionScope& scope, const std::string& key) {
  auto found = FindSession(key);
  if (!found.ok()) return found.error();
  bool visible = *found && (*found)->agent_id == scope.agent_id &&
                 (!scope.only_session || (*found)->id == *scope.only_session);
  if (!visible) return MakeError(ErrorCode::kNotFound, "no session " + key + " visible to this agent");
  return **found;
}

asio::awaitable<agent::ToolOutcome> Pipeline::InvokeKernelTool(std::string name, json::value input,
                                                               agent::ToolContext context) {
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  SessionScope scope = ScopeOf(context);
  if (name == "sessions_list") {
    json::object params{{"limit", std::clamp<int64_t>(IntOr(in, "limit", 20), 1, 200)}, {"agentId", scope.agent_id}};
    if (auto ch = Str(in, "channel"); !ch.empty()) params["channelId"] = ch;
    auto ended = in.find("includeEnded");
    if (ended == in.end() || !ended->value().is_bool() || !ended->value().as_bool()) params["active"] = true;
    auto listed = SessionsList(params);
    if (listed.ok() && scope.only_session) {
      json::array own;
      for (const auto& e : listed->at("sessions").as_array())
        if (e.at("id").to_number<int64_t>() == *scope.only_session) own.push_back(e);
      listed = json::value(json::object{{"sessions", std::move(own)}});
    }
    co_return Out(listed);
  }
  if (name == "sessions_history") {
    auto target = VisibleSession(scope, Str(in, "sessionKey"));
    if (!target.ok()) co_return agent::ToolOutcome{"error: " + target.error().message, true};
    int64_t limit = std::clamp<int64_t>(IntOr(in, "limit", 20), 1, 100);
    auto r = SessionsHistory(json::object{{"key", target->key}, {"limit", limit}});
    if (!r.ok()) co_return Out(r);
    json::array lines;
    for (const auto& m : r->at("messages").as_array()) {
      const auto& o = m.as_object();
      json::object line{{"seq", o.at("seq")}, {"role", o.at("role")},
                        {"content", Capped(std::string(o.at("content").as_string()), kHistoryContentCap)}};
      if (auto tc = o.if_contains("toolCalls")) line["toolCalls"] = *tc;
      lines.push_back(std::move(line));
    }
    co_return agent::ToolOutcome{json::serialize(json::object{{"sessionKey", target->key}, {"messages", std::move(lines)}}), false};
  }
  if (name == "sessions_send") co_return co_await SessionsSendTool(std::move(input), std::move(context));
  if (name == "message") {
    std::string channel = Str(in, "channel"), to = Str(in, "to"), text = Str(in, "text");
    if (channel.empty() || to.empty() || text.empty())
      co_return agent::ToolOutcome{"error: channel, to and text are required", true};
    co_return Out(Dispatch(json::object{{"sessionKey", channel + ":" + to}, {"content", text},
                                        {"metadata", json::object{{"fromSession", context.session_key}}}}));
  }
  if (name == "cron") co_return CronTool(in, context);
  if (name == "canvas") co_return co_await CanvasTool(std::move(input), std::move(context));
  co_return agent::ToolOutcome{"error: no kernel tool " + name, true};
}

// The cron tool acts for the calling agent only: its jobs, its sessions.
agent::ToolOutcome Pipeline::CronTool(const json::object& in, const agent::ToolContext& context) {
  std::string action = Str(in, "action");
  json::object params = in;
  params.erase("action");
  const std::string& agent_id = context.agent_id;
  if (action == "list") {
    params["agentId"] = agent_id;
    return Out(cron_->List(params));
  }
  if (action == "add") {
    params["agentId"] = agent_id;
    std::string session = Str(params, "session");
    if (session.empty()) params["session"] = session = "isolated";
    if (session != "isolated" && session != "main" && session.rfind("agent:" + agent_id + ":", 0) != 0)
      return {"error: session must be \"isolated\", \"main\" or one of this agent's session keys (agent:" + agent_id + ":...)", true};
    return Out(cron_->Add(params));
  }
  if (action != "update" && action != "remove" && action != "run")
    return {"error: action must be list, add, update, remove or run", true};
  auto own = cron_->List(json::object{{"agentId", agent_id}});
  bool mine = false;
  if (own.ok())
    for (const auto& job : own->at("jobs").as_array()) mine = mine || job.at("id") == json::value(Str(params, "id"));
  if (!mine) return {"error: no job " + Str(params, "id") + " of this agent", true};
  if (action == "update") {
    if (params.contains("agentId")) return {"error: a job cannot be moved to another agent", true};
    if (params.contains("session")) return {"error: the session of a job cannot be changed here; remove it and add it again", true};
    return Out(cron_->Update(params));
  }
  return Out(action == "remove" ? cron_->Remove(params) : cron_->RunNow(params));
}

// How many sessions_send hops led to run `run_id` (0 for a message a person wrote).
int64_t Pipeline::SendDepthOf(const std::string& run_id) {
  int64_t id = 0;
  if (std::from_chars(run_id.data(), run_id.data() + run_id.size(), id).ec != std::errc()) return 0;
  auto run = runs_.Get(id);
  if (!run.ok() || !*run || !(*run)->message_id) return 0;
  auto m = sessions_.GetMessage(*(*run)->message_id);
  if (!m.ok() || !*m || !(*m)->metadata.is_object()) return 0;
  return IntOr((*m)->metadata.as_object(), "sendDepth", 0);
}

// sessions_send: the message becomes the target session's next user message and runs there. Sends
// chain (A asks B, B asks C...) at most kMaxSendDepth deep, so two sessions cannot loop forever.
asio::awaitable<agent::ToolOutcome> Pipeline::SessionsSendTool(json::value input, agent::ToolContext context) {
  auto alive = alive_;
  const json::object empty;
  const json::object& in = input.is_object() ? input.as_object() : empty;
  std::string key = Str(in, "sessionKey"), message = Str(in, "message");
  if (key.empty() || message.empty()) co_return agent::ToolOutcome{"error: sessionKey and message are required", true};
  SessionScope scope = ScopeOf(context);
  if (scope.only_session) co_return agent::ToolOutcome{"error: a group conversation cannot send to other sessions", true};
  auto target = VisibleSession(scope, key);
  if (!target.ok()) co_return agent::ToolOutcome{"error: " + target.error().message, true};
  if (target->id == scope.caller_session)
    co_return agent::ToolOutcome{"error: a session cannot send to itself (its turn is the one running)", true};
  int64_t depth = SendDepthOf(context.run_id) + 1;
  if (depth > kMaxSendDepth)
    co_return agent::ToolOutcome{"error: too many sessions_send hops in a row (at most " + std::to_string(kMaxSendDepth) + ")", true};
  SyntheticRun spec;
  spec.session_key = target->key;
  spec.agent_id = target->agent_id;
  spec.kind = target->kind;
  spec.origin = "session";
  spec.message = message;
  spec.metadata = json::object{{"fromSession", context.session_key}, {"fromAgent", context.agent_id}, {"sendDepth", depth}};
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

// Reading the workspace files and scanning the skill directories is blocking file I/O: it runs on
// the worker pool, at most every kPromptRefreshMs per agent, and the loop keeps serving meanwhile.
asio::awaitable<void> Pipeline::RefreshPromptParts(agent::AgentSettings settings) {
  auto alive = alive_;
  if (auto it = prompt_cache_.find(settings.id);
      it != prompt_cache_.end() && NowMs() - it->second.built_at_ms <= kPromptRefreshMs)
    co_return;
  std::filesystem::path workspace = settings.workspace, home_skills = paths_.home / "skills";
  auto load = [workspace, home_skills]() -> asio::awaitable<PromptCache> {
    co_return LoadPromptParts(workspace, home_skills);
  };
  PromptCache parts = co_await asio::co_spawn(workers_, load, asio::use_awaitable);
  if (!*alive) co_return;
  prompt_cache_[settings.id] = std::move(parts);
}

Pipeline::PromptCache Pipeline::LoadPromptParts(const std::filesystem::path& workspace,
                                                const std::filesystem::path& home_skills) {
  PromptCache parts;
  parts.bootstrap = agent::ReadBootstrapFiles(workspace);
  parts.skills = agent::DiscoverSkills({{workspace / "skills", "workspace"}, {home_skills, "home"}}, config::ProcessEnv());
  parts.built_at_ms = NowMs();
  return parts;
}

std::string Pipeline::SystemPromptFor(const agent::AgentSettings& settings, const json::value& metadata, int64_t now_ms) {
  auto it = prompt_cache_.find(settings.id);
  if (it == prompt_cache_.end())  // not refreshed yet (a /status before any run): read now, once
    it = prompt_cache_.emplace(settings.id, LoadPromptParts(settings.workspace, paths_.home / "skills")).first;
  const PromptCache& cache = it->second;
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
