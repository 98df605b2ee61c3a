// `openclaw agent` and `openclaw sessions ...` (SPEC §7.1, §11, §15): clients of the running
// kernel's control plane.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <random>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace oc::cli {
namespace {

// The kernel bounds the run by timeoutMs and answers TIMEOUT itself; the client waits a little
// longer so that answer (with the run id) arrives instead of a client-side timeout.
constexpr auto kAgentCallGrace = std::chrono::seconds(15);
constexpr size_t kClipChars = 200;  // tool arguments and results in `sessions show` without --full

std::string RandomHex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned b = rd() & 0xffu;
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

const json::object* ObjectField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

std::string StrField(const json::object& o, std::string_view key) { return Str(o.if_contains(key)); }

// At most `max` bytes of `s`, cut on a UTF-8 character boundary, "…" appended when cut.
std::string Clip(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "…";
}

// One line: newlines become spaces.
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

std::string LocalTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// "just now", "42s ago", "3m ago", "5h ago" within a day; the local time beyond (or in the future).
std::string When(std::optional<int64_t> when_ms) {
  if (!when_ms) return "-";
  const int64_t ms = *when_ms;
  const int64_t ago = (NowMs() - ms) / 1000;
  if (ago < 0 || ago >= 24 * 3600) return LocalTime(ms);
  if (ago < 5) return "just now";
  if (ago < 60) return std::to_string(ago) + "s ago";
  if (ago < 3600) return std::to_string(ago / 60) + "m ago";
  return std::to_string(ago / 3600) + "h ago";
}

// Does this `agent` event belong to our run? The kernel may prefix the key it stores ("ctl:").
bool IsOurRun(const json::object& payload, const std::string& idempotency, const std::string& run_id) {
  if (auto key = GetString(payload, "idempotencyKey"))
    if (*key == idempotency || *key == "ctl:" + idempotency) return true;
  return !run_id.empty() && StrField(payload, "runId") == run_id;
}

// Prints our run's events on a terminal as they arrive: text deltas as they stream, a line per
// tool call. Returns the text it printed so the caller can tell whether the final answer is out.
struct LiveOutput {
  std::string idempotency;
  std::string run_id;  // from the `accepted` acknowledgement
  std::string streamed;
  bool mid_line = false;

  void OnEvent(const json::value& event) {
    const json::object* frame = event.if_object();
    if (!frame) return;
    if (GetString(*frame, "type") == "res") {  // the two-step answer's first step
      if (const json::object* ack = ObjectField(*frame, "payload")) run_id = StrField(*ack, "runId");
      return;
    }
    if (GetString(*frame, "event") != "agent") return;
    const json::object* payload = ObjectField(*frame, "payload");
    if (!payload || !IsOurRun(*payload, idempotency, run_id)) return;
    const json::object* data = ObjectField(*payload, "data");
    if (!data) return;
    auto stream = GetString(*payload, "stream");
    if (stream == "assistant") {
      std::string delta = StrField(*data, "delta");
      streamed += delta;
      std::cout << delta << std::flush;
      mid_line = !delta.empty() && delta.back() != '\n';
    } else if (stream == "tool" && GetString(*data, "phase") == "start") {
      if (mid_line) std::cout << "\n";
      std::cout << "→ tool " << StrField(*data, "name") << "\n" << std::flush;
      mid_line = false;
      streamed.clear();  // the answer after the tool is what counts
    } else if (stream == "lifecycle" && GetString(*data, "phase") == "attempt" && !streamed.empty()) {
      // a retry or another model: what streamed so far is void
      std::cout << "\n[retrying with " << StrField(*data, "model") << "]\n" << std::flush;
      streamed.clear();
      mid_line = false;
    }
  }
};

json::object AgentParams(const Options& o, const std::string& idempotency) {
  json::object params{{"message", o.message},
                      {"idempotencyKey", idempotency},
                      {"timeoutMs", static_cast<int64_t>(o.timeout_seconds) * 1000}};
  if (!o.agent.empty()) params["agentId"] = o.agent;
  if (!o.session.empty()) params["sessionKey"] = o.session;
  return params;
}

}  // namespace

