#include "kernel/kernel.h"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "common/redact.h"
#include "kernel/app_hook_handler.h"
#include "kernel/log_buffer.h"

namespace oc::kernel {
namespace fs = std::filesystem;

namespace {

supervisor::SupervisorSettings ToSupervisorSettings(const config::SupervisorSettings& c) {
  supervisor::SupervisorSettings s;
  s.start_timeout_ms = c.start_timeout_ms;
  s.heartbeat_interval_ms = c.heartbeat_interval_ms;
  s.heartbeat_timeout_ms = c.heartbeat_timeout_ms;
  s.restart_delay_ms = c.restart_delay_ms;
  s.backoff_multiplier = c.backoff_multiplier;
  s.max_restart_delay_ms = c.max_restart_delay_ms;
  s.max_restarts = c.max_restarts;
  s.restart_window_ms = c.restart_window_ms;
  s.shutdown_timeout_ms = c.shutdown_timeout_ms;
  s.kill_grace_ms = c.kill_grace_ms;
  return s;
}

hooks::HookSettings ToHookSettings(const config::HookSettings& c) {
  return hooks::HookSettings{c.intercept_timeout_ms, c.fail_closed, c.order};
}

gateway::ControlSettings ToControlSettings(const config::GatewaySettings& g) {
  gateway::ControlSettings s;
  s.host = g.host;
  s.port = g.port;
  s.auth_token = g.auth_token;
  s.auth_password = g.auth_password;
  s.max_ws_frame_bytes = g.max_ws_frame_bytes;
  s.max_body_bytes = g.max_body_bytes;
  s.cors_origins = g.cors_origins;
  s.rate_limit_max_requests = g.rate_limit.enabled ? g.rate_limit.max_requests : 0;
  s.rate_limit_window = std::chrono::milliseconds(g.rate_limit.window_ms);
  s.tick_interval = std::chrono::milliseconds(g.tick_interval_ms);
  return s;
}

}  // namespace

Kernel::Kernel(asio::io_context& io, KernelOptions options, config::Config config)
    : io_(io),
      options_(std::move(options)),
      config_(std::move(config)),
      bus_(io.get_executor(), ToHookSettings(config_.hooks())),
      resolved_(config_) {}

Kernel::~Kernel() {
  // Connections call back into the kernel when they close: close them while its state still exists.
  config_watcher_.reset();
  ipc_.reset();
  supervisor_.reset();
  control_.reset();
  extensions_.reset();
  pipeline_.reset();
}

Status Kernel::Start() {
  started_at_ms_ = NowMs();
  LoadPackages();
  // The vault first: the subsystems consume resolved_, the config with its secrets (kernel_vault.cpp).
  OC_TRY(OpenVault());
  auto pipeline = Pipeline::Open(io_, options_.paths, resolved_, bus_, *this);
  if (!pipeline.ok()) return pipeline.error();
  pipeline_ = std::move(pipeline).value();

  control_ = std::make_unique<gateway::ControlServer>(io_, ToControlSettings(resolved_.gateway()));
  RegisterControlMethods();
  RegisterVaultMethods();
  RegisterChatMethods();
  RegisterMemoryMethods();
  RegisterHttpApi();
  RegisterCanvas();
  RegisterControlUi();
  LoadExtensions();
  OC_TRY(control_->Listen());

  ipc::IpcOptions ipc_options;
  ipc_options.socket_path = options_.paths.socket;
  ipc_options.max_frame_bytes = config_.ipc().max_frame_bytes;
  ipc_options.request_timeout = std::chrono::milliseconds(config_.ipc().request_timeout_ms);
  ipc_ = std::make_unique<ipc::IpcServer>(io_, std::move(ipc_options), *this);
  OC_TRY(ipc_->Listen());
  control_->SetIpcHandler([this](std::unique_ptr<ipc::Transport> transport) {
    if (ipc_ && !shutting_down_) ipc_->Adopt(std::move(transport));
  });

  std::error_code dir_ec;
  std::filesystem::create_directories(options_.paths.config_file.parent_path(), dir_ec);
  config_watcher_ = std::make_unique<ConfigWatcher>(io_, options_.paths.config_file, [this] {
    if (!shutting_down_) (void)Reload();
  });
  if (Status w = config_watcher_->Start(); !w.ok())
    spdlog::warn("config file not watched ({}); send SIGHUP to reload", w.error().message);

  supervisor_ = std::make_unique<supervisor::Supervisor>(
      io_, ToSupervisorSettings(config_.supervisor()), *this, options_.paths.socket);
  StartEnabledApps();

  auto gw = config_.gateway();
  spdlog::info("kernel {} ready: ipc {} · gateway http://{}:{}", protocol::kKernelVersion,
               options_.paths.socket.string(), gw.host, control_->port());
  // gateway_start fires once the apps started at boot have settled (ready or failed), so the apps
  // that subscribe to it can see it; at the latest after the start timeout.
  gateway_start_timer_ = std::make_unique<asio::steady_timer>(io_);
  gateway_start_timer_->expires_after(std::chrono::milliseconds(config_.supervisor().start_timeout_ms));
  gateway_start_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) MaybeFireGatewayStart(true);
  });
  MaybeFireGatewayStart();
  return {};
}

