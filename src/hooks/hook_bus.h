// The hook bus (SPEC §6): subscribers observe hook events, interceptors modify or block them, one
// after another. App connections and in-process handlers (built-in skills, extensions) use the same bus.
//
// Threading: a HookBus and every handler it calls live on one executor (the kernel's loop). No method
// is thread-safe; call them from that executor only. Nothing here blocks.
// Policy: the bus does no capability checks. Whoever registers a handler (the IPC layer, the
// extension loader) has already checked the grants of SPEC §3; the bus only uses the trust rank to
// order interceptors.
// Lifetime: the bus must outlive every RunIntercept / RunInterceptThen it started. Handlers are held
// by shared_ptr while registered and while a delivery to them is in flight.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/async.h"
#include "common/json.h"
#include "common/status.h"

namespace oc::hooks {

struct HookEvent {
  std::string event_id;   // unique per bus ("h-<n>"); every interceptor delivery gets its own id
  std::string hook_name;  // canonical name (aliases resolved)
  json::value data;
  json::object context;  // {agentId?, sessionKey?, channelId?, accountId?, timestamp}; timestamp added if absent
  // {eventId, hookName, data, context} as sent in the "hook:<name>" event.
  json::value ToPayload() const;
};

// An endpoint that receives hook events: an app connection (the kernel's IPC layer implements this
// by sending an event frame "hook:<name>" with ToPayload()) or an in-process handler.
class HookHandler {
 public:
  virtual ~HookHandler() = default;
  virtual const std::string& owner() const = 0;  // app id, or "kernel:<name>" for in-process
  virtual int trust_rank() const = 0;            // 0 core, 1 verified, 2 community, 3 untrusted
  // Must not block. The event reference is valid only during the call (copy what you keep).
  // Interceptors answer through HookBus::DeliverResult(event.event_id, owner(), result), now or later;
  // an in-process handler may call it before Deliver returns. Subscribers never answer.
  // An exception escaping Deliver is caught by the bus, logged, and counts as "continue".
  virtual void Deliver(const HookEvent& event) = 0;
};

struct HookSettings {
  int64_t intercept_timeout_ms = 5000;  // hooks.interceptTimeoutMs
  std::vector<std::string> fail_closed;  // hooks.failClosed: hook names (aliases accepted)
  std::vector<std::string> order;        // hooks.order: owner ids, earliest first
};

struct InterceptOutcome {
  bool blocked = false;
  std::string reason;      // block reason as given (may be empty); "timeout" for fail-closed timeouts
  std::string blocked_by;  // owner that blocked
  json::value data;        // final data after all modifications (at the point of blocking, if blocked)
};

class HookBus {
 public:
  HookBus(asio::any_io_executor executor, HookSettings settings);
  HookBus(const HookBus&) = delete;
  HookBus& operator=(const HookBus&) = delete;

  // Applies to chains started afterwards (a running chain keeps the settings it started with).
  void UpdateSettings(HookSettings settings);

  // Registers `handler` for `hook` (a name or an alias). Registering the same owner twice for the same
  // hook and kind replaces the handler and keeps the original registration position.
  // Errors: kInvalidParams for an unknown hook, a null handler or an empty owner; Intercept also
  // kInvalidParams when the hook is subscribe-only.
  Status Subscribe(std::string_view hook, std::shared_ptr<HookHandler> handler);
  Status Intercept(std::string_view hook, std::shared_ptr<HookHandler> handler);
  // Removes the owner's subscription and interception of `hook` (both kinds); unknown names are a
  // no-op. A delivery already in flight to that owner's interceptor is abandoned (the chain moves on).
  void Unsubscribe(std::string_view hook, std::string_view owner);
  // Removes everything of that owner (app exited), and abandons every delivery in flight to it,
  // including a RunInterceptThen final step (its final_result is then nullopt).
  void RemoveOwner(std::string_view owner);
  // Canonical names of the hooks the owner subscribes to or intercepts, sorted, without duplicates.
  std::vector<std::string> SubscriptionsOf(std::string_view owner) const;

  // True when `hook` (a name or an alias) has a subscriber or an interceptor, so callers can skip
  // building an expensive payload nobody would receive.
  bool HasHandlers(std::string_view hook) const;

  // Sends the event to every subscriber of `hook`, each in its own handler posted to the executor:
  // Emit returns before any delivery. A subscriber removed before its turn is skipped. Unknown hook:
  // logged and dropped.
  void Emit(std::string_view hook, json::value data, json::object context = {});

