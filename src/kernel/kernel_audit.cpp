// The audit log's kernel side (issue 8): the rows the kernel writes where things happen (app
// registrations and refusals, capability grants and denials, exec approvals, config changes,
// gateway authentication failures) and the control method `audit.list`.
//
// Rows go to the kernel's own state.db connection (Pipeline::database()), on the loop thread. A row
// that cannot be written is logged and otherwise ignored: auditing never fails the operation.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "audit/audit.h"
#include "kernel/kernel.h"

namespace oc::kernel {
namespace {

// "<section>:<name>" for every entry of `names` (the shape apps.<id>.grants uses).
void AddEntries(json::array& out, std::string_view section, const std::set<std::string>& names) {
  for (const auto& n : names) out.emplace_back(std::string(section) + ":" + n);
}

// Declared entries of one manifest section that were not granted.
void AddDenied(json::array& out, std::string_view section, const std::vector<std::string>& declared,
               const std::set<std::string>& granted) {
  for (const auto& n : declared)
    if (!granted.count(n)) out.emplace_back(std::string(section) + ":" + n);
}

// {trustLevel, sandboxed, granted: [...], denied: [declared but not granted]}.
json::object GrantDetail(const registry::Manifest& m, const registry::Grants& g) {
  json::array granted, denied;
  AddEntries(granted, "channels", g.channels);
  AddEntries(granted, "channels.requires", g.channels_required);
  AddEntries(granted, "tools", g.tools);
  AddEntries(granted, "hooks.subscribes", g.hooks_subscribe);
  AddEntries(granted, "hooks.intercepts", g.hooks_intercept);
  AddEntries(granted, "gateway.methods", g.gateway_methods);
  AddEntries(granted, "gateway.httpRoutes", g.http_routes);
  AddEntries(granted, "providers", g.providers);
  AddDenied(denied, "channels", m.channels_provides, g.channels);
  AddDenied(denied, "channels.requires", m.channels_requires, g.channels_required);
  AddDenied(denied, "tools", m.tools_provides, g.tools);
  AddDenied(denied, "hooks.subscribes", m.hooks_subscribes, g.hooks_subscribe);
  AddDenied(denied, "hooks.intercepts", m.hooks_intercepts, g.hooks_intercept);
  AddDenied(denied, "gateway.methods", m.gateway_methods, g.gateway_methods);
  AddDenied(denied, "gateway.httpRoutes", m.http_routes, g.http_routes);
  AddDenied(denied, "providers", m.providers_provides, g.providers);
  return json::object{{"trustLevel", registry::TrustLevelName(g.trust)},
                      {"sandboxed", g.sandboxed},
                      {"granted", std::move(granted)},
                      {"denied", std::move(denied)}};
}

// The first word of a command line: enough to say what ran, without arguments that may carry a
// secret (a token on a curl command line).
std::string ProgramOf(std::string_view command) {
  size_t start = command.find_first_not_of(" \t");
  if (start == std::string_view::npos) return "";
  size_t end = command.find_first_of(" \t\n;|&", start);
  return std::string(command.substr(start, end == std::string_view::npos ? end : end - start));
}

}  // namespace

void Kernel::Audit(std::string kind, std::string actor, std::string subject, std::string outcome,
                   json::object detail) {
  if (!pipeline_) return;  // before Start opened the database: nothing to record into
  audit::Event event{std::move(kind), std::move(actor), std::move(subject), std::move(outcome), std::move(detail)};
  if (Status st = audit::Record(pipeline_->database(), event); !st.ok())
    spdlog::warn("audit: {} not recorded: {}", event.kind, st.error().message);
}

namespace {
std::set<std::string> KeysOf(const json::value& a, const json::value& b) {
  std::set<std::string> keys;
  for (const json::value* v : {&a, &b})
    if (v->is_object())
      for (const auto& [k, x] : v->get_object()) keys.insert(std::string(k));
  return keys;
}
const json::value* Member(const json::value& v, const std::string& key) {
  return v.is_object() ? v.get_object().if_contains(key) : nullptr;
}
}  // namespace

// Top-level keys, one level down inside sections (gateway.port, apps.<id>): enough to say what
// changed, never how (no values: they may be secrets).
std::vector<std::string> Kernel::ChangedConfigPaths(const json::value& before, const json::value& after) {
  std::vector<std::string> out;
  for (const auto& key : KeysOf(before, after)) {
    const json::value* x = Member(before, key);
    const json::value* y = Member(after, key);
    if (x && y && *x == *y) continue;
    if (!x || !y || !x->is_object() || !y->is_object()) {
      out.push_back(key);
      continue;
    }
    for (const auto& sub : KeysOf(*x, *y)) {
      const json::value* xs = Member(*x, sub);
      const json::value* ys = Member(*y, sub);
      if (!xs || !ys || *xs != *ys) out.push_back(key + "." + sub);
    }
  }
  return out;
}

// app.register answers are audited here: one app.register (+ capability.granted for a new session)
// or one app.register_refused; every other refused app call is a capability.denied row.
void Kernel::AuditIpcAnswer(const ipc::Connection& conn, std::string_view method, const json::value& params,
                            const Result<json::value>& answer) {
  const json::object* p = params.if_object();
  if (method == "app.register") {
    const json::value* claimed = FindPath(params, "manifest.id");
    std::string id = claimed && claimed->is_string() ? std::string(claimed->get_string()) : "";
    const bool resumed = p && p->contains("resumeToken");
    const char* mode = resumed ? "resumed" : p && p->contains("spawnToken") ? "spawned" : "external";
    json::object detail{{"mode", mode}, {"pid", conn.peer().pid}, {"uid", conn.peer().uid}};
    if (!answer.ok()) {
      detail["code"] = ErrorCodeName(answer.error().code);
      detail["reason"] = answer.error().message;
      Audit("app.register_refused", id, id, "denied", std::move(detail));
      return;
    }
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    detail["trustLevel"] = registry::TrustLevelName(it->second.grants.trust);
    Audit("app.register", id, id, "ok", std::move(detail));
    if (!resumed) Audit("capability.granted", "kernel", id, "ok", GrantDetail(it->second.package.manifest, it->second.grants));
    return;
  }
  const std::string app_id = conn.app_id();
  if (!answer.ok()) {
    ErrorCode code = answer.error().code;
    if (code != ErrorCode::kCapabilityDenied && code != ErrorCode::kForbidden) return;
    Audit("capability.denied", app_id, std::string(method), "denied",
          json::object{{"code", ErrorCodeName(code)}, {"reason", answer.error().message}});
    return;
  }
  const json::object* result = answer->if_object();
  if (!result) return;
  if (method == "capability.register") {
    const json::value* granted = result->if_contains("granted");
    if (!granted || !granted->is_bool() || granted->get_bool()) return;
    json::object detail{{"type", p ? p->at("type") : json::value()}, {"reason", result->contains("reason") ? result->at("reason") : json::value()}};
    if (const json::value* config = p ? p->if_contains("config") : nullptr) detail["config"] = *config;
    Audit("capability.denied", app_id, "capability.register", "denied", std::move(detail));
  } else if (method == "hook.subscribe") {
    const json::value* denied = result->if_contains("denied");
    if (!denied || !denied->is_array() || denied->get_array().empty()) return;
    Audit("capability.denied", app_id, "hook.subscribe", "denied",
          json::object{{"hooks", *denied}, {"reasons", result->contains("reasons") ? result->at("reasons") : json::value()}});
  }
}

void Kernel::AuditApprovalRequested(const tools::ApprovalRequest& r) {
  Audit("approval.requested", "agent:" + r.agent_id, r.id, "ok",
        json::object{{"kind", r.kind}, {"program", ProgramOf(r.command)}, {"sessionKey", r.session_key},
                     {"runId", r.run_id}});
}

void Kernel::AuditApprovalResolved(const json::value& resolution) {
  const json::object* o = resolution.if_object();
  if (!o) return;
  auto decision = GetString(*o, "decision").value_or("");
  const bool approved = decision == "approved";
  std::string by(GetString(*o, "by").value_or(decision == "timeout" ? "timeout" : ""));
  json::object detail{{"decision", decision}};
  if (auto reason = GetString(*o, "reason")) detail["reason"] = *reason;
  Audit(approved ? "approval.approved" : "approval.denied", by, std::string(GetString(*o, "id").value_or("")),
        approved ? "ok" : "denied", std::move(detail));
}

void Kernel::AuditConfigChanged(const json::value& before, const json::value& after) {
  auto changed = ChangedConfigPaths(before, after);
  if (changed.empty()) return;  // the file was touched, nothing changed
  json::array paths;
  for (auto& p : changed) paths.emplace_back(p);
  Audit("config.changed", "kernel", options_.paths.config_file.string(), "ok", json::object{{"paths", std::move(paths)}});
}

// Only the paths: an error message may quote the offending value.
void Kernel::AuditConfigRejected(const Error& error) {
  json::array paths;
  if (const json::object* data = error.data.if_object())
    if (const json::array* errors = GetArray(*data, "errors"))
      for (const auto& e : *errors)
        if (const json::value* path = e.is_object() ? e.get_object().if_contains("path") : nullptr) paths.push_back(*path);
  Audit("config.rejected", "kernel", options_.paths.config_file.string(), "failed",
        json::object{{"paths", std::move(paths)}});
}

void Kernel::RegisterAuditMethods() {
  control_->SetAuthFailureHandler([this](const gateway::AuthFailure& f) {
    Audit("auth.failed", f.surface, f.path, "denied", json::object{{"remote", f.remote}, {"reason", f.reason}});
  });
  // audit.list {limit? (1..1000, default 100), after? (an id: only newer rows), kind? (prefix)}
  // → {entries: [...oldest first], next: the newest id seen (pass it as `after` to follow)}.
  control_->AddMethod("audit.list", [this](const gateway::ClientInfo&, json::value params)
                                        -> asio::awaitable<Result<json::value>> {
    audit::Query q;
    if (const json::object* o = params.if_object()) {
      if (auto limit = GetInt(*o, "limit")) q.limit = std::clamp<int64_t>(*limit, 1, 1000);
      if (auto after = GetInt(*o, "after")) q.after = *after;
      if (auto kind = GetString(*o, "kind")) q.kind_prefix = std::string(*kind);
    }
    auto entries = audit::List(pipeline_->database(), q);
    if (!entries.ok()) co_return entries.error();
    co_return audit::ToPage(*entries, q.after);
  });
}

}  // namespace oc::kernel
