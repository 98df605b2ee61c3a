#include "hooks/hook_bus.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <tuple>

#include "hooks/intercept_answer.h"
#include "protocol/hooks.h"

namespace oc::hooks {

struct HookBus::InFlight {
  InFlight(asio::any_io_executor ex, std::string owner, std::string hook, bool final_step)
      : answer(std::move(ex)), owner(std::move(owner)), hook(std::move(hook)), final_step(final_step) {}
  Pending<json::value> answer;
  std::string owner;  // the only owner allowed to answer
  std::string hook;
  bool final_step;
  bool abandoned = false;  // its owner was removed before answering
};

struct HookBus::Answer {
  enum class Kind { kAnswered, kTimedOut, kAbandoned, kFailed };
  Kind kind;
  json::value value;  // kAnswered: the result as given
};

namespace {

// Handlers are other people's code (extensions); an exception must not unwind through the loop.
bool DeliverSafely(HookHandler& handler, const HookEvent& event) {
  try {
    handler.Deliver(event);
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("hook {}: handler {} threw: {}", event.hook_name, handler.owner(), e.what());
  } catch (...) {
    spdlog::warn("hook {}: handler {} threw a non-standard exception", event.hook_name, handler.owner());
  }
  return false;
}

// Canonical name; unknown names pass through unchanged (they match no registration).
std::string CanonicalName(std::string_view hook) {
  const protocol::HookSpec* spec = protocol::FindHook(hook);
  if (spec == nullptr) spdlog::warn("hook bus: unknown hook {}", hook);
  return std::string(spec != nullptr ? spec->name : hook);
}

}  // namespace

json::value HookEvent::ToPayload() const {
  return json::object{{"eventId", event_id}, {"hookName", hook_name}, {"data", data}, {"context", context}};
}

HookBus::HookBus(asio::any_io_executor executor, HookSettings settings) : executor_(std::move(executor)) {
  UpdateSettings(std::move(settings));
}

void HookBus::UpdateSettings(HookSettings settings) {
  // Aliases are resolved once here so IsFailClosed compares canonical names.
  for (std::string& name : settings.fail_closed) name = CanonicalName(name);
  settings_ = std::move(settings);
}

Status HookBus::Subscribe(std::string_view hook, std::shared_ptr<HookHandler> handler) {
  return Register(hook, std::move(handler), false);
}

Status HookBus::Intercept(std::string_view hook, std::shared_ptr<HookHandler> handler) {
  return Register(hook, std::move(handler), true);
}

Status HookBus::Register(std::string_view hook, std::shared_ptr<HookHandler> handler, bool intercept) {
  const protocol::HookSpec* spec = protocol::FindHook(hook);
  if (spec == nullptr) return MakeError(ErrorCode::kInvalidParams, "unknown hook: " + std::string(hook));
  if (intercept && spec->kind != protocol::HookKind::kIntercept)
    return MakeError(ErrorCode::kInvalidParams,
                     "\"" + std::string(spec->name) + "\" cannot be intercepted");
  if (handler == nullptr) return MakeError(ErrorCode::kInvalidParams, "null hook handler");
  std::string owner = handler->owner();
  if (owner.empty()) return MakeError(ErrorCode::kInvalidParams, "hook handler without owner");

  HookRegistrations& registrations = hooks_[std::string(spec->name)];
  auto& list = intercept ? registrations.interceptors : registrations.subscribers;
  for (const RegistrationPtr& existing : list) {
    if (existing->owner == owner) {  // re-registration (e.g. a resumed connection): new endpoint, same place
      existing->handler = std::move(handler);
      return Status::Ok();
    }
  }
  list.push_back(std::make_shared<Registration>(
      Registration{std::move(handler), std::move(owner), next_registration_++}));
  return Status::Ok();
}

void HookBus::Unsubscribe(std::string_view hook, std::string_view owner) {
  const protocol::HookSpec* spec = protocol::FindHook(hook);
  if (spec == nullptr) return;
  const std::string name(spec->name);
  auto it = hooks_.find(name);
  if (it != hooks_.end()) {
    RemoveOwnerFrom(it->second.subscribers, owner);
    RemoveOwnerFrom(it->second.interceptors, owner);
    if (it->second.subscribers.empty() && it->second.interceptors.empty()) hooks_.erase(it);
  }
  Abandon(owner, &name);
}

void HookBus::RemoveOwner(std::string_view owner) {
  for (auto it = hooks_.begin(); it != hooks_.end();) {
    RemoveOwnerFrom(it->second.subscribers, owner);
    RemoveOwnerFrom(it->second.interceptors, owner);
    it = (it->second.subscribers.empty() && it->second.interceptors.empty()) ? hooks_.erase(it) : std::next(it);
  }
  Abandon(owner, nullptr);
}

void HookBus::Abandon(std::string_view owner, const std::string* hook) {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    InFlight& flight = *it->second;
    bool match = flight.owner == owner && (hook == nullptr || (flight.hook == *hook && !flight.final_step));
    if (!match) {
      ++it;
      continue;
    }
    if (!flight.answer.has_value()) {
      flight.abandoned = true;
      flight.answer.Set(nullptr);  // wakes the waiting chain; it reads `abandoned`
    }
    it = in_flight_.erase(it);
  }
}

