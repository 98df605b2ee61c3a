// The kernel: owns every subsystem and wires them together (SPEC §1). It is the only place that
// knows all of them; subsystems talk to each other through the kernel, never directly.
//
// Lifecycle: Start() → serve on the io_context → Shutdown() (SIGTERM/SIGINT) stops apps in reverse
// dependency order and closes the servers. Reload() (SIGHUP, config file change) applies a valid
// new config live and keeps the old one when the new one is invalid.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <set>

#include "config/config.h"
#include "extensions/extension_host.h"
#include "kernel/config_watcher.h"
#include "kernel/pipeline.h"
#include "gateway/control_server.h"
#include "hooks/hook_bus.h"
#include "ipc/ipc_server.h"
#include "registry/capabilities.h"
#include "registry/packages.h"
#include "supervisor/supervisor.h"
#include "vault/vault.h"

namespace oc::kernel {

struct KernelOptions {
  config::Paths paths;
  std::filesystem::path shipped_packages;  // packages shipped with the build
  // --- kernel_ui.cpp ---
  // The Control UI's files. Empty = $OPENCLAWOS_UI_DIR, else <exe>/../ui (the build copies ui/
  // there, like packages/). A missing directory is not an error: `/` then answers 404 naming it.
  std::filesystem::path ui_dir;
};

class AppHookHandler;

// A registered app: its grants, its current connection, and what it registered. Survives a dropped
// connection for ipc.resumeWindowMs so the app can resume.
struct AppSession {
  std::string app_id;
  registry::Package package;  // the installed package, or one built from the wire manifest (external)
  registry::Grants grants;
  bool external = false;
  std::string resume_token;
  std::weak_ptr<ipc::Connection> connection;
  std::shared_ptr<AppHookHandler> hook_handler;
  std::unique_ptr<asio::steady_timer> resume_timer;
  std::map<std::string, json::value> tools;  // tool name → {description, inputSchema}
  std::map<std::string, std::pair<std::string, std::string>> capabilities;  // id → (type, name)
};

struct ConfigWatch {
  std::weak_ptr<ipc::Connection> connection;
  std::string app_id;
  std::string request_id;
  std::vector<std::string> paths;  // absolute dotted paths
  std::vector<json::value> last;   // redacted values last sent
};

class Kernel : public ipc::Dispatcher, public supervisor::Observer, public PipelineHost {
 public:
  Kernel(asio::io_context& io, KernelOptions options, config::Config config);
  ~Kernel() override;  // closes connections before the state they refer to goes

  // Opens the servers and starts the enabled apps. Errors: a port or socket already in use, ...
  Status Start();
  // Stops every app (reverse dependency order), fires gateway_stop, closes the servers.
  asio::awaitable<void> Shutdown(std::string reason);
  // Re-reads the config file; a valid one is applied live, an invalid one is logged and ignored.
  Status Reload();

  uint16_t gateway_port() const;
  const config::Config& config() const { return config_; }

  // ipc::Dispatcher
  std::optional<Result<json::value>> HandleNow(const std::shared_ptr<ipc::Connection>& conn,
                                              const protocol::MethodSpec& method,
                                              const protocol::Frame& request) override;
  asio::awaitable<Result<json::value>> HandleAsync(std::shared_ptr<ipc::Connection> conn,
                                                  const protocol::MethodSpec& method,
                                                  const protocol::Frame& request) override;
  void OnDisconnected(ipc::Connection& conn) override;

  // supervisor::Observer
  void OnStateChanged(const supervisor::AppStatus& status) override;
  void SendShutdown(std::string_view app_id, std::string_view reason, int64_t timeout_ms) override;
  void OnExited(std::string_view app_id) override;

  // PipelineHost
  std::shared_ptr<hooks::HookHandler> DeliveryHandlerFor(const std::string& channel) override;
  std::vector<agent::ToolSpec> AppTools() override;
  asio::awaitable<agent::ToolOutcome> InvokeAppTool(std::string name, json::value input,
                                                    agent::ToolContext context) override;
  void BroadcastEvent(std::string_view event, json::value payload) override;

