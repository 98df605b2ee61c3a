// Delivers hook events to an app over its current IPC connection (SPEC §6). Interceptor
// deliveries are marked `"intercept": true` so the app knows a hook.result is awaited.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "hooks/hook_bus.h"
#include "ipc/ipc_server.h"
#include "protocol/methods.h"

namespace oc::kernel {

class AppHookHandler : public hooks::HookHandler {
 public:
  AppHookHandler(std::string app_id, int trust_rank) : app_id_(std::move(app_id)), trust_rank_(trust_rank) {}

  const std::string& owner() const override { return app_id_; }
  int trust_rank() const override { return trust_rank_; }

  void Deliver(const hooks::HookEvent& event) override {
    auto conn = connection_.lock();
    if (!conn || !conn->open()) return;  // an interceptor that cannot be reached times out
    json::value payload = event.ToPayload();
    if (intercepts_.count(event.hook_name)) payload.as_object()["intercept"] = true;
    conn->SendEvent(std::string(protocol::kHookEventPrefix) + event.hook_name, std::move(payload));
  }

  void Bind(std::weak_ptr<ipc::Connection> conn) { connection_ = std::move(conn); }
  void set_trust_rank(int rank) { trust_rank_ = rank; }  // orders chains started afterwards
  void MarkIntercepting(const std::string& hook) { intercepts_.insert(hook); }
  void ForgetIntercepting(const std::string& hook) { intercepts_.erase(hook); }

 private:
  std::string app_id_;
  int trust_rank_;
  std::weak_ptr<ipc::Connection> connection_;
  std::set<std::string> intercepts_;
};

}  // namespace oc::kernel