// The kernel's `agent` method acknowledges the turn at once ({runId, status: "accepted"}) and answers
// again when the run is over; meanwhile it broadcasts `agent` events, which on a terminal are printed
// as they arrive (streaming text, tool calls). ControlClient waits through the acknowledgement.
int CmdAgent(const Options& o) {
  if (o.message.empty()) {
    std::cerr << "openclaw: agent: -m TEXT must not be empty\n";
    return kUsage;
  }
  int rc = kOk;
  auto client = Connect(&rc);
  if (!client) return rc;
  LiveOutput live;
  live.idempotency = RandomHex(16);
  const bool stream = !o.json && isatty(STDOUT_FILENO);
  auto timeout = std::chrono::seconds(o.timeout_seconds) + kAgentCallGrace;
  auto r = stream ? client->CallStreaming("agent", AgentParams(o, live.idempotency),
                                          [&](const json::value& e) { live.OnEvent(e); }, timeout)
                  : client->Call("agent", AgentParams(o, live.idempotency), timeout);
  if (!r.ok()) {
    if (live.mid_line) std::cout << "\n";
    std::cerr << "openclaw: agent: " << r.error().message << "\n";
    return kFail;
  }
  const json::object* result = r->if_object();
  if (!result) {
    std::cerr << "openclaw: agent: unexpected response " << json::serialize(*r) << "\n";
    return kFail;
  }
  const bool failed = GetString(*result, "status") != "ok";
  std::string text = StrField(*result, "text");
  if (o.json) {
    PrintJson(*r);
  } else if (!failed) {
    if (!stream || live.streamed != text) std::cout << (live.mid_line ? "\n" : "") << text;
    std::cout << "\n";
  } else if (live.mid_line) {
    std::cout << "\n";
  }
  if (failed) {
    std::cerr << "openclaw: agent run failed: " << StrField(*result, "error") << "\n";
    return kFail;
  }
  return kOk;
}