void Kernel::MaybeFireGatewayStart(bool force) {
  if (gateway_start_fired_ || !supervisor_ || !control_) return;
  if (!force)
    for (const auto& st : supervisor_->List())
      if (st.state == supervisor::AppState::kStarting) return;
  gateway_start_fired_ = true;
  if (gateway_start_timer_) gateway_start_timer_->cancel();
  // Runs left by a previous kernel resume once the apps they may need (tools, channels) are up.
  if (pipeline_) pipeline_->ResumePending();
  bus_.Emit("gateway_start", json::object{{"port", control_->port()}, {"host", config_.gateway().host}});
}

uint16_t Kernel::gateway_port() const { return control_ ? control_->port() : 0; }

asio::awaitable<void> Kernel::Shutdown(std::string reason) {
  if (shutting_down_) co_return;
  shutting_down_ = true;
  spdlog::info("kernel stopping: {}", reason);
  if (pipeline_) pipeline_->Stop();
  bus_.Emit("gateway_stop", json::object{{"reason", reason}});
  if (supervisor_) {
    auto order = StartOrder();
    std::reverse(order.begin(), order.end());
    co_await supervisor_->StopAll(order, reason);
  }
  config_watcher_.reset();
  if (ipc_) ipc_->Stop();
  if (control_) control_->Stop();
  spdlog::info("kernel stopped");
  spdlog::default_logger()->flush();
}

Status Kernel::Reload() {
  auto fresh = config::Config::Load(options_.paths.config_file, config::ProcessEnv());
  if (!fresh.ok()) {
    spdlog::error("config reload refused, keeping the running config: {}", fresh.error().message);
    if (auto* errs = fresh.error().data.is_object() ? fresh.error().data.as_object().if_contains("errors") : nullptr)
      for (const auto& e : errs->as_array())
        spdlog::error("  {}: {}", json::value_to<std::string>(e.at("path")),
                      json::value_to<std::string>(e.at("message")));
    AuditConfigRejected(fresh.error());  // kernel_audit.cpp
    return fresh.error();
  }
  // {"$secret"} values for the subsystems; a missing secret refuses the reload like an invalid file.
  if (!vault_ && !config::FindSecretRefs(fresh->root()).empty()) (void)TryOpenVault(false);
  auto resolved = ResolveConfig(*fresh);
  if (!resolved.ok()) {
    spdlog::error("config reload refused, keeping the running config: {}", resolved.error().message);
    AuditConfigRejected(resolved.error());  // kernel_audit.cpp
    return resolved.error();
  }
  // The gateway's listener and auth, and the IPC socket, are set up once: say so instead of
  // silently keeping the old values.
  for (const char* section : {"gateway", "ipc"}) {
    const json::value* before = config_.Find(section);
    const json::value* after = fresh->Find(section);
    if ((before == nullptr) != (after == nullptr) || (before && *before != *after))
      spdlog::warn("config: changes to {}.* take effect after a kernel restart", section);
  }
  AuditConfigChanged(config_.root(), fresh->root());  // kernel_audit.cpp
  config_ = std::move(fresh).value();
  resolved_ = std::move(resolved).value();
  RefreshRedaction();
  bus_.UpdateSettings(ToHookSettings(config_.hooks()));
  if (pipeline_) pipeline_->Reconfigure(resolved_);
  ReapplyGrants();
  if (supervisor_) supervisor_->UpdateSettings(ToSupervisorSettings(config_.supervisor()));
  NotifyConfigWatchers();
  // Apps whose enabled flag changed are started or stopped to match. Every spec is rebuilt, so the
  // next spawn sees changed secrets (x-env) and config validity.
  for (const auto& pkg : packages_) {
    if (pkg.manifest.type != registry::PackageType::kApp || !supervisor_) continue;
    auto st = supervisor_->Get(pkg.manifest.id);
    if (!st) continue;
    bool startable = false;
    if (auto spec = BuildSpec(pkg); spec.ok()) {
      startable = !spec->unstartable;
      supervisor_->Add(std::move(spec).value());
    }
    bool enabled = AppEnabled(pkg);
    // An app refused for its config section (or a missing secret) starts once that is fixed.
    bool config_fixed = st->state == supervisor::AppState::kError && st->last_error && startable &&
                        (st->last_error->rfind("config:", 0) == 0 || st->last_error->rfind("vault:", 0) == 0);
    if (enabled && (st->state == supervisor::AppState::kStopped || config_fixed)) {
      (void)supervisor_->Start(pkg.manifest.id);
    } else if (!enabled && st->state != supervisor::AppState::kStopped) {  // also cancels a pending restart
      asio::co_spawn(io_, supervisor_->Stop(pkg.manifest.id, "disabled in config"), asio::detached);
    }
  }
  spdlog::info("config reloaded");
  return {};
}

