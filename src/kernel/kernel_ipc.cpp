// The app→kernel IPC methods (SPEC §4.1, §4.2). Every handler checks access first, then acts.
#include <sys/random.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/secure_compare.h"
#include "kernel/app_hook_handler.h"
#include "kernel/kernel.h"
#include "protocol/hooks.h"
#include "registry/manifest.h"

namespace oc::kernel {
namespace {

std::string RandomToken() {
  unsigned char bytes[24];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

Error Refuse(ErrorCode code, std::string message) { return MakeError(code, std::move(message)); }

}  // namespace

// Every kernel method of protocol 1.0 answers without waiting.
std::optional<Result<json::value>> Kernel::HandleNow(const std::shared_ptr<ipc::Connection>& conn,
                                                    const protocol::MethodSpec& method,
                                                    const protocol::Frame& request) {
  auto answer = HandleIpc(conn, method, request);
  AuditIpcAnswer(*conn, method.name, request.params, answer);  // kernel_audit.cpp
  return answer;
}

// The flat command table of the app→kernel methods.
Result<json::value> Kernel::HandleIpc(const std::shared_ptr<ipc::Connection>& conn,
                                      const protocol::MethodSpec& method, const protocol::Frame& request) {
  const json::object& params = request.params.as_object();
  const std::string_view name = method.name;
  if (name == "app.register") return Register(conn, params);

  auto it = sessions_.find(conn->app_id());
  if (it == sessions_.end()) return Refuse(ErrorCode::kAppNotRegistered, "registration expired");
  // Only the session's current connection speaks for the app (not one it replaced).
  if (it->second.connection.lock() != conn)
    return Refuse(ErrorCode::kAppNotRegistered, "this connection no longer speaks for " + conn->app_id());
  AppSession& s = it->second;
  const std::string& id = s.app_id;
  const bool supervised = !s.external && supervisor_ && supervisor_->Has(id);

  if (name == "app.heartbeat") {
    if (supervised) supervisor_->OnHeartbeat(id);
    return json::object{{"ok", true}, {"serverTime", NowMs()}};
  }
  if (name == "app.ready") {
    if (supervised) supervisor_->OnReady(id);
    spdlog::info("app {} ready", id);
    return json::object{{"ok", true}};
  }
  if (name == "app.shutdown") {
    std::string reason(GetString(params, "reason").value_or("requested by app"));
    if (supervised) supervisor_->OnShutdownRequested(id, reason);
    return json::object{{"ok", true}};
  }
  if (name == "capability.register") return RegisterCapability(s, params);
  if (name == "capability.unregister") return Unregister(s, params);
  if (name == "hook.subscribe") return SubscribeHooks(s, params.at("events").as_array());
  if (name == "hook.unsubscribe") {
    // All or nothing: naming a hook the app is not subscribed to changes nothing and says which.
    auto current = bus_.SubscriptionsOf(id);
    json::array done, missing;
    for (const auto& e : params.at("events").as_array()) {
      const auto* hook = protocol::FindHook(e.as_string());
      if (hook && std::find(current.begin(), current.end(), hook->name) != current.end())
        done.emplace_back(hook->name);
      else
        missing.push_back(e);
    }
    if (!missing.empty())
      return MakeError(ErrorCode::kHookNotSubscribed, "not subscribed to " + json::serialize(missing),
                       json::object{{"events", missing}});
    for (const auto& h : done) {
      bus_.Unsubscribe(h.as_string(), id);
      s.hook_handler->ForgetIntercepting(std::string(h.as_string()));
    }
    return json::object{{"unsubscribed", std::move(done)}};
  }
  if (name == "hook.result") {
    Status st = bus_.DeliverResult(params.at("eventId").as_string(), id, params.at("result"));
    if (!st.ok()) return st.error();
    return json::object{{"ok", true}};
  }
  if (name == "config.get") return ConfigGet(s, params);
  if (name == "apps.list") return AppsListForApp(s);
  if (name == "agent.queue" || name == "message.dispatch" || name == "session.get" || name == "session.list")
    return HandlePipelineIpc(s, name, params);
  if (name == "config.watch") return ConfigWatchStart(s, conn, request);
  if (name == "stream.cancel") {
    std::string rid(params.at("requestId").as_string());
    if (!conn->CancelStream(rid)) return Refuse(ErrorCode::kNotFound, "no stream " + rid);
    conn->SendStream(json::value(rid), nullptr, true);
    return json::object{{"ok", true}};
  }
  return Refuse(ErrorCode::kMethodNotFound, "unknown method: " + std::string(name));
}

asio::awaitable<Result<json::value>> Kernel::HandleAsync(std::shared_ptr<ipc::Connection>,
                                                        const protocol::MethodSpec& method,
                                                        const protocol::Frame&) {
  co_return Refuse(ErrorCode::kMethodNotFound, "unknown method: " + std::string(method.name));
}

// app.register (SPEC §4.1): a spawn token proves the kernel started this process; a resume token
// proves it is the app that was registered before; anything else is an external app.
Result<json::value> Kernel::Register(const std::shared_ptr<ipc::Connection>& conn, const json::object& params) {
  if (conn->registered()) return Refuse(ErrorCode::kConflict, "connection already registered as " + conn->app_id());
  const json::object& wire = params.at("manifest").as_object();
  auto id_field = GetString(wire, "id");
  if (!id_field) return MakeError(ErrorCode::kInvalidParams, "params.manifest.id: is required",
                                  json::object{{"path", "params.manifest.id"}});
  std::string id(*id_field);
  auto spawn_token = GetString(params, "spawnToken");
  auto resume_token = GetString(params, "resumeToken");
  const registry::Package* pkg = FindPackage(id);

  if (resume_token) {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || !ConstantTimeEquals(it->second.resume_token, *resume_token))
      return Refuse(ErrorCode::kUnauthorized, "resume token invalid or expired for " + id);
    if (auto old = it->second.connection.lock(); old && old->open())
      return Refuse(ErrorCode::kConflict, id + " is still connected");
  } else if (spawn_token) {
    if (conn->peer().uid != ::geteuid())
      return Refuse(ErrorCode::kUnauthorized, "peer runs as another user");
    if (!supervisor_ || !supervisor_->ConsumeSpawnToken(id, *spawn_token, conn->peer().pid)) {
      for (const auto& other : packages_)  // a spawned app claiming someone else's id
        if (other.manifest.id != id && supervisor_ &&
            supervisor_->ConsumeSpawnToken(other.manifest.id, *spawn_token, conn->peer().pid))
          return Refuse(ErrorCode::kForbidden,
                        "manifest id " + id + " does not match the spawned app " + other.manifest.id);
      return Refuse(ErrorCode::kUnauthorized, "spawn token or peer process does not match " + id);
    }
  } else if (!config_.ipc().allow_external_apps) {
    return Refuse(ErrorCode::kForbidden, "external apps are not allowed (set ipc.allowExternalApps)");
  } else if (auto live = sessions_.find(id); live != sessions_.end()) {
    return Refuse(ErrorCode::kConflict, id + " is already registered");
  }

