// Cross-field rules of the config that the JSON schema subset cannot express. Each check only
// looks at values of the expected type: a wrong type is already reported by the schema, once.
#include <re2/re2.h>

#include <algorithm>
#include <map>

#include "config/config_internal.h"
#include "protocol/hooks.h"

namespace oc::config::internal {
namespace {

using Errors = std::vector<SchemaViolation>;

const json::object* ObjectAt(const json::value& root, std::string_view dotted) {
  const auto* v = FindPath(root, dotted);
  return v ? v->if_object() : nullptr;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool IsPackageId(std::string_view id) {
  static const RE2 re("(@[a-z0-9._-]+/)?[a-z0-9._-]+");
  return RE2::FullMatch(re2::StringPiece(id.data(), id.size()), re);
}

bool IsEnvName(std::string_view name) {
  static const RE2 re("[A-Za-z_][A-Za-z0-9_]*");
  return RE2::FullMatch(re2::StringPiece(name.data(), name.size()), re);
}

// apps.<id>: the key must be a package id; env names must be valid and not the kernel's own.
void CheckApps(const json::value& root, Errors& errors) {
  const auto* apps = ObjectAt(root, "apps");
  if (!apps) return;
  for (const auto& [id, app] : *apps) {
    if (id == "supervisor") continue;
    std::string path = JoinPath("apps", id);
    if (!IsPackageId(id))
      errors.push_back({path, Quoted(id) + " is not a package id (lowercase letters, digits, '-', '_', "
                                           "'.', optionally \"@scope/\")"});
    const auto* env = app.is_object() ? GetObject(app.get_object(), "env") : nullptr;
    if (!env) continue;
    for (const auto& [name, _] : *env) {
      if (!IsEnvName(name))
        errors.push_back({JoinPath(path + ".env", name), "is not a valid environment variable name"});
      else if (name.starts_with("OPENCLAWOS_"))
        errors.push_back({JoinPath(path + ".env", name), "is set by the kernel and cannot be overridden"});
    }
  }
}

// hooks.failClosed: only intercept hooks can fail closed (aliases are accepted).
void CheckHooks(const json::value& root, Errors& errors) {
  const auto* list = FindPath(root, "hooks.failClosed");
  if (!list || !list->is_array()) return;
  const auto& names = list->get_array();
  for (size_t i = 0; i < names.size(); ++i) {
    if (!names[i].is_string()) continue;
    std::string_view name = names[i].get_string();
    const auto* hook = protocol::FindHook(name);
    std::string path = IndexPath("hooks.failClosed", i);
    if (!hook)
      errors.push_back({path, "unknown hook " + Quoted(name)});
    else if (hook->kind != protocol::HookKind::kIntercept)
      errors.push_back({path, Quoted(name) + " cannot be intercepted, so it cannot fail closed"});
  }
}

void CheckSupervisor(const json::value& root, Errors& errors) {
  const auto* s = ObjectAt(root, "apps.supervisor");
  if (!s) return;
  auto interval = GetInt(*s, "heartbeatInterval");
  auto timeout = GetInt(*s, "heartbeatTimeout");
  if (interval && timeout && *timeout <= *interval)
    errors.push_back({"apps.supervisor.heartbeatTimeout",
                      "must be greater than apps.supervisor.heartbeatInterval (" +
                          std::to_string(*timeout) + " <= " + std::to_string(*interval) + ")"});
  auto delay = GetInt(*s, "restartDelay");
  auto max_delay = GetInt(*s, "maxRestartDelay");
  if (delay && max_delay && *delay > *max_delay)
    errors.push_back({"apps.supervisor.restartDelay",
                      "must not exceed apps.supervisor.maxRestartDelay (" + std::to_string(*delay) +
                          " > " + std::to_string(*max_delay) + ")"});
}

// bindings[i].match.bodyRegex must compile with RE2 (the engine that will run it on user text).
void CheckBindings(const json::value& root, Errors& errors) {
  const auto* list = FindPath(root, "bindings");
  if (!list || !list->is_array()) return;
  const auto& bindings = list->get_array();
  for (size_t i = 0; i < bindings.size(); ++i) {
    const auto* match = bindings[i].is_object() ? GetObject(bindings[i].get_object(), "match") : nullptr;
    auto regex = match ? GetString(*match, "bodyRegex") : std::nullopt;
    if (!regex) continue;
    RE2::Options opts;
    opts.set_log_errors(false);
    RE2 re(re2::StringPiece(regex->data(), regex->size()), opts);
    if (!re.ok())
      errors.push_back({IndexPath("bindings", i) + ".match.bodyRegex", "invalid regular expression: " + re.error()});
  }
}

// identities: an address belongs to at most one person.
void CheckIdentities(const json::value& root, Errors& errors) {
  const auto* identities = ObjectAt(root, "identities");
  if (!identities) return;
  std::map<std::string, std::string, std::less<>> owner;
  for (const auto& [name, addresses] : *identities) {
    if (!addresses.is_array()) continue;
    const auto& list = addresses.get_array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) continue;
      std::string address(list[i].get_string());
      auto [it, inserted] = owner.emplace(address, std::string(name));
      if (!inserted && it->second != name)
        errors.push_back({IndexPath(JoinPath("identities", name), i),
                          Quoted(address) + " already belongs to identity " + Quoted(it->second)});
    }
  }
}

// {"$secret": NAME} anywhere (app sections included, whose keys the kernel's schema does not
// know): NAME must be a non-empty string, or the reference could never be resolved. Where the
// schema knows the field it has already said so, at the same path.
void CheckSecretRefs(const json::value& v, const std::string& path, Errors& errors) {
  if (const json::object* o = v.if_object()) {
    if (const json::value* name = o->if_contains("$secret")) {
      const std::string at = JoinPath(path, "$secret");
      const bool reported = std::any_of(errors.begin(), errors.end(), [&](const auto& e) { return e.path == at; });
      if ((!name->is_string() || name->get_string().empty()) && !reported)
        errors.push_back({at, "a vault reference needs a secret name: {\"$secret\": \"NAME\"}"});
      return;
    }
    for (const auto& [key, sub] : *o) CheckSecretRefs(sub, JoinPath(path, key), errors);
  } else if (const json::array* a = v.if_array()) {
    for (size_t i = 0; i < a->size(); ++i) CheckSecretRefs((*a)[i], IndexPath(path, i), errors);
  }
}

}  // namespace

void CheckSemantics(const json::value& root, std::vector<SchemaViolation>& errors) {
  CheckApps(root, errors);
  CheckHooks(root, errors);
  CheckSupervisor(root, errors);
  CheckBindings(root, errors);
  CheckIdentities(root, errors);
  CheckSecretRefs(root, "", errors);
}

}  // namespace oc::config::internal
