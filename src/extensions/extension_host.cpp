#include "extensions/extension_host.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/async.h"
#include "extensions/library.h"
#include "protocol/hooks.h"

namespace oc::extensions {
namespace {

using registry::PackageType;
using registry::TrustLevel;

// Runs callback `index` of `lib` on a worker and brings the answer back to `loop`. The worker's
// references (the library, the answer slot) outlive a caller that gave up: a late answer is dropped.
asio::awaitable<std::optional<CallAnswer>> RunOnWorker(asio::any_io_executor loop, asio::thread_pool& workers,
                                                       std::shared_ptr<Library> lib, size_t index,
                                                       std::string input, std::chrono::milliseconds timeout) {
  auto slot = std::make_shared<Pending<CallAnswer>>(loop);
  asio::post(workers, [lib = std::move(lib), index, input = std::move(input), slot, loop]() mutable {
    CallAnswer answer = lib->Call(index, input);
    lib.reset();  // may be the last reference: shutdown + dlclose run here, after the callback
    asio::post(loop, [slot = std::move(slot), answer = std::move(answer)]() mutable {
      slot->Set(std::move(answer));
    });
  });
  std::optional<CallAnswer> answer = co_await slot->Wait(timeout);
  co_return answer;
}

// An interceptor's answer as hook.result: no answer, an error or invalid JSON count as continue.
json::value HookResult(const CallAnswer& answer, const std::string& owner, const std::string& hook) {
  json::value cont = json::object{{"action", "continue"}};
  if (!answer.ran) {
    spdlog::warn("extension {}: {} interceptor did not run: {}", owner, hook, answer.failure);
    return cont;
  }
  if (!answer.answered) return cont;
  if (answer.is_error) {
    spdlog::warn("extension {}: {} interceptor failed: {}", owner, hook, answer.text);
    return cont;
  }
  Result<json::value> parsed = ParseJson(answer.text);
  if (!parsed.ok()) {
    spdlog::warn("extension {}: {} interceptor answered invalid JSON: {}", owner, hook,
                 parsed.error().message);
    return cont;
  }
  return std::move(parsed).value();
}

// Delivers hook events to one hook callback of a library, on a worker. Holds the library weakly: once
// the host drops it, deliveries still queued on the loop are skipped (interceptors answer continue).
class ExtensionHookHandler : public hooks::HookHandler {
 public:
  struct Target {
    std::weak_ptr<Library> lib;
    size_t index;
    bool intercept;
  };
  ExtensionHookHandler(Target target, std::string owner, int trust_rank, hooks::HookBus& bus,
                       asio::any_io_executor loop, asio::thread_pool& workers, std::weak_ptr<int> host_alive)
      : target_(std::move(target)),
        owner_(std::move(owner)),
        trust_rank_(trust_rank),
        bus_(bus),
        loop_(std::move(loop)),
        workers_(workers),
        host_alive_(std::move(host_alive)) {}

  const std::string& owner() const override { return owner_; }
  int trust_rank() const override { return trust_rank_; }

  void Deliver(const hooks::HookEvent& event) override {
    std::shared_ptr<Library> lib = target_.lib.lock();
    if (!lib) {
      if (target_.intercept)
        (void)bus_.DeliverResult(event.event_id, owner_, json::object{{"action", "continue"}});
      return;
    }
    json::value payload = event.ToPayload();
    if (target_.intercept) payload.as_object()["intercept"] = true;
    asio::post(workers_, [lib = std::move(lib), index = target_.index, intercept = target_.intercept,
                          input = json::serialize(payload), event_id = event.event_id, hook = event.hook_name,
                          owner = owner_, bus = &bus_, loop = loop_, alive = host_alive_]() mutable {
      CallAnswer answer = lib->Call(index, input);
      lib.reset();
      if (!intercept) {
        if (!answer.ran)
          spdlog::warn("extension {}: {} subscriber did not run: {}", owner, hook, answer.failure);
        return;
      }
      json::value result = HookResult(answer, owner, hook);
      asio::post(loop, [bus, alive = std::move(alive), event_id = std::move(event_id),
                        owner = std::move(owner), result = std::move(result)]() mutable {
        // After the host is gone the bus may be too; a late answer of a timed-out delivery is kNotFound.
        if (alive.lock()) (void)bus->DeliverResult(event_id, owner, std::move(result));
      });
    });
  }

