// The agent runtime's control-plane methods (approvals.*, cron.*) and the skill and extension
// packages loaded in-process (SPEC §10).
#include <spdlog/spdlog.h>

#include "kernel/kernel.h"

namespace oc::kernel {
namespace {

Result<std::string> RequiredString(const json::value& params, std::string_view key) {
  const auto* o = params.if_object();
  auto v = o ? GetString(*o, key) : std::nullopt;
  if (!v || v->empty())
    return MakeError(ErrorCode::kInvalidParams, "params." + std::string(key) + ": is required",
                     json::object{{"path", "params." + std::string(key)}});
  return std::string(*v);
}

}  // namespace

void Kernel::RegisterAgentMethods() {
  using Params = json::value;
  using Client = gateway::ClientInfo;
  auto& c = *control_;
  tools::ApprovalBroker& approvals = pipeline_->approvals();
  approvals.on_requested = [this](const tools::ApprovalRequest& r) {
    spdlog::info("approval {} requested: {} (agent {}, session {})", r.id, r.command, r.agent_id, r.session_key);
    AuditApprovalRequested(r);
    BroadcastEvent("approval", json::object{{"phase", "requested"}, {"request", tools::ApprovalToJson(r)}});
  };
  approvals.on_resolved = [this](const json::value& resolution) {
    spdlog::info("approval resolved: {}", json::serialize(resolution));
    AuditApprovalResolved(resolution);
    json::object e = resolution.is_object() ? resolution.as_object() : json::object();
    e["phase"] = "resolved";
    BroadcastEvent("approval", std::move(e));
  };

  c.AddMethod("approvals.list", [this](const Client&, Params) -> asio::awaitable<Result<json::value>> {
    json::array pending;
    for (const auto& r : pipeline_->approvals().Pending()) pending.push_back(tools::ApprovalToJson(r));
    co_return json::object{{"pending", std::move(pending)}};
  });
  c.AddMethod("approvals.resolve", [this](const Client& client, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredString(params, "id");
    if (!id.ok()) co_return id.error();
    auto decision = RequiredString(params, "decision");
    if (!decision.ok()) co_return decision.error();
    if (*decision != "approve" && *decision != "deny")
      co_return MakeError(ErrorCode::kInvalidParams, "params.decision: must be \"approve\" or \"deny\"",
                          json::object{{"path", "params.decision"}});
    std::string reason;
    if (auto r = GetString(params.as_object(), "reason")) reason = std::string(*r);
    Status st = pipeline_->approvals().Resolve(*id, *decision == "approve", client.name, reason);
    if (!st.ok()) co_return st.error();
    co_return json::object{{"id", *id}, {"decision", *decision}};
  });

  using CronFn = Result<json::value> (cron::CronService::*)(const json::value&);
  auto add_cron = [this, &c](std::string name, CronFn fn) {
    c.AddMethod(std::move(name), [this, fn](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
      co_return (pipeline_->cron().*fn)(params);
    });
  };
  add_cron("cron.list", &cron::CronService::List);
  add_cron("cron.add", &cron::CronService::Add);
  add_cron("cron.update", &cron::CronService::Update);
  add_cron("cron.remove", &cron::CronService::Remove);
  add_cron("cron.run", &cron::CronService::RunNow);
}

// Skill and extension packages run in the kernel's process, so only trusted ones load (the host
// refuses the rest with the reason); a refusal is logged and shown by `apps info`, never fatal.
void Kernel::LoadExtensions() {
  extensions_ = std::make_unique<extensions::ExtensionHost>(io_.get_executor(), pipeline_->workers(), bus_);
  for (const auto& pkg : packages_) {
    auto type = pkg.manifest.type;
    if (type != registry::PackageType::kSkill && type != registry::PackageType::kExtension) continue;
    if (!AppEnabled(pkg)) continue;
    Status st = extensions_->Load(pkg, GrantsOf(pkg));
    if (!st.ok()) {
      extension_errors_[pkg.manifest.id] = st.error().message;
      spdlog::error("{} {} not loaded: {}", registry::PackageTypeName(type), pkg.manifest.id, st.error().message);
      continue;
    }
    spdlog::info("{} {} loaded", registry::PackageTypeName(type), pkg.manifest.id);
  }
  for (const auto& method : extensions_->Methods()) {
    if (control_->HasMethod(method)) {  // the kernel's own methods cannot be replaced
      spdlog::error("extension method {} not exposed: the name is taken", method);
      continue;
    }
    control_->AddMethod(method, [this, method](const gateway::ClientInfo&, json::value params)
                                    -> asio::awaitable<Result<json::value>> {
      co_return co_await extensions_->CallMethod(method, std::move(params));
    });
  }
}

}  // namespace oc::kernel