std::vector<std::string> HookBus::SubscriptionsOf(std::string_view owner) const {
  std::vector<std::string> names;  // hooks_ is sorted, so names come out sorted and unique
  auto has_owner = [owner](const RegistrationPtr& r) { return r->owner == owner; };
  for (const auto& [name, registrations] : hooks_) {
    if (std::any_of(registrations.subscribers.begin(), registrations.subscribers.end(), has_owner) ||
        std::any_of(registrations.interceptors.begin(), registrations.interceptors.end(), has_owner))
      names.push_back(name);
  }
  return names;
}

HookEvent HookBus::MakeEvent(const std::string& hook, json::value data, json::object context) {
  if (!context.contains("timestamp")) context["timestamp"] = NowMs();
  return HookEvent{"h-" + std::to_string(next_event_++), hook, std::move(data), std::move(context)};
}

bool HookBus::HasHandlers(std::string_view hook) const {
  const protocol::HookSpec* spec = protocol::FindHook(hook);
  if (spec == nullptr) return false;
  auto it = hooks_.find(spec->name);
  return it != hooks_.end() && (!it->second.subscribers.empty() || !it->second.interceptors.empty());
}

void HookBus::Emit(std::string_view hook, json::value data, json::object context) {
  const protocol::HookSpec* spec = protocol::FindHook(hook);
  if (spec == nullptr) {
    spdlog::warn("hook bus: dropping event of unknown hook {}", hook);
    return;
  }
  auto it = hooks_.find(spec->name);
  if (it == hooks_.end() || it->second.subscribers.empty()) return;
  // One shared event for all subscribers; each delivery is its own posted handler so a slow or
  // throwing subscriber cannot delay the caller or the others.
  auto event = std::make_shared<const HookEvent>(
      MakeEvent(std::string(spec->name), std::move(data), std::move(context)));
  for (const RegistrationPtr& registration : it->second.subscribers) {
    asio::post(executor_, [registration, event] {
      if (registration->active) DeliverSafely(*registration->handler, *event);
    });
  }
}