 private:
  Target target_;
  std::string owner_;
  int trust_rank_;
  hooks::HookBus& bus_;
  asio::any_io_executor loop_;
  asio::thread_pool& workers_;
  std::weak_ptr<int> host_alive_;
};

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// A method's error answer: {code, message[, data]} with a protocol code, else its text.
Error MethodError(const std::string& method, const CallAnswer& answer) {
  if (!answer.answered || answer.text.empty())
    return MakeError(ErrorCode::kInternalError,
                     method + " failed (returned " + std::to_string(answer.rc) + ")");
  Result<json::value> parsed = ParseJson(answer.text);
  if (parsed.ok() && parsed->is_object()) {
    const json::object& o = parsed->as_object();
    std::optional<std::string_view> code = GetString(o, "code");
    std::optional<std::string_view> message = GetString(o, "message");
    std::optional<ErrorCode> known = code ? ErrorCodeFromName(*code) : std::nullopt;
    if (known && message) {
      const json::value* data = o.if_contains("data");
      return MakeError(*known, std::string(*message), data ? *data : json::value());
    }
  }
  return MakeError(ErrorCode::kInternalError, answer.text);
}

// `main` resolved through symlinks, when it stays inside the package directory (compared component
// by component: /pkg/a-evil is not inside /pkg/a). A lexically clean main can still be a symlink to
// code elsewhere, which an installed package may carry.
Result<std::filesystem::path> MainInsidePackage(const std::string& id, const std::filesystem::path& dir,
                                                const std::filesystem::path& main) {
  std::error_code ec;
  std::filesystem::path root = std::filesystem::weakly_canonical(dir, ec);
  std::filesystem::path resolved;
  if (!ec) resolved = std::filesystem::weakly_canonical(dir / main, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidParams, id + ": cannot resolve main \"" + main.string() + "\": " + ec.message());
  }
  auto root_end = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end()).first;
  if (root_end != root.end() || resolved == root) {
    return MakeError(ErrorCode::kInvalidParams, id + ": main resolves outside the package directory");
  }
  return resolved;
}

}  // namespace

ExtensionHost::ExtensionHost(asio::any_io_executor loop, asio::thread_pool& workers, hooks::HookBus& bus)
    : loop_(std::move(loop)), workers_(workers), bus_(bus) {}

ExtensionHost::~ExtensionHost() {
  for (auto& [id, lib] : libraries_) {
    lib->MarkUnloading();
    bus_.RemoveOwner(id);
  }
  libraries_.clear();  // shutdown + dlclose now, or when the last callback in flight returns
}

Status ExtensionHost::Load(const registry::Package& pkg, const registry::Grants& grants) {
  const registry::Manifest& m = pkg.manifest;
  const std::string& id = m.id;
  if (libraries_.count(id)) return MakeError(ErrorCode::kConflict, id + ": already loaded");
  if (m.type != PackageType::kSkill && m.type != PackageType::kExtension) {
    return MakeError(ErrorCode::kInvalidParams,
                     id + ": a package of type " + std::string(registry::PackageTypeName(m.type)) +
                         " is not loaded in-process (only skill and extension packages are)");
  }
  if (grants.trust != TrustLevel::kCore && grants.trust != TrustLevel::kVerified) {
    return MakeError(ErrorCode::kForbidden, id + ": trust level " +
                                                std::string(registry::TrustLevelName(grants.trust)) +
                                                " may not load in-process code; set apps." + id +
                                                ".trustLevel to verified to allow it");
  }
  std::filesystem::path main(m.main);
  bool escapes = std::any_of(main.begin(), main.end(), [](const auto& part) { return part == ".."; });
  if (m.main.empty() || main.is_absolute() || escapes) {
    return MakeError(ErrorCode::kInvalidParams,
                     id + ": main must be a relative path inside the package (got \"" + m.main + "\")");
  }
  OC_ASSIGN(std::filesystem::path library_path, MainInsidePackage(id, pkg.dir, main));
  OC_ASSIGN(std::shared_ptr<Library> lib,
            Library::Open(id, std::string(registry::PackageTypeName(m.type)), pkg.dir, library_path));
  OC_TRY(lib->Init([&](Registration& r) { return CheckRegistration(id, grants, r); }));
  OC_TRY(RegisterHooks(lib, static_cast<int>(grants.trust)));
  libraries_.emplace(id, lib);
  spdlog::info("extension {} loaded from {} ({} registrations)", id, lib->path(),
               lib->registrations().size());
  return Status::Ok();
}