int CmdSessionsList(const Options& o) {
  json::object params;
  if (!o.agent.empty()) params["agentId"] = o.agent;
  if (!o.channel.empty()) params["channelId"] = o.channel;
  if (!o.all) params["active"] = true;
  if (o.limit > 0) params["limit"] = o.limit;
  int rc = kOk;
  auto r = Call("sessions.list", std::move(params), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::value* listed = r->is_object() ? r->as_object().if_contains("sessions") : nullptr;
  if (!listed || !listed->is_array() || listed->as_array().empty()) {
    std::cout << (o.all ? "no sessions\n" : "no active sessions\n");
    return kOk;
  }
  std::vector<std::vector<std::string>> rows{{"KEY", "AGENT", "CHANNEL", "MESSAGES", "LAST ACTIVE"}};
  for (const auto& v : listed->as_array()) {
    if (!v.is_object()) continue;
    const auto& s = v.as_object();
    std::string last = When(GetInt(s, "lastActiveAt"));
    if (GetBool(s, "active") == false) last += " (ended)";
    rows.push_back({StrField(s, "key"), StrField(s, "agentId"), StrField(s, "channelId"), StrField(s, "messageCount"),
                    std::move(last)});
  }
  PrintTable(rows);
  const auto total = GetInt(r->as_object(), "total");
  if (total && *total > static_cast<int64_t>(rows.size() - 1))
    std::cout << "(showing " << rows.size() - 1 << " of " << *total << ")\n";
  return kOk;
}

namespace {

void PrintSessionHeader(const json::object& s, size_t shown) {
  std::cout << "session " << StrField(s, "key") << "  (agent " << StrField(s, "agentId") << ", " << StrField(s, "kind");
  if (s.contains("channelId")) std::cout << ", channel " << StrField(s, "channelId");
  std::cout << ")\n  created " << When(GetInt(s, "createdAt")) << " · last active " << When(GetInt(s, "lastActiveAt"))
            << " · " << StrField(s, "messageCount") << " message(s)";
  const auto count = GetInt(s, "messageCount");
  if (count && *count > static_cast<int64_t>(shown))
    std::cout << ", last " << shown << " shown";
  std::cout << "\n";
  if (s.contains("lastAddress")) std::cout << "  replies to " << StrField(s, "lastAddress") << "\n";
  if (s.contains("parentKey"))
    std::cout << "  branched from " << StrField(s, "parentKey") << " at message " << StrField(s, "branchedAt") << "\n";
  if (GetBool(s, "active") == false)
    std::cout << "  ended " << When(GetInt(s, "endedAt")) << " (" << StrField(s, "endReason") << ")\n";
}

// "[seq] role: content", tool calls as "→ name(arguments)", tool results as "tool: ← name: output".
void PrintMessage(const json::object& m, bool full) {
  const std::string prefix = "[" + StrField(m, "seq") + "] ";
  const size_t clip = full ? std::string::npos : kClipChars;
  std::string content(GetString(m, "content").value_or(""));
  if (GetString(m, "role") == "tool") {
    std::string name = m.contains("toolName") ? StrField(m, "toolName") : "?";
    std::cout << prefix << "tool: ← " << name << ": " << (full ? content : Clip(OneLine(content), clip)) << "\n";
    return;
  }
  const std::string head = prefix + StrField(m, "role") + ":";
  const std::string indent(head.size() + 1, ' ');
  std::cout << head;
  bool line_empty = content.empty();
  for (size_t at = 0; (at = content.find('\n', at)) != std::string::npos; at += indent.size() + 1)
    content.insert(at + 1, indent);  // continuation lines line up under the text
  if (!line_empty) std::cout << " " << content;
  const json::value* calls = m.if_contains("toolCalls");
  if (calls && calls->is_array())
    for (const auto& c : calls->as_array()) {
      if (!c.is_object()) continue;
      std::string args = StrField(c.as_object(), "arguments");
      std::cout << (line_empty ? " " : "\n" + indent) << "→ " << StrField(c.as_object(), "name") << "("
                << (full ? args : Clip(OneLine(args), clip)) << ")";
      line_empty = false;
    }
  std::cout << "\n";
}

}  // namespace

int CmdSessionsShow(const Options& o) {
  json::object params{{"key", o.session}};
  if (o.limit > 0) params["limit"] = o.limit;
  int rc = kOk;
  auto r = Call("sessions.history", std::move(params), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* out = r->if_object();
  const json::object* session = out ? ObjectField(*out, "session") : nullptr;
  const json::value* messages = out ? out->if_contains("messages") : nullptr;
  if (!session || !messages || !messages->is_array()) {
    std::cerr << "openclaw: sessions.history: unexpected response " << json::serialize(*r) << "\n";
    return kFail;
  }
  PrintSessionHeader(*session, messages->as_array().size());
  if (!messages->as_array().empty()) std::cout << "\n";
  for (const auto& m : messages->as_array())
    if (m.is_object()) PrintMessage(m.as_object(), o.full);
  return kOk;
}

int CmdSessionsBranch(const Options& o) {
  json::object params{{"key", o.session}};
  if (o.at >= 0) params["atMessage"] = static_cast<int64_t>(o.at);
  int rc = kOk;
  auto r = Call("sessions.branch", std::move(params), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* session = r->is_object() ? ObjectField(r->as_object(), "session") : nullptr;
  std::cout << (session ? StrField(*session, "key") : "-") << "\n";
  return kOk;
}

int CmdSessionsReset(const Options& o) {
  int rc = kOk;
  auto r = Call("sessions.reset", json::object{{"key", o.session}}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::value* ended = r->is_object() ? r->as_object().if_contains("ended") : nullptr;
  if (ended && ended->is_object()) {
    std::cout << "ended session " << StrField(ended->as_object(), "key") << "; the next message starts a new one\n";
  } else if (ended && ended->is_bool() && !ended->as_bool()) {
    std::cout << o.session << ": no active session to reset\n";
  } else {
    std::cout << "reset " << o.session << "\n";
  }
  return kOk;
}

int CmdSessionsDelete(const Options& o) {
  int rc = kOk;
  auto r = Call("sessions.delete", json::object{{"key", o.session}}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::object* out = r->if_object();
  const auto count = out ? GetInt(*out, "deleted") : std::nullopt;
  if (count == 0 || (out && GetBool(*out, "deleted") == false)) {
    std::cerr << "openclaw: no session " << o.session << "\n";
    return kFail;
  }
  std::cout << "deleted " << o.session;
  if (count) std::cout << " (" << *count << " session(s) with their history)";
  std::cout << "\n";
  return kOk;
}

}  // namespace oc::cli
