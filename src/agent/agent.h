// The agent interface (SPEC §8.1) and the default agent: a tool loop over an LLM provider
// (SPEC §8.3). Other agents (an in-process C++ agent, an app providing an LLM provider) implement
// the same Agent interface and the kernel runs them the same way.
//
// A run is atomic from the store's point of view: the agent returns the messages it produced
// (assistant turns, tool results) and the kernel stores them together with the run's outcome and
// the reply's outbox entry in one transaction. A run interrupted by a crash is run again from the
// start; nothing of the interrupted attempt is visible.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/failover.h"
#include "agent/llm.h"
#include "common/json.h"
#include "hooks/hook_bus.h"

namespace oc::agent {

// What the agent sees of the world: tools to call, and where to report progress.
struct ToolContext {
  std::string session_key;
  std::string run_id;
  std::string agent_id;
};

struct ToolOutcome {
  std::string output;
  bool is_error = false;
};

class ToolHost {
 public:
  virtual ~ToolHost() = default;
  // Tools available to this agent (after its tools.allow / tools.deny policy).
  virtual std::vector<ToolSpec> ToolsFor(const std::string& agent_id) = 0;
  // Runs a tool. Unknown or unavailable tools come back as an error outcome, never as an exception.
  virtual asio::awaitable<ToolOutcome> Invoke(std::string name, json::value input, ToolContext context) = 0;
};

// Progress of a run, for the control plane's `agent` events. All optional.
struct RunObserver {
  std::function<void(std::string_view delta)> on_text;
  std::function<void(const std::string& model)> on_attempt;  // a model call starts (text so far is void)
  std::function<void(const ToolCall& call)> on_tool_call;
  std::function<void(const ToolCall& call, const ToolOutcome& outcome)> on_tool_result;
};

struct CompactionSettings {
  bool enabled = true;            // agents.<id>.compaction.strategy != "off"
  double threshold = 0.8;         // share of the context window
  int64_t keep_recent_tokens = 8000;
};

struct AgentSettings {
  std::string id = "default";
  std::vector<std::string> models;  // primary first, then fallbackModels
  std::string system_prompt;        // assembled by the kernel
  std::filesystem::path workspace;  // where the file tools and exec work (SPEC §8.1)
  std::vector<std::string> skills;  // agents.<id>.skills: the skills listed (empty = all eligible)
  CompactionSettings compaction;
  int max_turns = 100;
  size_t max_tool_result_chars = 100000;
  RetryPolicy retry;
};

struct RunInput {
  std::string run_id;
  std::string session_key;
  std::vector<ChatMessage> history;  // the session so far, the new user message last
  json::value metadata;              // the inbound message's metadata
};

struct RunResult {
  bool success = false;
  std::string text;                    // the final answer
  std::vector<ChatMessage> produced;   // assistant and tool messages, in order
  std::vector<TokenUsage> usage_per_message;  // parallel to `produced` (zeros for tool messages)
  std::vector<Attempt> attempts;
  std::string model;
  TokenUsage usage;
  std::string error;
  bool blocked = false;  // an interceptor (before_agent_start) stopped the run: nothing to say
  int turns = 0;
};

class Agent {
 public:
  virtual ~Agent() = default;
  virtual asio::awaitable<RunResult> Run(const AgentSettings& settings, RunInput input, RunObserver observer) = 0;
};

// The default agent: alternates model calls (with failover) and tool calls until the model answers
// without tools or max_turns is reached. Fires llm_input, llm_output (subscribe), before_tool_call
// (intercept: block → the tool is not run and the model is told it was blocked; modify → rewritten
// input), tool_result_persist (intercept: may rewrite the result), after_tool_call (subscribe).
// Tool results longer than max_tool_result_chars are cut with a marker.
std::unique_ptr<Agent> MakeLlmAgent(hooks::HookBus& bus, ToolHost& tools, ProviderLookup providers);

}  // namespace oc::agent
