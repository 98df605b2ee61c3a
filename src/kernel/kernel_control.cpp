// Control-plane methods of the kernel (SPEC §11): health, status, apps.*, logs.tail, config.get.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "kernel/kernel.h"
#include "kernel/log_buffer.h"
#include "protocol/hooks.h"

namespace oc::kernel {
namespace {

Result<std::string> RequiredId(const json::value& params) {
  const auto* o = params.if_object();
  auto id = o ? GetString(*o, "id") : std::nullopt;
  if (!id) return MakeError(ErrorCode::kInvalidParams, "params.id: is required", json::object{{"path", "params.id"}});
  return std::string(*id);
}

// logs.tail / apps.logs: `lines` (how many; default 200 for the last lines, 1000 = everything kept
// when following) and `after` (the `next` of an earlier answer: only lines logged since).
struct LogRangeParams {
  std::optional<uint64_t> after;
  size_t lines = 200;
};

Result<LogRangeParams> LogRange(const json::value& params) {
  LogRangeParams r;
  const auto* o = params.if_object();
  if (!o) return r;
  if (const auto* a = o->if_contains("after")) {
    if (!a->is_int64() || a->as_int64() < 0)
      return MakeError(ErrorCode::kInvalidParams, "params.after: must be a non-negative integer",
                       json::object{{"path", "params.after"}});
    r.after = static_cast<uint64_t>(a->as_int64());
    r.lines = 1000;
  }
  if (auto n = GetInt(*o, "lines"); n && *n > 0) r.lines = static_cast<size_t>(*n);
  return r;
}

json::value StringArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::value Declared(const registry::Manifest& m) {
  return json::object{
      {"channels", StringArray(m.channels_provides)},  {"tools", StringArray(m.tools_provides)},
      {"hooksSubscribe", StringArray(m.hooks_subscribes)}, {"hooksIntercept", StringArray(m.hooks_intercepts)},
      {"gatewayMethods", StringArray(m.gateway_methods)}, {"httpRoutes", StringArray(m.http_routes)},
      {"providers", StringArray(m.providers_provides)}, {"env", StringArray(m.env)}};
}

}  // namespace

json::value Kernel::HealthJson() const {
  size_t ready = 0, total = 0;
  if (supervisor_)
    for (const auto& st : supervisor_->List()) {
      ++total;
      if (st.state == supervisor::AppState::kReady) ++ready;
    }
  return json::object{{"ok", true},
                      {"version", protocol::kKernelVersion},
                      {"uptimeMs", NowMs() - started_at_ms_},
                      {"apps", json::object{{"ready", ready}, {"total", total}}}};
}

json::value Kernel::StatusJson() const {
  json::array apps;
  if (supervisor_)
    for (const auto& st : supervisor_->List()) apps.push_back(st.ToJson());
  auto gw = config_.gateway();
  return json::object{{"version", protocol::kKernelVersion},
                      {"protocolVersion", protocol::kProtocolVersion},
                      {"pid", ::getpid()},
                      {"uptimeMs", NowMs() - started_at_ms_},
                      {"home", options_.paths.home.string()},
                      {"socket", options_.paths.socket.string()},
                      {"gateway", json::object{{"host", gw.host}, {"port", gateway_port()}}},
                      {"connections", ipc_ ? ipc_->connection_count() : 0},
                      {"packages", packages_.size()},
                      {"apps", std::move(apps)}};
}

void Kernel::RegisterControlMethods() {
  RegisterPipelineMethods();
  RegisterAgentMethods();
  RegisterAuditMethods();  // kernel_audit.cpp
  using Params = json::value;
  using Client = gateway::ClientInfo;
  auto& c = *control_;
  c.AddHttpGet("/health", [this] { return HealthJson(); });

  c.AddMethod("health", [this](const Client&, Params) -> asio::awaitable<Result<json::value>> { co_return HealthJson(); });
  c.AddMethod("status", [this](const Client&, Params) -> asio::awaitable<Result<json::value>> { co_return StatusJson(); });

  c.AddMethod("apps.list", [this](const Client&, Params) -> asio::awaitable<Result<json::value>> {
    json::array apps;
    for (const auto& p : packages_) apps.push_back(AppSummary(p));
    co_return json::object{{"apps", std::move(apps)}};
  });

  c.AddMethod("apps.info", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    const auto* pkg = FindPackage(*id);
    if (!pkg) co_return MakeError(ErrorCode::kNotFound, "no app " + *id);
    json::object info = AppSummary(*pkg).as_object();
    info["manifest"] = pkg->manifest.raw;
    info["declared"] = Declared(pkg->manifest);
    info["granted"] = GrantsOf(*pkg).ToJson();
    info["capabilities"] = capabilities_.ListFor(*id);
    if (auto it = sessions_.find(*id); it != sessions_.end()) {
      info["connected"] = !it->second.connection.expired();
      info["hooks"] = StringArray(bus_.SubscriptionsOf(*id));
    }
    co_return info;
  });