// ---------------------------------------------------------------------------------------------
// supervisor::Observer

void Kernel::OnStateChanged(const supervisor::AppStatus& status) {
  spdlog::info("app {} is {}{}", status.package_id, supervisor::AppStateName(status.state),
               status.last_error ? " (" + *status.last_error + ")" : "");
  if (control_) control_->Broadcast("app", status.ToJson());
  HealthChanged();  // the `health` event (kernel_chat.cpp), at most once a second
  if (status.state != supervisor::AppState::kStarting) MaybeFireGatewayStart();
}

void Kernel::SendShutdown(std::string_view app_id, std::string_view reason, int64_t timeout_ms) {
  auto it = sessions_.find(app_id);
  if (it == sessions_.end()) return;
  if (auto conn = it->second.connection.lock())
    conn->SendEvent(std::string(protocol::kEventAppShutdown),
                    json::object{{"reason", reason}, {"timeout", timeout_ms}});
}

void Kernel::OnExited(std::string_view app_id) {
  // The process is gone: nothing can resume, release at once.
  std::string id(app_id);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (it->second.external) return;  // external apps are not ours to reap
  if (auto conn = it->second.connection.lock()) conn->Close();
  ReleaseSession(id);
}

// ---------------------------------------------------------------------------------------------
// openclaw gateway

namespace {

// Passes every log line through the redaction list (common/redact.h) before the real sinks see it,
// so no secret value reaches the console, kernel.log or the logs.tail buffer. Only the message
// text can carry a secret (time, level and logger name are ours).
class RedactingSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit RedactingSink(std::vector<spdlog::sink_ptr> sinks) : sinks_(std::move(sinks)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto redacted = RedactIfNeeded(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy = msg;
    if (redacted) copy.payload = spdlog::string_view_t(redacted->data(), redacted->size());
    for (auto& sink : sinks_)
      if (sink->should_log(copy.level)) sink->log(copy);
  }
  void flush_() override {
    for (auto& sink : sinks_) sink->flush();
  }
  // The logger's pattern is the real sinks' (as when they were the logger's own).
  void set_pattern_(const std::string& pattern) override {
    for (auto& sink : sinks_) sink->set_pattern(pattern);
  }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    for (auto& sink : sinks_) sink->set_formatter(formatter->clone());
  }

 private:
  std::vector<spdlog::sink_ptr> sinks_;
};

void SetUpLogging(const config::Paths& paths, const config::Config& cfg, bool verbose) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  sinks.push_back(console);
  std::error_code ec;
  fs::create_directories(paths.logs / "apps", ec);
  auto logging = cfg.logging();
  try {
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        (paths.logs / "kernel.log").string(), logging.max_file_bytes, static_cast<size_t>(logging.max_files)));
  } catch (const std::exception& e) {
    std::cerr << "openclaw: cannot open kernel log: " << e.what() << "\n";
  }
  sinks.push_back(KernelLogBuffer());
  // One sink in front of the others: the redaction runs once per line, whatever the sink count.
  auto logger = std::make_shared<spdlog::logger>("kernel", std::make_shared<RedactingSink>(std::move(sinks)));
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::from_str(logging.level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void PrintConfigErrors(const Error& e) {
  std::cerr << "openclaw: invalid config: " << e.message << "\n";
  if (auto* o = e.data.if_object())
    if (auto* errs = o->if_contains("errors"); errs && errs->is_array())
      for (const auto& err : errs->as_array())
        std::cerr << "  " << err.at("path").as_string().c_str() << ": " << err.at("message").as_string().c_str()
                  << "\n";
}

}  // namespace

int RunGateway(const config::Paths& paths, const fs::path& shipped_packages, bool verbose) {
  auto cfg = config::Config::Load(paths.config_file, config::ProcessEnv());
  if (!cfg.ok()) {
    PrintConfigErrors(cfg.error());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(paths.home, ec);
  ::chmod(paths.home.c_str(), 0700);
  SetUpLogging(paths, *cfg, verbose);
  ::signal(SIGPIPE, SIG_IGN);

  asio::io_context io(1);
  Kernel kernel(io, KernelOptions{paths, shipped_packages}, std::move(cfg).value());
  if (Status s = kernel.Start(); !s.ok()) {
    spdlog::error("kernel failed to start: {}", s.error().message);
    // A config the vault cannot satisfy is a config error (SPEC §14: exit 2).
    const auto* data = s.error().data.if_object();
    return data && data->contains("configError") ? 2 : 1;
  }

  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec2, int sig) {
    if (ec2) return;
    if (sig == SIGHUP) {
      (void)kernel.Reload();
      signals.async_wait(on_signal);
      return;
    }
    asio::co_spawn(io, kernel.Shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT"), [&](std::exception_ptr) {
      signals.cancel();
      io.stop();
    });
  };
  signals.async_wait(on_signal);
  io.run();
  return 0;
}

}  // namespace oc::kernel