std::optional<Error> ExtensionHost::CheckRegistration(const std::string& id, const registry::Grants& grants,
                                                      Registration& r) const {
  std::string what = std::string(CallbackKindName(r.kind)) + " " + Quoted(r.name);
  auto denied = [&](std::string_view section) {
    return MakeError(
        ErrorCode::kCapabilityDenied,
        id + ": " + what + " is not granted (declare it in capabilities." + std::string(section) + ")",
        json::object{{"kind", CallbackKindName(r.kind)}, {"name", r.name}});
  };
  switch (r.kind) {
    case CallbackKind::kTool:
      if (!grants.tools.count(r.name)) return denied("tools.provides");
      break;
    case CallbackKind::kMethod:
      if (!grants.gateway_methods.count(r.name)) return denied("gateway.methods");
      break;
    case CallbackKind::kHook: {
      const protocol::HookSpec* spec = protocol::FindHook(r.name);
      if (!spec) return MakeError(ErrorCode::kInvalidParams, id + ": unknown hook " + Quoted(r.name));
      r.name = std::string(spec->name);
      what = "hook " + Quoted(r.name);
      if (r.intercept && spec->kind != protocol::HookKind::kIntercept)
        return MakeError(ErrorCode::kInvalidParams, id + ": " + what + " cannot be intercepted");
      if (r.intercept && !grants.hooks_intercept.count(r.name)) return denied("hooks.intercepts");
      if (!r.intercept && !grants.hooks_subscribe.count(r.name)) return denied("hooks.subscribes");
      return std::nullopt;  // several packages may handle one hook
    }
    case CallbackKind::kAuth:
      break;  // no manifest section: only uniqueness below
  }
  for (const auto& [owner, lib] : libraries_) {
    for (const Registration& other : lib->registrations()) {
      if (other.kind == r.kind && other.name == r.name)
        return MakeError(ErrorCode::kConflict, id + ": " + what + " is already registered by " + owner);
    }
  }
  return std::nullopt;
}

Status ExtensionHost::RegisterHooks(const std::shared_ptr<Library>& lib, int trust_rank) {
  const std::vector<Registration>& regs = lib->registrations();
  for (size_t i = 0; i < regs.size(); ++i) {
    if (regs[i].kind != CallbackKind::kHook) continue;
    auto handler =
        std::make_shared<ExtensionHookHandler>(ExtensionHookHandler::Target{lib, i, regs[i].intercept},
                                               lib->id(), trust_rank, bus_, loop_, workers_, alive_);
    Status s =
        regs[i].intercept ? bus_.Intercept(regs[i].name, handler) : bus_.Subscribe(regs[i].name, handler);
    if (!s.ok()) {
      bus_.RemoveOwner(lib->id());
      return MakeError(s.error().code, lib->id() + ": " + s.error().message);
    }
  }
  return Status::Ok();
}

Status ExtensionHost::Unload(std::string_view id) {
  auto it = libraries_.find(id);
  if (it == libraries_.end()) return MakeError(ErrorCode::kNotFound, std::string(id) + ": not loaded");
  it->second->MarkUnloading();
  bus_.RemoveOwner(id);
  libraries_.erase(it);
  spdlog::info("extension {} unloaded", id);
  return Status::Ok();
}

std::vector<std::string> ExtensionHost::Loaded() const {
  std::vector<std::string> ids;
  for (const auto& [id, lib] : libraries_) ids.push_back(id);
  return ids;
}

std::optional<std::pair<std::shared_ptr<Library>, size_t>> ExtensionHost::Find(CallbackKind kind,
                                                                               std::string_view name) const {
  for (const auto& [id, lib] : libraries_) {
    const std::vector<Registration>& regs = lib->registrations();
    for (size_t i = 0; i < regs.size(); ++i) {
      if (regs[i].kind == kind && regs[i].name == name) return std::make_pair(lib, i);
    }
  }
  return std::nullopt;
}