  // Runs the interceptor chain of `hook`: trust rank ascending, then position in settings.order
  // (listed before unlisted), then registration order. Each interceptor receives the event with the
  // CURRENT data and must answer within intercept_timeout_ms (answer forms: intercept_answer.h).
  // Invalid answers are logged (warn) and count as continue; a timeout is continue, unless the hook is
  // in fail_closed → blocked with reason "timeout". A block stops the chain. A handler removed
  // before or during its turn is skipped. Subscribers are NOT notified (the caller Emits separately).
  // An unknown or subscribe-only hook has no interceptors: the data comes back unchanged.
  // All arguments are copied before the coroutine first suspends.
  asio::awaitable<InterceptOutcome> RunIntercept(std::string_view hook, json::value data,
                                                 json::object context = {});

  // Like RunIntercept, then (unless blocked) `final_handler` receives the event with the final data as
  // the last step, and its DeliverResult answer is returned as `final_result` (nullopt on timeout, when
  // its owner is removed meanwhile, when it throws, or when it is null). Used for message_sending: the
  // channel's owner app delivers and acknowledges {delivered:true, messageId?} or an error object.
  struct FinalOutcome {
    InterceptOutcome outcome;
    std::optional<json::value> final_result;
  };
  asio::awaitable<FinalOutcome> RunInterceptThen(std::string_view hook, json::value data,
                                                 json::object context,
                                                 std::shared_ptr<HookHandler> final_handler,
                                                 std::chrono::milliseconds final_timeout);

  // An answer (hook.result) to a delivery. Errors: kNotFound when no delivery with that id awaits an
  // answer (unknown, already answered, timed out, or a subscriber event); kForbidden when `owner` is
  // not the handler the event was sent to. The answer is interpreted by the waiting chain.
  Status DeliverResult(std::string_view event_id, std::string_view owner, json::value result);

  // Deliveries currently awaiting an answer.
  size_t pending_count() const;

 private:
  struct Registration {
    std::shared_ptr<HookHandler> handler;
    std::string owner;  // handler->owner() at registration
    uint64_t sequence;  // registration order
    bool active = true;  // false once removed: queued deliveries and running chains skip it
  };
  using RegistrationPtr = std::shared_ptr<Registration>;
  struct HookRegistrations {
    std::vector<RegistrationPtr> subscribers;
    std::vector<RegistrationPtr> interceptors;
  };
  struct InFlight;  // a delivery awaiting its answer (hook_bus.cpp)
  struct Answer;    // how a delivery ended (hook_bus.cpp)

  Status Register(std::string_view hook, std::shared_ptr<HookHandler> handler, bool intercept);
  std::vector<RegistrationPtr> OrderedInterceptors(const std::string& hook) const;
  HookEvent MakeEvent(const std::string& hook, json::value data, json::object context);
  asio::awaitable<InterceptOutcome> RunChain(std::string hook, json::value data, json::object context);
  asio::awaitable<FinalOutcome> RunChainThen(std::string hook, json::value data, json::object context,
                                             std::shared_ptr<HookHandler> final_handler,
                                             std::chrono::milliseconds final_timeout);
  asio::awaitable<Answer> Ask(std::shared_ptr<HookHandler> handler, std::string owner,
                              HookEvent event, std::chrono::milliseconds timeout, bool final_step);
  // Applies one interceptor's answer to `outcome`; true when the chain stops (blocked).
  static bool ApplyAnswer(const std::string& hook, const std::string& owner, const Answer& answer,
                          bool fail_closed, const json::value& original, InterceptOutcome& outcome);
  // Ends the deliveries in flight to `owner` (only those of `hook` that are not final steps, if given).
  void Abandon(std::string_view owner, const std::string* hook);
  bool IsFailClosed(const std::string& hook) const;
  static void RemoveOwnerFrom(std::vector<RegistrationPtr>& list, std::string_view owner);

  asio::any_io_executor executor_;
  HookSettings settings_;
  std::map<std::string, HookRegistrations, std::less<>> hooks_;  // by canonical name
  std::unordered_map<std::string, std::shared_ptr<InFlight>> in_flight_;  // by event id
  uint64_t next_event_ = 1;
  uint64_t next_registration_ = 1;
};

// An in-process handler around a function. As an interceptor (or final step), a value returned by the
// function is delivered as its answer through bus.DeliverResult before Deliver returns (json null =
// block); std::nullopt means "no answer now": the function may answer later itself with
// bus.DeliverResult(event.event_id, owner, ...), or let the delivery time out. As a subscriber the
// return value is ignored (there is nothing to answer). The bus must outlive the handler's use.
class FunctionHandler : public HookHandler {
 public:
  using Fn = std::function<std::optional<json::value>(const HookEvent&)>;
  FunctionHandler(HookBus& bus, std::string owner, int trust_rank, Fn fn);

  const std::string& owner() const override { return owner_; }
  int trust_rank() const override { return trust_rank_; }
  void Deliver(const HookEvent& event) override;

 private:
  HookBus& bus_;
  std::string owner_;
  int trust_rank_;
  Fn fn_;
};

}  // namespace oc::hooks