  // In-kernel listeners of control-plane events (an SSE answer of /v1/chat/completions follows its
  // run's `agent` events). Called synchronously on the loop by BroadcastEvent, before the clients.
  // A tap may remove itself (or another) while being called.
  using EventTap = std::function<void(std::string_view event, const json::value& payload)>;
  uint64_t AddEventTap(EventTap tap);
  void RemoveEventTap(uint64_t id);
  // Expires when the kernel is destroyed: coroutines that may outlive it (suspended at shutdown,
  // destroyed with the io_context) check it before touching the kernel.
  std::weak_ptr<bool> alive_token() const { return alive_; }

 private:
  // packages and apps (kernel_apps.cpp)
  void LoadPackages();
  bool AppEnabled(const registry::Package& pkg) const;
  // `external`: an app the kernel did not spawn (SPEC §4.1), trusted less by default.
  registry::TrustLevel TrustOf(const registry::Package& pkg, bool external = false) const;
  registry::Grants GrantsOf(const registry::Package& pkg, bool external = false) const;
  Result<supervisor::AppSpec> BuildSpec(const registry::Package& pkg) const;
  std::vector<std::string> StartOrder() const;
  void StartEnabledApps();
  const registry::Package* FindPackage(std::string_view id) const;
  json::value AppSummary(const registry::Package& pkg) const;

  // IPC methods (kernel_ipc.cpp)
  Result<json::value> HandleIpc(const std::shared_ptr<ipc::Connection>& conn, const protocol::MethodSpec& method,
                                const protocol::Frame& request);
  Result<json::value> Register(const std::shared_ptr<ipc::Connection>& conn, const json::object& params);
  Result<json::value> RegisterCapability(AppSession& s, const json::object& params);
  Result<json::value> Unregister(AppSession& s, const json::object& params);
  json::value SubscribeHooks(AppSession& s, const json::array& events);
  Result<json::value> ConfigGet(AppSession& s, const json::object& params);
  Result<json::value> ConfigWatchStart(AppSession& s, const std::shared_ptr<ipc::Connection>& conn,
                                       const protocol::Frame& request);
  // A config path an app may read: inside apps.<id> (`relative` to it) or a granted channel section.
  struct AppConfigPath {
    std::string display;   // absolute dotted path, for answers
    bool in_app = true;    // true: `path` is relative to apps.<id>; false: absolute
    std::string path;
  };
  Result<AppConfigPath> ResolveAppConfigPath(const AppSession& s, std::string_view path) const;
  // --- kernel_app_config.cpp: an app's config section, its configSchema, data dir, apps.list ---
  // The section an app reads: channels.<channel> (its first provided channel) for a channel app,
  // else apps.<id> without the kernel's own keys; null when unset. Secrets are not redacted.
  json::value AppConfigSection(const registry::Package& pkg) const;
  // "config: <path>: <message>; ..." when the section fails the manifest's configSchema.
  std::optional<std::string> AppConfigProblem(const registry::Package& pkg) const;
  // Variables of resources.env whose value comes from a configSchema property marked "x-env": plain
  // strings go to `env`; {"$secret": NAME} values to `secrets` (variable -> {absolute path, NAME}),
  // resolved from the vault at spawn (kernel_vault.cpp).
  void AddConfigEnv(const registry::Package& pkg, std::map<std::string, std::string>& env,
                    std::map<std::string, config::SecretRef>& secrets) const;
  // <home>/apps/<id with '/' → '_'>, created 0700.
  Result<std::filesystem::path> AppDataDir(const registry::Package& pkg) const;
  // `value` (read at `path` inside section `section_root`) with the manifest's defaults filled in.
  json::value WithSchemaDefaults(const registry::Package& pkg, const json::value& section) const;
  Result<json::value> AppsListForApp(const AppSession& s) const;
  json::value ReadAppConfig(const AppSession& s, const AppConfigPath& p) const;
  void ReleaseSession(const std::string& app_id);
  // After a config change: recompute every session's grants and withdraw what is no longer granted.
  void ReapplyGrants();
  void ExposeAppMethod(const std::string& app_id, const std::string& method);
  // A method of an installed app whose process is gone keeps answering CONNECTION_CLOSED (not
  // METHOD_NOT_FOUND) until the app registers it again.
  void StubAppMethod(const std::string& app_id, const std::string& method);
  void ForgetCapability(AppSession& s, const std::string& capability_id);
  void NotifyConfigWatchers();
  // message pipeline methods (kernel_pipeline.cpp)
  Result<json::value> HandlePipelineIpc(AppSession& s, std::string_view name, const json::object& params);
  void RegisterPipelineMethods();