  if (!resume_token) {
    if (auto old = sessions_.find(id); old != sessions_.end()) {  // a restarted process replaces it
      if (auto old_conn = old->second.connection.lock()) old_conn->Close();
      ReleaseSession(id);
    }
    AppSession s;
    s.app_id = id;
    s.external = !spawn_token;
    if (pkg) {
      s.package = *pkg;
    } else {
      // Not installed: only the wire manifest exists, which the kernel never trusts beyond the level
      // the user set for this id (default untrusted).
      auto report = registry::ParseManifest(json::serialize(wire));
      if (!report.ok()) return MakeError(ErrorCode::kInvalidParams, "invalid manifest:\n" + report.Format());
      s.package = registry::Package{*report.manifest, {}, false};
    }
    s.grants = GrantsOf(s.package, s.external);
    s.resume_token = RandomToken();
    s.hook_handler = std::make_shared<AppHookHandler>(id, static_cast<int>(s.grants.trust));
    sessions_.emplace(id, std::move(s));
  }

  AppSession& s = sessions_.at(id);
  if (s.resume_timer) s.resume_timer->cancel();
  s.resume_timer.reset();
  s.connection = conn;
  s.hook_handler->Bind(conn);
  conn->MarkRegistered(id);
  // A resumed app keeps its channels: what waited in the outbox for them is due now.
  if (resume_token && pipeline_)
    for (const auto& [cap_id, cap] : s.capabilities)
      if (cap.first == "channel") pipeline_->ChannelAvailable(cap.second);
  spdlog::info("app {} registered ({}, trust {}, pid {})", id,
               resume_token ? "resumed" : (s.external ? "external" : "spawned"),
               registry::TrustLevelName(s.grants.trust), conn->peer().pid);
  return json::object{{"appId", id},
                      {"token", s.resume_token},
                      {"protocolVersion", protocol::kProtocolVersion},
                      {"kernelVersion", protocol::kKernelVersion},
                      {"heartbeatIntervalMs", config_.supervisor().heartbeat_interval_ms},
                      {"grants", s.grants.ToJson()}};
}

namespace {
// The name a capability is registered under, by type (docs/PROTOCOL.md).
std::optional<std::string> CapabilityName(std::string_view type, const json::object& config) {
  const char* key = type == "tool" ? "name" : type == "gateway_method" ? "method" : type == "http_route" ? "path" : "id";
  if (auto v = GetString(config, key)) return std::string(*v);
  return std::nullopt;
}
}  // namespace

Result<json::value> Kernel::RegisterCapability(AppSession& s, const json::object& params) {
  std::string type(params.at("type").as_string());
  const json::object& config = params.at("config").as_object();
  if (type == "hook") {
    json::array events;
    if (auto e = GetString(config, "event")) events.emplace_back(*e);
    if (const auto* list = GetArray(config, "events")) events = *list;
    json::value r = SubscribeHooks(s, events);
    const auto& denied = r.as_object().at("denied").as_array();
    json::object out{{"capabilityId", "hook:" + s.app_id}, {"granted", denied.empty()}};
    if (!denied.empty()) out["reason"] = r.as_object().at("reasons");
    return out;
  }
  auto name = CapabilityName(type, config);
  if (!name)
    return MakeError(ErrorCode::kInvalidParams, "params.config: missing the " + type + " name",
                     json::object{{"path", "params.config"}});
  auto refuse = [&](const std::string& reason) -> json::value {
    spdlog::warn("app {}: capability {} {} refused: {}", s.app_id, type, *name, reason);
    return json::object{{"capabilityId", nullptr}, {"granted", false}, {"reason", reason}};
  };
  // The kernel's own control methods are never handed to an app.
  if (type == "gateway_method" && !capabilities_.Owner(type, *name) && control_ && control_->HasMethod(*name) &&
      !app_method_stubs_.count(*name))
    return refuse("method \"" + *name + "\" is served by the kernel");
  auto id = capabilities_.Register(s.app_id, s.grants, type, *name);
  if (!id.ok()) return refuse(id.error().message);
  if (type == "tool") s.tools[*name] = config;
  if (type == "gateway_method") ExposeAppMethod(s.app_id, *name);
  if (type == "http_route") ExposeAppRoute(s.app_id, *name);
  s.capabilities[*id] = {type, *name};
  if (type == "channel" && pipeline_) pipeline_->ChannelAvailable(*name);
  return json::object{{"capabilityId", *id}, {"granted", true}};
}

Result<json::value> Kernel::Unregister(AppSession& s, const json::object& params) {
  std::string id(params.at("capabilityId").as_string());
  OC_TRY(capabilities_.Unregister(s.app_id, id));
  ForgetCapability(s, id);
  return json::object{{"ok", true}};
}

// hook.subscribe: an app intercepts the hooks it was granted to intercept and observes the ones it
// was granted to subscribe to; everything else is denied with the reason.
json::value Kernel::SubscribeHooks(AppSession& s, const json::array& events) {
  json::array subscribed, denied;
  json::object reasons;
  for (const auto& e : events) {
    std::string asked = e.is_string() ? std::string(e.get_string()) : json::serialize(e);
    const auto* hook = e.is_string() ? protocol::FindHook(e.get_string()) : nullptr;
    std::string reason;
    if (!hook) {
      reason = "unknown hook";
    } else {
      std::string canonical(hook->name);
      Status st;
      if (s.grants.hooks_intercept.count(canonical)) {
        s.hook_handler->MarkIntercepting(canonical);
        st = bus_.Intercept(canonical, s.hook_handler);
      } else if (s.grants.hooks_subscribe.count(canonical)) {
        st = bus_.Subscribe(canonical, s.hook_handler);
      } else {
        st = MakeError(ErrorCode::kCapabilityDenied, "hook \"" + canonical + "\" is not granted to " + s.app_id);
      }
      if (st.ok()) {
        subscribed.emplace_back(canonical);
        continue;
      }
      reason = st.error().message;
    }
    denied.emplace_back(asked);
    reasons[asked] = reason;
    spdlog::warn("app {}: hook {} denied: {}", s.app_id, asked, reason);
  }
  return json::object{{"subscribed", std::move(subscribed)}, {"denied", std::move(denied)}, {"reasons", std::move(reasons)}};
}

// config.get / config.watch see only apps.<id> and, for a channel app, channels.<channel> of the
// channels it was granted. A relative path is taken inside apps.<id>. App ids may contain '.', so
// the app's section is taken whole (config.app(id)) rather than by a dotted path.
Result<Kernel::AppConfigPath> Kernel::ResolveAppConfigPath(const AppSession& s, std::string_view path) const {
  const std::string own = "apps." + s.app_id;
  if (path.empty() || path == own) return AppConfigPath{own, true, ""};
  if (path.rfind(own + ".", 0) == 0) return AppConfigPath{std::string(path), true, std::string(path.substr(own.size() + 1))};
  auto segments = SplitPath(path);
  if (segments[0] == "channels" && segments.size() >= 2) {
    // A channel's settings belong to the app that owns it (or may still claim it).
    auto owner = capabilities_.Owner("channel", segments[1]);
    if (s.grants.channels.count(segments[1]) && (!owner || *owner == s.app_id))
      return AppConfigPath{std::string(path), false, std::string(path)};
    return MakeError(ErrorCode::kForbidden, "channel \"" + segments[1] + "\" is not " +
                                                (owner ? "owned by " : "granted to ") + s.app_id);
  }
  const auto& sections = config::ConfigSchema().at("properties").as_object();
  if (sections.contains(segments[0]))
    return MakeError(ErrorCode::kForbidden, "config path " + std::string(path) + " is outside " + own);
  return AppConfigPath{own + "." + std::string(path), true, std::string(path)};
}

// The manifest's configSchema defaults are filled in, so an app sees the same values the kernel
// validated (kernel_app_config.cpp).
json::value Kernel::ReadAppConfig(const AppSession& s, const AppConfigPath& p) const {
  const auto& provides = s.package.manifest.channels_provides;
  if (!p.in_app) {
    std::string own = provides.empty() ? std::string() : "channels." + provides.front();
    if (own.empty() || (p.path != own && p.path.rfind(own + ".", 0) != 0)) return config_.Redacted(p.path);
    json::value section = WithSchemaDefaults(s.package, config_.Redacted(own));
    if (p.path == own) return section;
    const json::value* v = FindPath(section, p.path.substr(own.size() + 1));
    return v ? *v : json::value(nullptr);
  }
  json::value section = config::RedactSecrets(config_.app(s.app_id).raw);
  if (provides.empty()) section = WithSchemaDefaults(s.package, section);
  if (p.path.empty()) return section;
  const json::value* v = FindPath(section, p.path);
  return v ? *v : json::value(nullptr);
}

Result<json::value> Kernel::ConfigGet(AppSession& s, const json::object& params) {
  OC_ASSIGN(AppConfigPath path, ResolveAppConfigPath(s, GetString(params, "path").value_or("")));
  return json::object{{"path", path.display}, {"value", ReadAppConfig(s, path)}};
}

Result<json::value> Kernel::ConfigWatchStart(AppSession& s, const std::shared_ptr<ipc::Connection>& conn,
                                             const protocol::Frame& request) {
  ConfigWatch w;
  w.connection = conn;
  w.app_id = s.app_id;
  w.request_id = request.id;
  std::vector<std::string> asked;
  if (const auto* paths = GetArray(request.params.as_object(), "paths"))
    for (const auto& p : *paths) asked.emplace_back(p.as_string());
  if (asked.empty()) asked.emplace_back("");
  json::array watching;
  for (const auto& p : asked) {
    OC_ASSIGN(AppConfigPath resolved, ResolveAppConfigPath(s, p));
    w.last.push_back(ReadAppConfig(s, resolved));
    watching.emplace_back(resolved.display);
    w.paths.push_back(std::move(resolved.display));
  }
  std::string rid = w.request_id;
  uint64_t conn_id = conn->id();
  watches_.push_back(std::move(w));
  conn->AddStream(rid, [this, rid, conn_id] {
    std::erase_if(watches_, [&](const ConfigWatch& x) {
      auto c = x.connection.lock();
      return x.request_id == rid && (!c || c->id() == conn_id);
    });
  });
  // Acknowledged with a first chunk; changes follow as {path, oldValue, newValue}; done on cancel.
  conn->SendStream(json::value(rid), json::object{{"watching", std::move(watching)}}, false);
  return json::object{{"streaming", true}, {"requestId", rid}};
}

void Kernel::NotifyConfigWatchers() {
  std::set<std::string> changed_apps;
  for (auto& w : watches_) {
    auto conn = w.connection.lock();
    if (!conn || !conn->open()) continue;
    auto session = sessions_.find(w.app_id);
    if (session == sessions_.end()) continue;
    for (size_t i = 0; i < w.paths.size(); ++i) {
      auto resolved = ResolveAppConfigPath(session->second, w.paths[i]);
      if (!resolved.ok()) continue;
      json::value now = ReadAppConfig(session->second, *resolved);
      if (now == w.last[i]) continue;
      conn->SendStream(json::value(w.request_id),
                       json::object{{"path", w.paths[i]}, {"oldValue", w.last[i]}, {"newValue", now}}, false);
      w.last[i] = std::move(now);
      changed_apps.insert(w.app_id);
    }
  }
  for (const auto& id : changed_apps)
    if (auto it = sessions_.find(id); it != sessions_.end())
      if (auto conn = it->second.connection.lock())
        conn->SendEvent(std::string(protocol::kEventConfigChanged), json::object{{"appId", id}});
}

void Kernel::OnDisconnected(ipc::Connection& conn) {
  if (!conn.registered()) return;
  auto it = sessions_.find(conn.app_id());
  if (it == sessions_.end()) return;
  AppSession& s = it->second;
  auto current = s.connection.lock();
  if (current && current.get() != &conn) return;  // already resumed on a newer connection
  if (shutting_down_) {
    ReleaseSession(std::string(s.app_id));  // a copy: the session (and its id) is erased
    return;
  }
  // Keep registrations for the resume window; deliveries wait (or time out) meanwhile.
  s.resume_timer = std::make_unique<asio::steady_timer>(io_);
  s.resume_timer->expires_after(std::chrono::milliseconds(config_.ipc().resume_window_ms));
  std::string id = s.app_id;
  s.resume_timer->async_wait([this, id](boost::system::error_code ec) {
    if (ec) return;
    auto it2 = sessions_.find(id);
    if (it2 == sessions_.end()) return;
    if (auto c = it2->second.connection.lock(); c && c->open()) return;
    spdlog::info("app {}: resume window passed, registrations released", id);
    ReleaseSession(id);
  });
}

// A control-plane method an app serves: calls reach it as gateway.invoke (SPEC §4.3).
void Kernel::StubAppMethod(const std::string& app_id, const std::string& method) {
  if (!control_) return;
  app_method_stubs_.insert(method);
  control_->AddMethod(method, [app_id](const gateway::ClientInfo&, json::value) -> asio::awaitable<Result<json::value>> {
    co_return MakeError(ErrorCode::kConnectionClosed, app_id + " is not running (or no longer serves this method)");
  });
}

void Kernel::ExposeAppMethod(const std::string& app_id, const std::string& method) {
  if (!control_) return;
  app_method_stubs_.erase(method);
  control_->AddMethod(method, [this, app_id, method](const gateway::ClientInfo& client,
                                                     json::value params) -> asio::awaitable<Result<json::value>> {
    auto it = sessions_.find(app_id);
    auto conn = it == sessions_.end() ? nullptr : it->second.connection.lock();
    if (!conn || !conn->open()) co_return MakeError(ErrorCode::kConnectionClosed, app_id + " is not connected");
    json::object invoke{{"method", method},
                        {"params", std::move(params)},
                        {"client", json::object{{"id", client.id}, {"name", client.name}}}};
    // (built outside co_await: g++ 12 rejects braced lists inside co_await expressions)
    auto r = co_await conn->Request("gateway.invoke", std::move(invoke));
    if (!r.ok()) co_return r.error();
    if (auto* o = r->if_object(); o && o->contains("result")) co_return o->at("result");
    co_return std::move(r).value();
  });
}

void Kernel::ForgetCapability(AppSession& s, const std::string& capability_id) {
  auto it = s.capabilities.find(capability_id);
  if (it == s.capabilities.end()) return;
  const auto& [type, name] = it->second;
  if (type == "gateway_method" && control_) {
    const registry::Package* installed = s.external ? nullptr : FindPackage(s.app_id);
    const auto& declared = installed ? installed->manifest.gateway_methods : std::vector<std::string>{};
    if (std::find(declared.begin(), declared.end(), name) != declared.end()) {
      StubAppMethod(s.app_id, name);
    } else {
      control_->RemoveMethod(name);
    }
  }
  if (type == "http_route") ForgetAppRoute(name);
  if (type == "tool") s.tools.erase(name);
  s.capabilities.erase(it);
}

void Kernel::ReapplyGrants() {
  for (auto& [id, s] : sessions_) {
    registry::Grants fresh = GrantsOf(s.package, s.external);
    for (const auto& hook : bus_.SubscriptionsOf(id)) {
      bool intercepting = s.grants.hooks_intercept.count(hook) > 0;
      bool still = intercepting ? fresh.hooks_intercept.count(hook) > 0 : fresh.hooks_subscribe.count(hook) > 0;
      if (still) continue;
      spdlog::info("app {}: hook {} withdrawn by the new config", id, hook);
      bus_.Unsubscribe(hook, id);
      s.hook_handler->ForgetIntercepting(hook);
    }
    std::vector<std::string> withdrawn;
    for (const auto& [cap_id, type_name] : s.capabilities) {
      const auto& [type, name] = type_name;
      const std::set<std::string>& granted = type == "channel" ? fresh.channels
                                             : type == "tool" ? fresh.tools
                                             : type == "gateway_method" ? fresh.gateway_methods
                                             : type == "http_route" ? fresh.http_routes
                                                                    : fresh.providers;
      if (!granted.count(name)) withdrawn.push_back(cap_id);
    }
    for (const auto& cap_id : withdrawn) {
      spdlog::info("app {}: capability {} withdrawn by the new config", id, cap_id);
      (void)capabilities_.Unregister(id, cap_id);
      ForgetCapability(s, cap_id);
    }
    s.hook_handler->set_trust_rank(static_cast<int>(fresh.trust));
    s.grants = std::move(fresh);
  }
}

void Kernel::ReleaseSession(const std::string& app_id) {
  if (auto it = sessions_.find(app_id); it != sessions_.end())
    while (!it->second.capabilities.empty()) ForgetCapability(it->second, it->second.capabilities.begin()->first);
  bus_.RemoveOwner(app_id);
  capabilities_.ReleaseAll(app_id);
  std::erase_if(watches_, [&](const ConfigWatch& w) { return w.app_id == app_id; });
  sessions_.erase(app_id);
}

}  // namespace oc::kernel