  c.AddMethod("apps.logs", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    auto range = LogRange(params);
    if (!range.ok()) co_return range.error();
    auto logs = supervisor_->ReadLogs(*id, range->after, range->lines);
    if (!logs) co_return MakeError(ErrorCode::kNotFound, "no app " + *id);
    json::object out{{"id", *id}, {"lines", StringArray(logs->lines)}, {"next", logs->next}};
    if (logs->skipped) out["skipped"] = logs->skipped;
    co_return out;
  });

  c.AddMethod("apps.start", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    Status s = supervisor_->Start(*id);
    if (!s.ok()) co_return s.error();
    co_return json::object{{"ok", true}};
  });

  c.AddMethod("apps.stop", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    Status s = co_await supervisor_->Stop(*id, "stopped by user");
    if (!s.ok()) co_return s.error();
    co_return json::object{{"ok", true}};
  });

  c.AddMethod("apps.restart", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    Status s = co_await supervisor_->Restart(*id);
    if (!s.ok()) co_return s.error();
    co_return json::object{{"ok", true}};
  });

  c.AddMethod("apps.install", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    const auto* o = params.if_object();
    auto path = o ? GetString(*o, "path") : std::nullopt;
    if (!path) co_return MakeError(ErrorCode::kInvalidParams, "params.path: is required", json::object{{"path", "params.path"}});
    auto installed = registry::InstallPackage(std::string(*path), options_.paths.packages, options_.shipped_packages);
    if (!installed.ok()) co_return installed.error();
    const std::string id = installed->manifest.id;
    if (supervisor_->Has(id)) {
      if (auto st = supervisor_->Get(id); st && st->state != supervisor::AppState::kStopped &&
                                          st->state != supervisor::AppState::kError)
        (void)co_await supervisor_->Stop(id, "reinstalled");
      (void)supervisor_->Remove(id);
    }
    std::erase_if(packages_, [&](const registry::Package& p) { return p.manifest.id == id; });
    packages_.push_back(std::move(installed).value());
    const auto& pkg = packages_.back();
    bool started = false;
    if (pkg.manifest.type == registry::PackageType::kApp) {
      auto spec = BuildSpec(pkg);
      if (!spec.ok()) co_return spec.error();
      supervisor_->Add(std::move(spec).value());
      if (AppEnabled(pkg)) started = supervisor_->Start(id).ok();
    }
    spdlog::info("package {} {} installed", id, pkg.manifest.version);
    co_return json::object{{"id", id}, {"version", pkg.manifest.version}, {"dir", pkg.dir.string()}, {"started", started}};
  });

  c.AddMethod("apps.uninstall", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto id = RequiredId(params);
    if (!id.ok()) co_return id.error();
    const auto* pkg = FindPackage(*id);
    if (!pkg) co_return MakeError(ErrorCode::kNotFound, "no package " + *id);
    if (pkg->shipped) co_return MakeError(ErrorCode::kForbidden, *id + " is shipped with the build and cannot be uninstalled");
    if (supervisor_->Has(*id)) {
      (void)co_await supervisor_->Stop(*id, "uninstalled");
      (void)supervisor_->Remove(*id);
    }
    Status s = registry::UninstallPackage(*id, options_.paths.packages);
    if (!s.ok()) co_return s.error();
    std::erase_if(packages_, [&](const registry::Package& p) { return p.manifest.id == *id; });
    co_return json::object{{"ok", true}};
  });

  c.AddMethod("logs.tail", [](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    auto range = LogRange(params);
    if (!range.ok()) co_return range.error();
    auto tail = KernelLogBuffer()->Read(range->after, range->lines);
    json::object out{{"lines", StringArray(tail.lines)}, {"next", tail.next}};
    if (tail.skipped) out["skipped"] = tail.skipped;
    co_return out;
  });

  // Fires a hook through the real bus (diagnostics for hook apps): intercept hooks run their chain
  // and report the outcome; subscribers are notified either way.
  c.AddMethod("hooks.run", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    const auto* o = params.if_object();
    auto name = o ? GetString(*o, "hook") : std::nullopt;
    const auto* hook = name ? protocol::FindHook(*name) : nullptr;
    if (!hook) co_return MakeError(ErrorCode::kInvalidParams, "params.hook: unknown hook", json::object{{"path", "params.hook"}});
    json::value data = o->contains("data") ? o->at("data") : json::value(json::object());
    json::object context;
    if (const auto* ctx = GetObject(*o, "context")) context = *ctx;
    context["timestamp"] = NowMs();
    json::object out{{"hook", hook->name}};
    if (hook->kind == protocol::HookKind::kIntercept) {
      auto outcome = co_await bus_.RunIntercept(hook->name, data, context);
      out["blocked"] = outcome.blocked;
      if (outcome.blocked) {
        out["reason"] = outcome.reason;
        out["blockedBy"] = outcome.blocked_by;
      }
      out["data"] = outcome.data;
      data = outcome.data;
    }
    bus_.Emit(hook->name, std::move(data), std::move(context));
    co_return out;
  });

  c.AddMethod("config.get", [this](const Client&, Params params) -> asio::awaitable<Result<json::value>> {
    std::string path;
    if (const auto* o = params.if_object()) path = std::string(GetString(*o, "path").value_or(""));
    if (!path.empty() && !config_.Find(path)) co_return MakeError(ErrorCode::kNotFound, "no config value at " + path);
    co_return json::object{{"path", path}, {"value", config_.Redacted(path)}};
  });
}

}  // namespace oc::kernel