std::vector<HookBus::RegistrationPtr> HookBus::OrderedInterceptors(const std::string& hook) const {
  auto it = hooks_.find(hook);
  if (it == hooks_.end()) return {};
  using Key = std::tuple<int, size_t, uint64_t>;  // trust rank, position in hooks.order, registration
  std::vector<std::pair<Key, RegistrationPtr>> keyed;
  const auto& order = settings_.order;
  for (const RegistrationPtr& r : it->second.interceptors) {
    size_t position = std::find(order.begin(), order.end(), r->owner) - order.begin();  // unlisted: last
    keyed.emplace_back(Key{r->handler->trust_rank(), position, r->sequence}, r);
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<RegistrationPtr> chain;
  for (auto& [key, r] : keyed) chain.push_back(std::move(r));
  return chain;
}

bool HookBus::IsFailClosed(const std::string& hook) const {
  const auto& names = settings_.fail_closed;
  return std::find(names.begin(), names.end(), hook) != names.end();
}

asio::awaitable<HookBus::Answer> HookBus::Ask(std::shared_ptr<HookHandler> handler, std::string owner,
                                              HookEvent event, std::chrono::milliseconds timeout,
                                              bool final_step) {
  // Registered before Deliver: an in-process handler may answer from inside Deliver.
  auto flight = std::make_shared<InFlight>(executor_, owner, event.hook_name, final_step);
  in_flight_.emplace(event.event_id, flight);
  if (!DeliverSafely(*handler, event)) {
    in_flight_.erase(event.event_id);
    co_return Answer{Answer::Kind::kFailed, nullptr};
  }
  std::optional<json::value> value = co_await flight->answer.Wait(timeout);
  in_flight_.erase(event.event_id);  // a later answer is then kNotFound
  if (flight->abandoned) co_return Answer{Answer::Kind::kAbandoned, nullptr};
  if (!value) co_return Answer{Answer::Kind::kTimedOut, nullptr};
  co_return Answer{Answer::Kind::kAnswered, std::move(*value)};
}

bool HookBus::ApplyAnswer(const std::string& hook, const std::string& owner, const Answer& answer,
                          bool fail_closed, const json::value& original, InterceptOutcome& outcome) {
  switch (answer.kind) {
    case Answer::Kind::kFailed:
    case Answer::Kind::kAbandoned: return false;  // already logged / owner gone: skip it
    case Answer::Kind::kTimedOut:
      if (!fail_closed) {
        spdlog::warn("hook {}: interceptor {} timed out; continuing", hook, owner);
        return false;
      }
      spdlog::warn("hook {}: interceptor {} timed out; blocked (fail-closed)", hook, owner);
      outcome = InterceptOutcome{true, "timeout", owner, std::move(outcome.data)};
      return true;
    case Answer::Kind::kAnswered: break;
  }
  InterceptAnswer interpreted = InterpretInterceptAnswer(answer.value, original);
  switch (interpreted.action) {
    case InterceptAnswer::Action::kContinue: return false;
    case InterceptAnswer::Action::kInvalid:
      spdlog::warn("hook {}: invalid answer from {} ({}); treated as continue", hook, owner,
                   interpreted.reason);
      return false;
    case InterceptAnswer::Action::kModify:
      // Shallow merge: the interceptor's fields replace the current ones, the others stay.
      if (outcome.data.is_object()) {
        for (auto& [key, value] : interpreted.data.as_object()) outcome.data.as_object()[key] = std::move(value);
      } else {
        outcome.data = std::move(interpreted.data);
      }
      return false;
    case InterceptAnswer::Action::kBlock:
      spdlog::info("hook {}: blocked by {}: {}", hook, owner, interpreted.reason);
      outcome = InterceptOutcome{true, std::move(interpreted.reason), owner, std::move(outcome.data)};
      return true;
  }
  return false;
}

asio::awaitable<InterceptOutcome> HookBus::RunIntercept(std::string_view hook, json::value data,
                                                        json::object context) {
  // Not a coroutine itself: RunChain copies the name into its frame before `hook` can dangle.
  return RunChain(CanonicalName(hook), std::move(data), std::move(context));
}

asio::awaitable<InterceptOutcome> HookBus::RunChain(std::string hook, json::value data,
                                                    json::object context) {
  // The settings a chain starts with hold for the whole chain.
  const auto timeout = std::chrono::milliseconds(settings_.intercept_timeout_ms);
  const bool fail_closed = IsFailClosed(hook);
  InterceptOutcome outcome;
  outcome.data = data;
  const json::value original = std::move(data);
  for (const RegistrationPtr& registration : OrderedInterceptors(hook)) {
    if (!registration->active) continue;  // removed while the chain ran
    Answer answer = co_await Ask(registration->handler, registration->owner,
                                 MakeEvent(hook, outcome.data, context), timeout, false);
    if (ApplyAnswer(hook, registration->owner, answer, fail_closed, original, outcome)) break;
  }
  co_return outcome;
}

asio::awaitable<HookBus::FinalOutcome> HookBus::RunInterceptThen(
    std::string_view hook, json::value data, json::object context,
    std::shared_ptr<HookHandler> final_handler, std::chrono::milliseconds final_timeout) {
  return RunChainThen(CanonicalName(hook), std::move(data), std::move(context), std::move(final_handler),
                      final_timeout);
}

asio::awaitable<HookBus::FinalOutcome> HookBus::RunChainThen(
    std::string hook, json::value data, json::object context,
    std::shared_ptr<HookHandler> final_handler, std::chrono::milliseconds final_timeout) {
  FinalOutcome result;
  result.outcome = co_await RunChain(hook, std::move(data), context);
  if (result.outcome.blocked || final_handler == nullptr) co_return result;
  std::string owner = final_handler->owner();
  Answer answer = co_await Ask(final_handler, owner, MakeEvent(hook, result.outcome.data, std::move(context)),
                               final_timeout, true);
  if (answer.kind == Answer::Kind::kAnswered)
    result.final_result = std::move(answer.value);
  else
    spdlog::warn("hook {}: final step {} gave no answer", hook, owner);
  co_return result;
}

Status HookBus::DeliverResult(std::string_view event_id, std::string_view owner, json::value result) {
  auto it = in_flight_.find(std::string(event_id));
  if (it == in_flight_.end())
    return MakeError(ErrorCode::kNotFound, "no hook event awaiting a result: " + std::string(event_id));
  if (it->second->owner != owner)
    return MakeError(ErrorCode::kForbidden,
                     "hook event " + std::string(event_id) + " was not sent to " + std::string(owner));
  std::shared_ptr<InFlight> flight = std::move(it->second);
  in_flight_.erase(it);  // one answer per delivery: a repeat is kNotFound
  flight->answer.Set(std::move(result));
  return Status::Ok();
}

size_t HookBus::pending_count() const { return in_flight_.size(); }

void HookBus::RemoveOwnerFrom(std::vector<RegistrationPtr>& list, std::string_view owner) {
  std::erase_if(list, [owner](const RegistrationPtr& r) {
    if (r->owner != owner) return false;
    r->active = false;  // deliveries already queued and running chains see this
    return true;
  });
}

FunctionHandler::FunctionHandler(HookBus& bus, std::string owner, int trust_rank, Fn fn)
    : bus_(bus), owner_(std::move(owner)), trust_rank_(trust_rank), fn_(std::move(fn)) {}

void FunctionHandler::Deliver(const HookEvent& event) {
  std::optional<json::value> answer = fn_(event);
  // For a subscriber event nothing awaits an answer: DeliverResult says kNotFound, which is expected.
  if (answer) (void)bus_.DeliverResult(event.event_id, owner_, std::move(*answer));
}

}  // namespace oc::hooks
