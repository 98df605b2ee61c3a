// @openclawos/diagnostics: the system's health for the agent, the control plane and Prometheus.
//   hook   agent_end                 → counts runs, errors, latency, tokens (stats.h)
//   tool   diagnostics_health {}     → a short plain-text summary (HealthText)
//   method diagnostics.status {}     → the same as JSON (StatusJson)
//   HTTP   GET /apps/diagnostics/metrics → Prometheus text format 0.0.4 (exposition.h)
// Per-app state, restarts and memory come from the kernel's IPC method apps.list, cached for 1 s
// so a burst of scrapes costs the kernel one call. See docs/APP-DIAGNOSTICS.md.
#include <spdlog/spdlog.h>

#include <chrono>

#include "exposition.h"
#include "openclawos/app.h"
#include "stats.h"

namespace {

namespace asio = boost::asio;
namespace json = oc::json;
namespace sdk = openclawos::sdk;
namespace diag = oc::diagnostics;

constexpr int64_t kAppsCacheMs = 1000;

class DiagnosticsApp : public sdk::App {
 public:
  DiagnosticsApp() : start_time_seconds_(static_cast<double>(oc::NowMs()) / 1000.0) {}

 protected:
  asio::awaitable<oc::Status> Setup() override {
    std::vector<std::string> hooks{"agent_end"};
    oc::Result<json::value> subscribed =
        co_await Subscribe(std::move(hooks), [this](const json::value& payload) -> asio::awaitable<std::optional<json::value>> {
          OnAgentEnd(payload);
          co_return std::nullopt;
        });
    if (!subscribed.ok()) co_return subscribed.error();
    // Without agent_end there is nothing to count: a denial is a misconfiguration, not a degraded mode.
    if (const json::array* denied = oc::GetArray(subscribed->as_object(), "denied"); denied && !denied->empty())
      co_return oc::MakeError(oc::ErrorCode::kCapabilityDenied, "agent_end subscription denied");

    json::value schema = json::object{{"type", "object"}, {"properties", json::object()}};
    oc::Status tool = co_await RegisterTool(
        "diagnostics_health",
        "Health of this OpenClawOS system: apps that are not ready, app restarts, the agent runs' error rate, "
        "p50/p95 latency of recent runs and token use.",
        std::move(schema), [this](json::value, json::value) -> asio::awaitable<oc::Result<json::value>> {
          diag::Snapshot s = co_await TakeSnapshot();
          co_return json::value(diag::HealthText(s));
        });
    if (!tool.ok()) co_return tool;

    oc::Status method = co_await RegisterMethod("diagnostics.status", [this](json::value) -> asio::awaitable<oc::Result<json::value>> {
      diag::Snapshot s = co_await TakeSnapshot();
      co_return diag::StatusJson(s);
    });
    if (!method.ok()) co_return method;

    co_return co_await RegisterHttpRoute("/metrics", [this](sdk::HttpRequest req) { return Metrics(std::move(req)); });
  }

 private:
  void OnAgentEnd(const json::value& payload) {
    const json::value* data = payload.is_object() ? payload.as_object().if_contains("data") : nullptr;
    oc::Result<diag::RunRecord> run = diag::RunRecordFromAgentEnd(data ? *data : json::value(), oc::NowMs());
    if (!run.ok()) {
      spdlog::warn("diagnostics: ignored an agent_end event: {}", run.error().message);
      return;
    }
    stats_.Record(*run);
  }

  asio::awaitable<oc::Result<sdk::HttpResponse>> Metrics(sdk::HttpRequest req) {
    if (req.method != "GET" && req.method != "HEAD") {
      sdk::HttpResponse r = sdk::HttpResponse::Text(405, "GET only\n");
      r.headers["allow"] = "GET, HEAD";
      co_return r;
    }
    diag::Snapshot s = co_await TakeSnapshot();
    sdk::HttpResponse r = sdk::HttpResponse::Text(200, diag::RenderExposition(diag::BuildFamilies(s)),
                                                  std::string(diag::kExpositionContentType));
    r.headers["cache-control"] = "no-store";
    co_return r;
  }

  asio::awaitable<diag::Snapshot> TakeSnapshot() {
    co_await RefreshApps();
    diag::Snapshot s;
    s.runs = &stats_;
    s.apps = apps_;
    s.apps_error = apps_error_;
    s.start_time_seconds = start_time_seconds_;
    s.now_ms = oc::NowMs();
    co_return s;
  }

  // apps.list at most once per kAppsCacheMs; a failure is remembered for as long as a success.
  asio::awaitable<void> RefreshApps() {
    int64_t now = oc::NowMs();
    if (apps_fetched_ms_ && now - apps_fetched_ms_ < kAppsCacheMs) co_return;
    oc::Result<json::value> listed = co_await kernel().Request("apps.list", json::object());
    apps_fetched_ms_ = oc::NowMs();
    oc::Result<std::vector<diag::AppSnapshot>> apps =
        listed.ok() ? diag::AppsFromList(*listed) : oc::Result<std::vector<diag::AppSnapshot>>(listed.error());
    if (apps.ok()) {
      apps_ = std::move(*apps);
      apps_error_.clear();
      co_return;
    }
    if (apps_error_ != apps.error().message) spdlog::warn("diagnostics: apps.list failed: {}", apps.error().message);
    apps_.reset();
    apps_error_ = apps.error().message;
  }

  double start_time_seconds_;
  diag::RunStats stats_;
  std::optional<std::vector<diag::AppSnapshot>> apps_;
  std::string apps_error_;
  int64_t apps_fetched_ms_ = 0;
};

}  // namespace

int main() {
  DiagnosticsApp app;
  return app.Run();
}