std::vector<std::string> ExtensionHost::Names(CallbackKind kind) const {
  std::vector<std::string> names;
  for (const auto& [id, lib] : libraries_) {
    for (const Registration& r : lib->registrations()) {
      if (r.kind == kind) names.push_back(r.name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<agent::ToolSpec> ExtensionHost::Tools() const {
  std::vector<agent::ToolSpec> tools;
  for (const auto& [id, lib] : libraries_) {
    for (const Registration& r : lib->registrations()) {
      if (r.kind == CallbackKind::kTool)
        tools.push_back(agent::ToolSpec{r.name, r.description, r.input_schema});
    }
  }
  std::sort(tools.begin(), tools.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return tools;
}

bool ExtensionHost::HasTool(std::string_view name) const {
  return Find(CallbackKind::kTool, name).has_value();
}

std::optional<std::string> ExtensionHost::ToolOwner(std::string_view name) const {
  auto found = Find(CallbackKind::kTool, name);
  if (!found) return std::nullopt;
  return found->first->id();
}

asio::awaitable<agent::ToolOutcome> ExtensionHost::InvokeTool(std::string name, json::value input) {
  auto found = Find(CallbackKind::kTool, name);
  if (!found) co_return agent::ToolOutcome{"unknown tool: " + name, true};
  std::chrono::milliseconds timeout = call_timeout_;
  std::string text = json::serialize(input);
  std::optional<CallAnswer> answer =
      co_await RunOnWorker(loop_, workers_, found->first, found->second, std::move(text), timeout);
  if (!answer)
    co_return agent::ToolOutcome{
        "tool " + name + " timed out after " + std::to_string(timeout.count()) + " ms", true};
  if (!answer->ran) co_return agent::ToolOutcome{"tool " + name + " failed: " + answer->failure, true};
  if (!answer->answered && answer->rc != 0)
    co_return agent::ToolOutcome{"tool " + name + " failed (returned " + std::to_string(answer->rc) + ")",
                                 true};
  co_return agent::ToolOutcome{std::move(answer->text), answer->is_error || answer->rc != 0};
}

std::vector<std::string> ExtensionHost::Methods() const { return Names(CallbackKind::kMethod); }

std::optional<std::string> ExtensionHost::MethodOwner(std::string_view method) const {
  auto found = Find(CallbackKind::kMethod, method);
  if (!found) return std::nullopt;
  return found->first->id();
}

asio::awaitable<Result<json::value>> ExtensionHost::CallMethod(std::string name, json::value params) {
  auto found = Find(CallbackKind::kMethod, name);
  if (!found) co_return MakeError(ErrorCode::kMethodNotFound, "unknown method: " + name);
  std::chrono::milliseconds timeout = call_timeout_;
  std::string text = json::serialize(params);
  std::optional<CallAnswer> answer =
      co_await RunOnWorker(loop_, workers_, found->first, found->second, std::move(text), timeout);
  if (!answer)
    co_return MakeError(ErrorCode::kTimeout,
                        name + " timed out after " + std::to_string(timeout.count()) + " ms");
  if (!answer->ran) co_return MakeError(ErrorCode::kInternalError, name + " failed: " + answer->failure);
  if (answer->is_error || answer->rc != 0) co_return MethodError(name, *answer);
  if (!answer->answered || answer->text.empty()) co_return json::value();
  Result<json::value> parsed = ParseJson(answer->text);
  if (!parsed.ok())
    co_return MakeError(ErrorCode::kInternalError,
                        name + " answered invalid JSON: " + parsed.error().message);
  co_return parsed;
}

std::vector<std::string> ExtensionHost::AuthProviders() const { return Names(CallbackKind::kAuth); }

asio::awaitable<Result<json::value>> ExtensionHost::CheckAuth(std::string name, std::string credential) {
  auto found = Find(CallbackKind::kAuth, name);
  if (!found) co_return MakeError(ErrorCode::kNotFound, "unknown auth provider: " + name);
  std::chrono::milliseconds timeout = call_timeout_;
  std::optional<CallAnswer> answer =
      co_await RunOnWorker(loop_, workers_, found->first, found->second, std::move(credential), timeout);
  std::string what = "auth provider " + name;
  if (!answer)
    co_return MakeError(ErrorCode::kTimeout,
                        what + " timed out after " + std::to_string(timeout.count()) + " ms");
  if (!answer->ran) co_return MakeError(ErrorCode::kInternalError, what + " failed: " + answer->failure);
  if (answer->is_error || answer->rc != 0 || !answer->answered)
    co_return MakeError(ErrorCode::kInternalError,
                        what + " failed: " + (answer->answered ? answer->text : "no answer"));
  Result<json::value> parsed = ParseJson(answer->text);
  std::optional<bool> ok;
  if (parsed.ok() && parsed->is_object()) ok = GetBool(parsed->as_object(), "ok");
  if (!ok)
    co_return MakeError(ErrorCode::kInternalError,
                        what + " answered without a boolean \"ok\": " + answer->text);
  json::object verdict{{"ok", *ok}};
  std::optional<std::string_view> subject = GetString(parsed->as_object(), "subject");
  if (*ok && subject) verdict["subject"] = *subject;
  co_return json::value(std::move(verdict));
}

json::value ExtensionHost::Describe() const {
  json::array out;
  for (const auto& [id, lib] : libraries_) {
    json::array tools, methods, auth, subscribes, intercepts;
    for (const Registration& r : lib->registrations()) {
      switch (r.kind) {
        case CallbackKind::kTool:
          tools.emplace_back(r.name);
          break;
        case CallbackKind::kMethod:
          methods.emplace_back(r.name);
          break;
        case CallbackKind::kAuth:
          auth.emplace_back(r.name);
          break;
        case CallbackKind::kHook:
          (r.intercept ? intercepts : subscribes).emplace_back(r.name);
          break;
      }
    }
    out.push_back(json::object{{"id", id},
                               {"type", lib->type()},
                               {"name", lib->display_name()},
                               {"abi", lib->abi_version()},
                               {"path", lib->path()},
                               {"tools", std::move(tools)},
                               {"methods", std::move(methods)},
                               {"authProviders", std::move(auth)},
                               {"hooks", json::object{{"subscribes", std::move(subscribes)},
                                                      {"intercepts", std::move(intercepts)}}}});
  }
  return out;
}

}  // namespace oc::extensions
