// Validation of the manifest's `capabilities` object (SPEC §3 table), one function per section.
#include <set>

#include "protocol/hooks.h"
#include "registry/manifest_checker.h"

namespace oc::registry::internal {
namespace {

constexpr std::string_view kBase = "capabilities";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// Channel and provider ids appear in session keys ("irc:#chan"), so they are kept simple.
std::optional<std::string> SimpleIdProblem(std::string_view what, std::string_view s) {
  bool ok = s.size() <= 64 && IsLowerAlnum(s.front());
  for (char c : s) ok = ok && (IsLowerAlnum(c) || c == '-' || c == '_' || c == '.');
  if (ok) return std::nullopt;
  return "invalid " + std::string(what) + " id " + Quote(s) +
         " (lowercase letters, digits, '-', '_', '.'; at most 64)";
}

// LLM tool names: what the provider APIs accept.
std::optional<std::string> ToolNameProblem(std::string_view s) {
  bool ok = s.size() <= 64;
  for (char c : s) ok = ok && (IsAlnum(c) || c == '-' || c == '_');
  if (ok) return std::nullopt;
  return "invalid tool name " + Quote(s) + " (letters, digits, '-', '_'; at most 64)";
}

std::optional<std::string> EnvNameProblem(std::string_view s) {
  bool ok = (s.front() >= 'A' && s.front() <= 'Z') || s.front() == '_';
  for (char c : s) ok = ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  if (ok) return std::nullopt;
  return "invalid environment variable name " + Quote(s) + " (expected [A-Z_][A-Z0-9_]*)";
}

std::optional<std::string> NoSpaceProblem(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ')
      return std::string("must not contain whitespace or control characters");
  return std::nullopt;
}

void CheckChannelsAndTools(Checker& c, const json::object& caps, Manifest& m) {
  auto channel = [](std::string_view s) { return SimpleIdProblem("channel", s); };
  if (const json::object* o = c.Object(caps, kBase, "channels")) {
    m.channels_provides = c.Strings(*o, "capabilities.channels", "provides", channel);
    m.channels_requires = c.Strings(*o, "capabilities.channels", "requires", channel);
    c.WarnUnknownKeys(*o, "capabilities.channels", {"provides", "requires"});
  }
  if (const json::object* o = c.Object(caps, kBase, "tools")) {
    m.tools_provides = c.Strings(*o, "capabilities.tools", "provides", ToolNameProblem);
    m.tools_requires = c.Strings(*o, "capabilities.tools", "requires", ToolNameProblem);
    c.WarnUnknownKeys(*o, "capabilities.tools", {"provides", "requires"});
  }
}

// Resolves aliases to canonical names; intercepting a subscribe-only hook is an error.
std::vector<std::string> HookList(Checker& c, const json::object& hooks, std::string_view key,
                                  bool intercept) {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  c.ForEachString(hooks, "capabilities.hooks", key,
                  [&](const std::string& path, std::string_view name) {
                    const protocol::HookSpec* spec = protocol::FindHook(name);
                    std::string quoted = Quote(name);
                    if (!spec) {
                      c.Error(path, "unknown hook " + quoted);
                    } else if (intercept && spec->kind != protocol::HookKind::kIntercept) {
                      c.Error(path, quoted + " cannot be intercepted");
                    } else if (!seen.emplace(spec->name).second) {
                      c.Warn(path, "duplicate hook " + quoted + " ignored");
                    } else {
                      out.emplace_back(spec->name);
                    }
                  });
  return out;
}

void CheckHooks(Checker& c, const json::object& caps, Manifest& m) {
  const json::object* o = c.Object(caps, kBase, "hooks");
  if (!o) return;
  m.hooks_subscribes = HookList(c, *o, "subscribes", false);
  m.hooks_intercepts = HookList(c, *o, "intercepts", true);
  c.WarnUnknownKeys(*o, "capabilities.hooks", {"subscribes", "intercepts"});
}

std::optional<std::string> RouteProblem(std::string_view route) {
  if (route.front() != '/') return "route " + Quote(route) + " must start with \"/\"";
  if (auto problem = NoSpaceProblem(route)) return problem;
  if (route.find_first_of("?#") != std::string_view::npos)
    return std::string("a route is a path: no query or fragment");
  if (route == "/.." || route.find("/../") != std::string_view::npos || route.ends_with("/.."))
    return std::string("a route must not contain \"..\"");
  return std::nullopt;
}

void CheckGateway(Checker& c, const json::object& caps, Manifest& m) {
  const json::object* o = c.Object(caps, kBase, "gateway");
  if (!o) return;
  // Without a valid id there is no namespace to check against; the id error is reported already.
  std::string prefix = m.id.empty() ? std::string() : m.ShortName() + ".";
  auto method = [&prefix](std::string_view s) -> std::optional<std::string> {
    if (auto problem = NoSpaceProblem(s)) return problem;
    if (!prefix.empty() && (!s.starts_with(prefix) || s.size() == prefix.size()))
      return Quote(s) + " is outside the app's namespace (methods must start with \"" + prefix +
             "\")";
    return std::nullopt;
  };
  m.gateway_methods = c.Strings(*o, "capabilities.gateway", "methods", method);
  m.http_routes = c.Strings(*o, "capabilities.gateway", "httpRoutes", RouteProblem);
  c.WarnUnknownKeys(*o, "capabilities.gateway", {"methods", "httpRoutes"});
}

// Arrays whose elements must be objects; returns them with their paths.
template <class Fn>
void ForEachObject(Checker& c, const json::object& o, std::string_view base, std::string_view key,
                   Fn&& fn) {
  const json::array* arr = c.Array(o, base, key);
  if (!arr) return;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = IndexPath(JoinPath(base, key), i);
    if (const json::object* e = (*arr)[i].if_object())
      fn(path, *e);
    else
      c.Error(path, "expected object, got " + std::string(JsonTypeName((*arr)[i])));
  }
}

void CheckUiTab(Checker& c, const std::string& path, const json::object& tab) {
  c.String(tab, path, "id", true);
  c.String(tab, path, "title", true);
  c.String(tab, path, "icon");
  if (const json::object* render = c.Object(tab, path, "render")) {
    std::string rpath = JoinPath(path, "render");
    auto type = c.String(*render, rpath, "type", true);
    if (type == "iframe") {
      c.String(*render, rpath, "src", true);
    } else if (type == "component") {
      c.String(*render, rpath, "tag", true);
    } else if (type) {
      c.Error(JoinPath(rpath, "type"),
              "unknown render type " + Quote(*type) + " (expected iframe or component)");
    }
  }
  if (const json::object* badge = c.Object(tab, path, "badge")) {
    c.String(*badge, JoinPath(path, "badge"), "method", true);
    c.Int(*badge, JoinPath(path, "badge"), "interval", 1, INT32_MAX);
  }
}

void CheckUi(Checker& c, const json::object& caps) {
  const json::object* o = c.Object(caps, kBase, "ui");
  if (!o) return;
  ForEachObject(
      c, *o, "capabilities.ui", "tabs",
      [&](const std::string& path, const json::object& tab) { CheckUiTab(c, path, tab); });
  ForEachObject(c, *o, "capabilities.ui", "components",
                [](const std::string&, const json::object&) {});
  ForEachObject(c, *o, "capabilities.ui", "settings",
                [](const std::string&, const json::object&) {});
  c.WarnUnknownKeys(*o, "capabilities.ui", {"tabs", "components", "settings"});
}

void CheckProviders(Checker& c, const json::object& caps, Manifest& m) {
  const json::object* o = c.Object(caps, kBase, "providers");
  if (!o) return;
  auto provider = [](std::string_view s) { return SimpleIdProblem("provider", s); };
  m.providers_provides = c.Strings(*o, "capabilities.providers", "provides", provider);
  if (const json::array* models = c.Array(*o, "capabilities.providers", "models")) {
    for (size_t i = 0; i < models->size(); ++i) {
      const json::value& e = (*models)[i];
      if (!e.is_string() && !e.is_object())
        c.Error(IndexPath("capabilities.providers.models", i),
                "expected string or object, got " + std::string(JsonTypeName(e)));
    }
  }
  c.WarnUnknownKeys(*o, "capabilities.providers", {"provides", "models"});
}

void CheckAgent(Checker& c, const json::object& caps) {
  const json::object* o = c.Object(caps, kBase, "agent");
  if (!o) return;
  constexpr std::string_view base = "capabilities.agent";
  c.String(*o, base, "systemPrompt");
  if (auto file = c.String(*o, base, "systemPromptFile"))
    if (auto problem = RelativePathProblem(*file))
      c.Error(JoinPath(base, "systemPromptFile"), *problem);
  c.Strings(*o, base, "skills");
  if (const json::object* model = c.Object(*o, base, "model")) {
    c.String(*model, "capabilities.agent.model", "default");
    c.Strings(*model, "capabilities.agent.model", "fallback");
    c.WarnUnknownKeys(*model, "capabilities.agent.model", {"default", "fallback"});
  }
  if (const json::object* behavior = c.Object(*o, base, "behavior")) {
    constexpr std::string_view b = "capabilities.agent.behavior";
    if (const json::value* compaction = c.Field(*behavior, b, "compaction", false);
        compaction && !compaction->is_bool() && !compaction->is_string() &&
        !compaction->is_object())
      c.Error(JoinPath(b, "compaction"),
              "expected boolean, string or object, got " + std::string(JsonTypeName(*compaction)));
    c.Bool(*behavior, b, "memoryEnabled");
    c.Bool(*behavior, b, "sandboxed");
    c.Int(*behavior, b, "maxTurns", 1, 1000000);
    c.WarnUnknownKeys(*behavior, b, {"compaction", "memoryEnabled", "sandboxed", "maxTurns"});
  }
  c.WarnUnknownKeys(*o, base, {"systemPrompt", "systemPromptFile", "skills", "model", "behavior"});
}

void CheckLimits(Checker& c, const json::object& resources, Manifest& m) {
  constexpr std::string_view base = "capabilities.resources.limits";
  const json::object* o = c.Object(resources, "capabilities.resources", "limits");
  if (!o) return;
  if (const json::value* v = c.Field(*o, base, "maxMemory", false)) {
    std::string path = JoinPath(base, "maxMemory");
    if (v->is_string()) {
      m.limits.max_memory_bytes = ParseByteSize(v->get_string());
      if (!m.limits.max_memory_bytes)
        c.Error(path, "invalid size " + Quote(v->get_string()) +
                          " (bytes, or a number with k, M, G, T, optionally B or iB)");
    } else if (v->is_number()) {
      m.limits.max_memory_bytes = c.Int(*o, base, "maxMemory", 1, INT64_MAX);
    } else {
      c.Error(path, "expected integer or string, got " + std::string(JsonTypeName(*v)));
    }
  }
  m.limits.cpu_shares = c.Int(*o, base, "cpuShares", 1, 262144);
  m.limits.max_fds = c.Int(*o, base, "maxFds", 1, 1 << 20);
  c.WarnUnknownKeys(*o, base, {"maxMemory", "cpuShares", "maxFds"});
}

void CheckResources(Checker& c, const json::object& caps, Manifest& m) {
  const json::object* o = c.Object(caps, kBase, "resources");
  if (!o) return;
  constexpr std::string_view base = "capabilities.resources";
  m.env = c.Strings(*o, base, "env", EnvNameProblem);
  if (const json::object* fs = c.Object(*o, base, "fs")) {
    m.fs_read = c.Strings(*fs, "capabilities.resources.fs", "read");
    m.fs_write = c.Strings(*fs, "capabilities.resources.fs", "write");
    c.WarnUnknownKeys(*fs, "capabilities.resources.fs", {"read", "write"});
  }
  if (const json::object* net = c.Object(*o, base, "network")) {
    m.network_hosts = c.Strings(*net, "capabilities.resources.network", "hosts", NoSpaceProblem);
    c.WarnUnknownKeys(*net, "capabilities.resources.network", {"hosts"});
  }
  CheckLimits(c, *o, m);
  c.WarnUnknownKeys(*o, base, {"env", "fs", "network", "limits"});
}

void CheckSecurity(Checker& c, const json::object& caps, Manifest& m) {
  const json::object* o = c.Object(caps, kBase, "security");
  if (!o) return;
  constexpr std::string_view base = "capabilities.security";
  if (auto sandboxed = c.Bool(*o, base, "sandboxed")) m.sandboxed = *sandboxed;
  if (auto level = c.String(*o, base, "trustLevel")) {
    if (auto t = ParseTrustLevel(*level))
      m.claimed_trust = *t;
    else
      c.Error(JoinPath(base, "trustLevel"),
              "unknown trust level " + Quote(*level) +
                  " (expected core, verified, community or untrusted)");
  }
  c.WarnUnknownKeys(*o, base, {"sandboxed", "trustLevel"});
}

}  // namespace

void CheckCapabilities(Checker& c, const json::object& caps, Manifest& m) {
  CheckChannelsAndTools(c, caps, m);
  CheckHooks(c, caps, m);
  CheckGateway(c, caps, m);
  CheckUi(c, caps);
  CheckProviders(c, caps, m);
  CheckAgent(c, caps);
  CheckResources(c, caps, m);
  CheckSecurity(c, caps, m);
  c.WarnUnknownKeys(caps, kBase,
                    {"channels", "tools", "hooks", "gateway", "ui", "providers", "agent",
                     "resources", "security"});
}

}  // namespace oc::registry::internal
