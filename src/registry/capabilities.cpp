#include "registry/capabilities.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/hooks.h"

namespace oc::registry {

namespace {

TrustLevel LessTrusted(TrustLevel a, TrustLevel b) {
  return static_cast<int>(a) > static_cast<int>(b) ? a : b;
}

json::array ToArray(const std::set<std::string>& s) {
  json::array out;
  for (const auto& v : s) out.emplace_back(v);
  return out;
}

}  // namespace

json::value Grants::ToJson() const {
  return json::object{
      {"trustLevel", TrustLevelName(trust)},
      {"sandboxed", sandboxed},
      {"channels", ToArray(channels)},
      {"channelsRequired", ToArray(channels_required)},
      {"tools", ToArray(tools)},
      {"hooks", json::object{{"subscribes", ToArray(hooks_subscribe)},
                             {"intercepts", ToArray(hooks_intercept)}}},
      {"gateway",
       json::object{{"methods", ToArray(gateway_methods)}, {"httpRoutes", ToArray(http_routes)}}},
      {"providers", ToArray(providers)},
  };
}

TrustLevel EffectiveTrust(const Package& pkg, std::optional<std::string_view> user_trust_level,
                          bool external) {
  std::optional<TrustLevel> user;
  if (user_trust_level) {
    user = ParseTrustLevel(*user_trust_level);
    if (!user) {
      spdlog::warn("apps.{}.trustLevel: unknown level \"{}\"; treating the app as untrusted",
                   pkg.manifest.id, *user_trust_level);
      user = TrustLevel::kUntrusted;
    }
  }
  // Something the kernel did not spawn is never trusted as shipped code, whatever id it claims.
  if (pkg.shipped && !external)
    return user ? LessTrusted(TrustLevel::kCore, *user) : TrustLevel::kCore;
  TrustLevel level = user.value_or(external ? TrustLevel::kUntrusted : TrustLevel::kCommunity);
  return LessTrusted(level, pkg.manifest.claimed_trust);
}

namespace {

// One grantable section: what the manifest declares, where granted names go, and whether the trust
// level alone allows it.
struct Section {
  std::string_view name;
  std::string_view alias;  // accepted spelling in grants/denies, may be empty
  const std::vector<std::string>* declared;
  std::set<std::string>* granted;
  bool privileged;  // intercepts and providers: community needs an explicit grant
  bool hooks;       // names may be hook aliases
};

std::vector<Section> Sections(const Manifest& m, Grants& g) {
  return {
      {"channels", "channels.provides", &m.channels_provides, &g.channels, false, false},
      {"channels.requires", "", &m.channels_requires, &g.channels_required, false, false},
      {"tools", "tools.provides", &m.tools_provides, &g.tools, false, false},
      {"hooks.subscribes", "", &m.hooks_subscribes, &g.hooks_subscribe, false, true},
      {"hooks.intercepts", "", &m.hooks_intercepts, &g.hooks_intercept, true, true},
      {"gateway.methods", "", &m.gateway_methods, &g.gateway_methods, false, false},
      {"gateway.httpRoutes", "", &m.http_routes, &g.http_routes, false, false},
      {"providers", "providers.provides", &m.providers_provides, &g.providers, true, false},
  };
}

// Applies one "<section>:<name>" entry: inserts (grant) or erases (deny) the declared names it
// matches.
void ApplyEntry(std::vector<Section>& sections, std::string_view entry, bool grant,
                std::string_view app_id) {
  size_t colon = entry.find(':');
  std::string_view section_name = entry.substr(0, colon);
  auto section = std::find_if(sections.begin(), sections.end(), [&](const Section& s) {
    return s.name == section_name || (!s.alias.empty() && s.alias == section_name);
  });
  if (colon == std::string_view::npos || section == sections.end()) {
    spdlog::warn("apps.{}.{}: ignoring malformed entry \"{}\" (expected <section>:<name>)", app_id,
                 grant ? "grants" : "denies", entry);
    return;
  }
  std::string_view name = entry.substr(colon + 1);
  if (section->hooks && name != "*")
    if (const protocol::HookSpec* spec = protocol::FindHook(name)) name = spec->name;
  for (const std::string& declared : *section->declared) {
    if (name != "*" && name != declared) continue;
    if (grant)
      section->granted->insert(declared);
    else
      section->granted->erase(declared);
  }
}

}  // namespace

Grants ComputeGrants(const Manifest& m, TrustLevel effective,
                     const std::vector<std::string>& grants,
                     const std::vector<std::string>& denies) {
  Grants g;
  g.trust = effective;
  g.sandboxed = effective >= TrustLevel::kCommunity || m.sandboxed;
  std::vector<Section> sections = Sections(m, g);
  for (Section& s : sections) {
    bool allowed =
        s.privileged ? effective <= TrustLevel::kVerified : effective <= TrustLevel::kCommunity;
    if (allowed) s.granted->insert(s.declared->begin(), s.declared->end());
  }
  for (const std::string& entry : grants) ApplyEntry(sections, entry, true, m.id);
  for (const std::string& entry : denies) ApplyEntry(sections, entry, false, m.id);
  return g;
}

// ---- CapabilityTable ----

namespace {

struct CapabilityType {
  std::string_view type;
  std::string_view display;
  std::set<std::string> Grants::*granted;
};

constexpr CapabilityType kTypes[] = {
    {"channel", "channel", &Grants::channels},
    {"tool", "tool", &Grants::tools},
    {"gateway_method", "gateway method", &Grants::gateway_methods},
    {"http_route", "HTTP route", &Grants::http_routes},
    {"provider", "provider", &Grants::providers},
};

const CapabilityType* FindType(std::string_view type) {
  for (const auto& t : kTypes)
    if (t.type == type) return &t;
  return nullptr;
}

std::string CapabilityId(std::string_view type, std::string_view name) {
  return std::string(type) + ":" + std::string(name);
}

}  // namespace

Result<std::string> CapabilityTable::Register(std::string_view app_id, const Grants& grants,
                                              std::string_view type, std::string_view name) {
  const CapabilityType* t = FindType(type);
  if (!t)
    return MakeError(ErrorCode::kInvalidParams,
                     "unknown capability type \"" + std::string(type) +
                         "\" (expected channel, tool, gateway_method, http_route or provider)");
  std::string quoted = std::string(t->display) + " \"" + std::string(name) + "\"";
  if (!(grants.*(t->granted)).count(std::string(name)))
    return MakeError(ErrorCode::kCapabilityDenied,
                     quoted + " is not granted to " + std::string(app_id));
  std::string id = CapabilityId(type, name);
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    if (it->second.app_id == app_id) return id;
    return MakeError(ErrorCode::kConflict, quoted + " is already owned by " + it->second.app_id);
  }
  by_id_.emplace(id, Entry{std::string(app_id), std::string(type), std::string(name)});
  return id;
}

Status CapabilityTable::Unregister(std::string_view app_id, std::string_view capability_id) {
  auto it = by_id_.find(capability_id);
  if (it == by_id_.end())
    return MakeError(ErrorCode::kNotFound,
                     "no capability \"" + std::string(capability_id) + "\" is registered");
  if (it->second.app_id != app_id)
    return MakeError(ErrorCode::kForbidden, "capability \"" + std::string(capability_id) +
                                                "\" belongs to " + it->second.app_id);
  by_id_.erase(it);
  return {};
}

void CapabilityTable::ReleaseAll(std::string_view app_id) {
  std::erase_if(by_id_, [&](const auto& kv) { return kv.second.app_id == app_id; });
}

std::optional<std::string> CapabilityTable::Owner(std::string_view type,
                                                  std::string_view name) const {
  auto it = by_id_.find(CapabilityId(type, name));
  if (it == by_id_.end()) return std::nullopt;
  return it->second.app_id;
}

json::value CapabilityTable::ListFor(std::string_view app_id) const {
  json::array out;
  for (const auto& [id, e] : by_id_)
    if (e.app_id == app_id)
      out.push_back(json::object{{"capabilityId", id}, {"type", e.type}, {"name", e.name}});
  return out;
}

}  // namespace oc::registry