  // agent runtime methods and in-process packages (kernel_agent_control.cpp)
  void RegisterAgentMethods();
  void LoadExtensions();

  // HTTP API (kernel_http_api.cpp): /v1/chat/completions, /v1/models, /hooks/agent, /hooks/wake
  void RegisterHttpApi();
  // app HTTP routes (kernel_app_routes.cpp): /apps/<short>/... proxied as http.request; and the
  // canvas (/canvas/..., the `canvas` tool's content)
  void ExposeAppRoute(const std::string& app_id, const std::string& path);
  void ForgetAppRoute(const std::string& path);
  void RegisterCanvas();
  // Control UI static files (kernel_ui.cpp), served at /
  void RegisterControlUi();
  // chat.* methods and the presence/health events (kernel_chat.cpp)
  void RegisterChatMethods();
  // memory.search, memory.index, memory.status (kernel_memory.cpp)
  void RegisterMemoryMethods();

  // control plane (kernel_control.cpp)
  void RegisterControlMethods();
  json::value HealthJson() const;
  json::value StatusJson() const;

  asio::io_context& io_;
  KernelOptions options_;
  config::Config config_;
  int64_t started_at_ms_ = 0;
  std::vector<registry::Package> packages_;
  registry::CapabilityTable capabilities_;
  hooks::HookBus bus_;
  std::unique_ptr<ipc::IpcServer> ipc_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  std::unique_ptr<gateway::ControlServer> control_;
  std::unique_ptr<Pipeline> pipeline_;  // after bus_: it holds a reference to it
  std::unique_ptr<extensions::ExtensionHost> extensions_;  // uses pipeline_'s workers: reset first
  std::map<std::string, std::string> extension_errors_;  // package id → why it was not loaded
  std::map<std::string, AppSession, std::less<>> sessions_;
  std::vector<ConfigWatch> watches_;
  std::unique_ptr<ConfigWatcher> config_watcher_;
  bool shutting_down_ = false;
  bool gateway_start_fired_ = false;
  std::unique_ptr<asio::steady_timer> gateway_start_timer_;
  std::map<uint64_t, EventTap> event_taps_;
  std::set<std::string> app_method_stubs_;  // control methods answered by StubAppMethod
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  uint64_t next_event_tap_ = 1;
  void MaybeFireGatewayStart(bool force = false);
  // --- kernel_chat.cpp ---
  // The `health` event: HealthChanged() after an app changed state (at most one event per second,
  // coalesced), and every 60 s from ArmHealthTick().
  void HealthChanged();
  void ArmHealthTick();
  std::unique_ptr<asio::steady_timer> health_timer_;  // a coalesced broadcast
  std::unique_ptr<asio::steady_timer> health_tick_;   // the periodic one
  int64_t health_sent_ms_ = 0;
  bool health_pending_ = false;
  // --- kernel_app_routes.cpp ---
  // /apps/<short>/... for every app package that declares routes (one prefix route), and
  // /canvas/... plus the canvas.get method; called from RegisterCanvas.
  void MountAppRoutes();
  asio::awaitable<gateway::HttpResponse> ServeAppRoute(const gateway::HttpRequest& request);
  asio::awaitable<gateway::HttpResponse> ServeCanvas(const gateway::HttpRequest& request);
  // The app package (installed, or a connected external app's) whose short name is `short_name`
  // and that declares HTTP routes; nullptr when none.
  const registry::Package* RoutePackage(std::string_view short_name) const;
  std::set<std::pair<std::string, std::string>> app_routes_;  // (app id, route) registered by a live app
  std::map<std::string, json::value> canvas_state_;  // agent id → its last `canvas` event
  // --- kernel_audit.cpp ---
 public:
  // Top-level config keys whose values differ, one level down inside sections ("gateway.port",
  // "apps.<id>"); never values. Sorted.
  static std::vector<std::string> ChangedConfigPaths(const json::value& before, const json::value& after);

