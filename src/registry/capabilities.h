// Capabilities (SPEC §3, §4.1): what a package may do, computed from its manifest, its effective
// trust level and the user's grants/denies; and the runtime table of who owns which channel, tool,
// gateway method, HTTP route and provider.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "registry/manifest.h"
#include "registry/packages.h"

namespace oc::registry {

struct Grants {
  TrustLevel trust = TrustLevel::kUntrusted;
  bool sandboxed = true;
  std::set<std::string> channels, tools, hooks_subscribe, hooks_intercept, gateway_methods,
      http_routes, providers;
  // channels.requires: other apps' channels whose conversations this app may read and send to
  // (session.get/list, message.dispatch). Granted like channels.provides.
  std::set<std::string> channels_required;

  // {trustLevel, sandboxed, channels[], channelsRequired[], tools[], hooks {subscribes[], intercepts[]},
  //  gateway {methods[], httpRoutes[]}, providers[]} — the manifest's shape, sorted.
  json::value ToJson() const;
};

// The trust level a package runs with. `user_trust_level` is apps.<id>.trustLevel when set (an
// unparseable value counts as "untrusted": fail closed).
//  - shipped (and not external): core;
//  - otherwise the user's level, default community — or untrusted when `external` (an app the
//    kernel did not spawn) — capped by the manifest's claimed trustLevel (a claim is a ceiling);
//  - never above (more trusted than) the user's level.
TrustLevel EffectiveTrust(const Package& pkg, std::optional<std::string_view> user_trust_level,
                          bool external = false);

// Granted = declared ∩ allowed-by-trust ∪ grants − denies (SPEC §3).
//  - core/verified: everything declared; community: channels, tools, gateway methods/routes and
//    subscribes, but intercepts and providers only when granted; untrusted: nothing unless granted.
//  - `grants`/`denies` entries are "<section>:<name>" with section one of channels, channels.requires, tools,
//    hooks.subscribes, hooks.intercepts, gateway.methods, gateway.httpRoutes, providers
//    ("channels.provides", "tools.provides", "providers.provides" are accepted too); hook names may
//    be aliases; name "*" means every declared entry of that section. A grant never adds what the
//    manifest did not declare; a deny always wins. Malformed entries are ignored (logged).
//  - sandboxed: on for community/untrusted, otherwise the manifest's security.sandboxed.
Grants ComputeGrants(const Manifest& m, TrustLevel effective,
                     const std::vector<std::string>& grants,
                     const std::vector<std::string>& denies);

// Runtime ownership of channels, tools, gateway methods, HTTP routes and providers: first come,
// first served; one owner per (type, name). Not thread-safe: owned by the kernel's event loop.
class CapabilityTable {
 public:
  // type ∈ channel | tool | gateway_method | http_route | provider (anything else →
  // kInvalidParams). Refused with kCapabilityDenied when `name` is not in `grants` ("channel
  // \"irc\" is not granted to @x/y"), kConflict when another app owns it ("channel \"irc\" is
  // already owned by @a/b"). Registering what the same app already owns returns the same id.
  // Returns the capability id "<type>:<name>".
  Result<std::string> Register(std::string_view app_id, const Grants& grants, std::string_view type,
                               std::string_view name);
  // kNotFound when nobody owns `capability_id`; kForbidden when another app does.
  Status Unregister(std::string_view app_id, std::string_view capability_id);
  // Drops everything `app_id` owns (its process exited or it was stopped).
  void ReleaseAll(std::string_view app_id);
  std::optional<std::string> Owner(std::string_view type, std::string_view name) const;
  // [{capabilityId, type, name}] owned by `app_id`, sorted by id.
  json::value ListFor(std::string_view app_id) const;

 private:
  struct Entry {
    std::string app_id, type, name;
  };
  std::map<std::string, Entry, std::less<>> by_id_;
};

}  // namespace oc::registry