 private:
  // Appends one row to the audit log (state.db, audit::Record). A failed write is logged, never
  // fatal; before the database is open it records nothing. Never pass a secret value in `detail`.
  void Audit(std::string kind, std::string actor, std::string subject, std::string outcome = "ok",
             json::object detail = {});
  // The audit rows of an app's IPC call once answered: app.register / app.register_refused /
  // capability.granted for app.register, capability.denied for refusals (errors CAPABILITY_DENIED
  // or FORBIDDEN, capability.register {granted:false}, hook.subscribe with denied hooks).
  void AuditIpcAnswer(const ipc::Connection& conn, std::string_view method, const json::value& params,
                      const Result<json::value>& answer);
  void AuditApprovalRequested(const tools::ApprovalRequest& r);
  void AuditApprovalResolved(const json::value& resolution);
  // config.changed {paths} (nothing when no value changed) / config.rejected {paths of the errors}.
  void AuditConfigChanged(const json::value& before, const json::value& after);
  void AuditConfigRejected(const Error& error);
  // audit.list on the control plane, and auth.failed rows from the gateway.
  void RegisterAuditMethods();
  // --- kernel_vault.cpp: the vault, {"$secret"} resolution, secrets to apps, the redaction list ---
 public:
  // The config the subsystems consume: config() with every {"$secret": NAME} outside apps.* and
  // channels.* replaced by its value (those two are resolved per app, at spawn). Never show it.
  const config::Config& effective_config() const { return resolved_; }

 private:
  // At Start: opens the vault (its own handle on state.db: the pipeline opens the database only with
  // the resolved config) and resolves config_ into resolved_. A config that references a secret
  // refuses to start when the vault cannot open or a kernel-consumed secret is missing (error data
  // {"configError": true}: exit 2); without references a vault that does not open is a warning.
  Status OpenVault();
  // Opens vault_ when it is not open yet; `create`: make a key when no vault exists yet.
  Status TryOpenVault(bool create);
  // config_-like `written` with the kernel-consumed secrets resolved (see effective_config()).
  Result<config::Config> ResolveConfig(const config::Config& written);
  // A secret's value; kNotFound 'no secret "NAME" in the vault; add it with `openclaw vault set NAME`',
  // or the reason the vault is not open.
  Result<std::string> LookupSecret(std::string_view name) const;
  // Adds to the process-wide redaction list (common/redact.h): every vault value and the plain values
  // of secret-looking config keys (AddAppEnv adds what it hands apps: x-env values, vault secrets).
  void RefreshRedaction();
  // The resources.env variables of `pkg` (SPEC §5.2 order: apps.<id>.env — plain or {"$secret"} —,
  // x-env keys of its config section, the vault by the variable's name (core/verified apps only),
  // the kernel's environment). Each vault read is audited (vault.get). Returns the problem
  // ("vault: no secret \"NAME\" (apps.<id>.env.VAR)...") when a referenced secret is missing.
  std::optional<std::string> AddAppEnv(const registry::Package& pkg, std::map<std::string, std::string>& env) const;
  // vault.reload: re-reads the vault into the redaction list; apps that failed for a missing secret
  // get a new spec and start when enabled.
  void RegisterVaultMethods();
  void RetryAppsMissingSecrets();
  std::unique_ptr<store::Database> vault_db_;
  std::unique_ptr<vault::Vault> vault_;
  std::string vault_problem_;  // why vault_ is null (empty when no vault exists)
  config::Config resolved_;
};

// Runs `openclaw gateway`: loads config, starts the kernel, serves until SIGTERM/SIGINT.
// Returns the process exit status (0 clean, 1 failure, 2 config error).
int RunGateway(const config::Paths& paths, const std::filesystem::path& shipped_packages, bool verbose);

}  // namespace oc::kernel
