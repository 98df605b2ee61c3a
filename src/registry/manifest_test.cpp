#include "registry/manifest.h"

#include <gtest/gtest.h>

#include <sstream>

#include "registry/registry_test_util.h"
#include "registry/validate_command.h"

namespace oc::registry {
namespace {

using testing::BaseManifest;
using testing::Text;

ManifestReport Parse(const json::object& o) { return ParseManifest(Text(o)); }

// The message of the single error at `path`; fails the test when there is not exactly one.
std::string ErrorAt(const ManifestReport& r, const std::string& path) {
  std::vector<std::string> found;
  for (const auto& p : r.problems)
    if (p.path == path && !p.warning) found.push_back(p.message);
  EXPECT_EQ(found.size(), 1u) << "errors at " << path << " in:\n" << r.Format();
  return found.empty() ? "" : found.front();
}

size_t ErrorCount(const ManifestReport& r) {
  size_t n = 0;
  for (const auto& p : r.problems) n += p.warning ? 0 : 1;
  return n;
}

json::object& Caps(json::object& m) { return m["capabilities"].as_object(); }

TEST(Manifest, MinimalAppIsValid) {
  auto r = Parse(BaseManifest("@openclawos/diagnostics"));
  ASSERT_TRUE(r.ok()) << r.Format();
  ASSERT_TRUE(r.manifest);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.manifest->id, "@openclawos/diagnostics");
  EXPECT_EQ(r.manifest->ShortName(), "diagnostics");
  EXPECT_EQ(r.manifest->type, PackageType::kApp);
  EXPECT_EQ(r.manifest->main, "bin/echo");
  EXPECT_EQ(r.manifest->protocol_version, "1.0");
  EXPECT_EQ(r.manifest->claimed_trust, TrustLevel::kCommunity);
  EXPECT_FALSE(r.manifest->sandboxed);
  EXPECT_TRUE(r.manifest->config_schema.is_null());
  EXPECT_EQ(r.manifest->raw.at("name"), "Echo");
  EXPECT_EQ(r.Format(), "");
}

TEST(Manifest, ShortNameOfUnscopedId) {
  Manifest m;
  m.id = "foo";
  EXPECT_EQ(m.ShortName(), "foo");
}

TEST(Manifest, FullManifestFillsEveryField) {
  auto r = ParseManifest(R"({
    "$schema": "https://example.invalid/manifest.json",
    "id": "@openclawos/diagnostics", "name": "Diagnostics", "version": "2026.1.0-rc.1+b7",
    "description": "health", "author": {"name": "x"}, "license": "MIT", "repository": "https://x",
    "icon": "icon.svg", "tags": ["ops"], "type": "app", "main": "./bin/diagnostics",
    "protocol": {"version": "1.3", "minKernelVersion": "2026.1.0"},
    "capabilities": {
      "channels": {"provides": ["irc"], "requires": ["telegram"]},
      "tools": {"provides": ["diagnostics_health"], "requires": ["web-fetch"]},
      "hooks": {"subscribes": ["agent_completed", "message_received"], "intercepts": ["tool_executing", "message_sending"]},
      "gateway": {"methods": ["diagnostics.status"], "httpRoutes": ["/metrics"]},
      "ui": {"tabs": [{"id": "diag", "title": "Diagnostics", "render": {"type": "iframe", "src": "/apps/diagnostics/ui"},
                       "badge": {"method": "diagnostics.status", "interval": 5000}}]},
      "providers": {"provides": ["myllm"], "models": ["m1", {"id": "m2"}]},
      "agent": {"systemPrompt": "hi", "skills": ["s"], "model": {"default": "a", "fallback": ["b"]},
                "behavior": {"compaction": true, "memoryEnabled": true, "sandboxed": false, "maxTurns": 20}},
      "resources": {"env": ["API_KEY", "_X1"], "fs": {"read": ["/etc/ssl"], "write": ["data"]},
                    "network": {"hosts": ["api.example.com:443"]},
                    "limits": {"maxMemory": "256MB", "cpuShares": 512, "maxFds": 256}},
      "security": {"sandboxed": true, "trustLevel": "verified"}
    },
    "configSchema": {"type": "object", "properties": {"interval": {"type": "integer"}}},
    "configUiHints": {"interval": {"label": "Interval"}},
    "dependencies": {"apps": ["@openclawos/irc"], "skills": ["web"], "agents": ["helper"]}
  })");
  ASSERT_TRUE(r.ok()) << r.Format();
  EXPECT_TRUE(r.problems.empty()) << r.Format();
  const Manifest& m = *r.manifest;
  using V = std::vector<std::string>;
  EXPECT_EQ(m.version, "2026.1.0-rc.1+b7");
  EXPECT_EQ(m.description, "health");
  EXPECT_EQ(m.min_kernel_version, "2026.1.0");
  EXPECT_EQ(m.protocol_version, "1.3");
  EXPECT_EQ(m.channels_provides, V{"irc"});
  EXPECT_EQ(m.channels_requires, V{"telegram"});
  EXPECT_EQ(m.tools_provides, V{"diagnostics_health"});
  EXPECT_EQ(m.tools_requires, V{"web-fetch"});
  EXPECT_EQ(m.hooks_subscribes, (V{"agent_end", "message_received"}));  // alias resolved
  EXPECT_EQ(m.hooks_intercepts, (V{"before_tool_call", "message_sending"}));
  EXPECT_EQ(m.gateway_methods, V{"diagnostics.status"});
  EXPECT_EQ(m.http_routes, V{"/metrics"});
  EXPECT_EQ(m.providers_provides, V{"myllm"});
  EXPECT_EQ(m.env, (V{"API_KEY", "_X1"}));
  EXPECT_EQ(m.fs_read, V{"/etc/ssl"});
  EXPECT_EQ(m.fs_write, V{"data"});
  EXPECT_EQ(m.network_hosts, V{"api.example.com:443"});
  EXPECT_EQ(m.limits.max_memory_bytes, 256 * 1024 * 1024);
  EXPECT_EQ(m.limits.cpu_shares, 512);
  EXPECT_EQ(m.limits.max_fds, 256);
  EXPECT_TRUE(m.sandboxed);
  EXPECT_EQ(m.claimed_trust, TrustLevel::kVerified);
  EXPECT_EQ(m.depends_apps, V{"@openclawos/irc"});
  EXPECT_EQ(m.depends_skills, V{"web"});
  EXPECT_EQ(m.depends_agents, V{"helper"});
  EXPECT_EQ(m.config_schema.at("type"), "object");
}

TEST(Manifest, IdRules) {
  for (const char* bad : {"Foo", "@scope", "@scope/", "@/x", "@a/b/c", "../x", ".x", "@s/.x", "a b",
                          "a/b", "", "caf\xc3\xa9"}) {
    auto m = BaseManifest(bad);
    auto r = Parse(m);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_FALSE(ErrorAt(r, "id").empty()) << bad;
  }
  for (const char* good : {"foo", "a.b-c_d9", "@scope/name", "@my-org/x.y"}) {
    EXPECT_TRUE(Parse(BaseManifest(good)).ok()) << good;
    EXPECT_TRUE(IsValidPackageId(good)) << good;
  }
  auto m = BaseManifest();
  m.erase("id");
  EXPECT_EQ(ErrorAt(Parse(m), "id"), "missing required field");
  m["id"] = 7;
  EXPECT_EQ(ErrorAt(Parse(m), "id"), "expected string, got number");
}

TEST(Manifest, NameAndVersionRequired) {
  auto m = BaseManifest();
  m.erase("name");
  m.erase("version");
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "name"), "missing required field");
  EXPECT_EQ(ErrorAt(r, "version"), "missing required field");
  m["name"] = "";
  EXPECT_EQ(ErrorAt(Parse(m), "name"), "must not be empty");
}

TEST(Manifest, VersionMustBeSemver) {
  for (const char* bad : {"1.0", "1", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0", "1.0.0.0",
                          "1..0", "1.0.0-a..b", "-1.0.0"}) {
    auto m = BaseManifest();
    m["version"] = bad;
    EXPECT_NE(ErrorAt(Parse(m), "version").find("is not a semantic version"), std::string::npos)
        << bad;
  }
  for (const char* good : {"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha.1", "1.0.0-0.3.7",
                           "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85"})
    EXPECT_TRUE(IsSemver(good)) << good;
}

TEST(Manifest, TypeRules) {
  auto m = BaseManifest();
  m["type"] = "plugin";
  EXPECT_EQ(ErrorAt(Parse(m), "type"),
            "unknown type \"plugin\" (expected app, skill, agent or extension)");
  m.erase("type");
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "type"), "missing required field");
  EXPECT_EQ(ErrorCount(r), 1u);
}

TEST(Manifest, MainRequiredExceptForAgents) {
  for (const char* type : {"app", "skill", "extension"}) {
    auto m = BaseManifest();
    m["type"] = type;
    m.erase("main");
    EXPECT_EQ(ErrorAt(Parse(m), "main"), "missing required field") << type;
  }
  auto m = BaseManifest();
  m["type"] = "agent";
  m.erase("main");
  auto r = Parse(m);
  ASSERT_TRUE(r.ok()) << r.Format();
  EXPECT_EQ(r.manifest->type, PackageType::kAgent);
  EXPECT_EQ(r.manifest->main, "");
}

TEST(Manifest, MainMustStayInsideThePackage) {
  auto m = BaseManifest();
  m["main"] = "/bin/sh";
  EXPECT_EQ(ErrorAt(Parse(m), "main"),
            "must be a path inside the package (absolute paths are refused)");
  for (const char* bad : {"..", "../x", "bin/../../x", "bin/.."}) {
    m["main"] = bad;
    EXPECT_EQ(ErrorAt(Parse(m), "main"), "must stay inside the package (\"..\" is refused)") << bad;
  }
  m["main"] = "";
  EXPECT_EQ(ErrorAt(Parse(m), "main"), "must not be empty");
  m["main"] = "./bin/..x";
  EXPECT_TRUE(Parse(m).ok());
}

TEST(Manifest, ProtocolRules) {
  auto m = BaseManifest();
  m.erase("protocol");
  EXPECT_EQ(ErrorAt(Parse(m), "protocol"), "missing required field");
  m["protocol"] = json::object();
  EXPECT_EQ(ErrorAt(Parse(m), "protocol.version"), "missing required field");
  m["protocol"] = {{"version", "2.0"}};
  EXPECT_EQ(ErrorAt(Parse(m), "protocol.version"),
            "protocol 2.0 is not supported: the kernel speaks 1.0 (major versions must match)");
  m["protocol"] = {{"version", "one"}};
  EXPECT_EQ(ErrorAt(Parse(m), "protocol.version"),
            "malformed protocol version \"one\" (expected MAJOR.MINOR)");
  m["protocol"] = {{"version", "1.7"}};
  EXPECT_TRUE(Parse(m).ok());
  m["protocol"] = {{"version", "1"}};
  EXPECT_TRUE(Parse(m).ok());
}

TEST(Manifest, MinKernelVersion) {
  auto m = BaseManifest();
  m["protocol"] = {{"version", "1.0"}, {"minKernelVersion", "9999.1.0"}};
  EXPECT_EQ(ErrorAt(Parse(m), "protocol.minKernelVersion"),
            "requires kernel 9999.1.0 or newer; this kernel is " +
                std::string(OPENCLAWOS_KERNEL_VERSION));
  m["protocol"] = {{"version", "1.0"}, {"minKernelVersion", "2026.11"}};
  EXPECT_EQ(ErrorAt(Parse(m), "protocol.minKernelVersion"),
            "malformed kernel version \"2026.11\" (expected YYYY.M.P)");
  m["protocol"] = {{"version", "1.0"}, {"minKernelVersion", OPENCLAWOS_KERNEL_VERSION}};
  EXPECT_TRUE(Parse(m).ok());
  m["protocol"] = {{"version", "1.0"}, {"minKernelVersion", "2024.2.9"}};
  EXPECT_TRUE(Parse(m).ok());
}

TEST(Manifest, KernelVersionsCompareNumerically) {
  EXPECT_EQ(CompareKernelVersions("2026.9.0", "2026.11.0"), -1);  // not a string compare
  EXPECT_EQ(CompareKernelVersions("2026.11.1", "2026.11.0"), 1);
  EXPECT_EQ(CompareKernelVersions("2027.1.0", "2026.12.5"), 1);
  EXPECT_EQ(CompareKernelVersions("2026.11.0", "2026.11.0"), 0);
  EXPECT_EQ(CompareKernelVersions("2026.x.0", "2026.11.0"), std::nullopt);
  EXPECT_EQ(CompareKernelVersions("2026.1.0.1", "2026.11.0"), std::nullopt);
}

TEST(Manifest, CapabilitiesRequiredObject) {
  auto m = BaseManifest();
  m.erase("capabilities");
  EXPECT_EQ(ErrorAt(Parse(m), "capabilities"), "missing required field");
  m["capabilities"] = json::array();
  EXPECT_EQ(ErrorAt(Parse(m), "capabilities"), "expected object, got array");
}

TEST(Manifest, InterceptingASubscribeOnlyHookIsAnError) {
  auto m = BaseManifest();
  Caps(m)["hooks"] = {{"intercepts", {"message_received", "message_sending"}}};
  auto r = Parse(m);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.Format(),
            "error: capabilities.hooks.intercepts[0]: \"message_received\" cannot be intercepted");
  EXPECT_FALSE(r.manifest.has_value());
}

TEST(Manifest, UnknownHooksAreErrors) {
  auto m = BaseManifest();
  Caps(m)["hooks"] = {{"subscribes", {"agent_end", "agent_exploded"}}, {"intercepts", {"nope"}}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.hooks.subscribes[1]"), "unknown hook \"agent_exploded\"");
  EXPECT_EQ(ErrorAt(r, "capabilities.hooks.intercepts[0]"), "unknown hook \"nope\"");
  EXPECT_EQ(ErrorCount(r), 2u);
}

TEST(Manifest, HookAliasesResolveAndDuplicatesWarn) {
  auto m = BaseManifest();
  Caps(m)["hooks"] = {{"subscribes", {"tool_completed", "after_tool_call"}},
                      {"intercepts", {"agent_starting"}}};
  auto r = Parse(m);
  ASSERT_TRUE(r.ok()) << r.Format();
  EXPECT_EQ(r.manifest->hooks_subscribes, std::vector<std::string>{"after_tool_call"});
  EXPECT_EQ(r.manifest->hooks_intercepts, std::vector<std::string>{"before_agent_start"});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_TRUE(r.problems[0].warning);
  EXPECT_EQ(r.problems[0].path, "capabilities.hooks.subscribes[1]");
}

TEST(Manifest, GatewayMethodsLiveInTheAppNamespace) {
  auto m = BaseManifest("@openclawos/diagnostics");
  Caps(m)["gateway"] = {
      {"methods", {"diagnostics.status", "status", "diagnostics.", "diagnosticsx.y"}}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.gateway.methods[1]"),
            "\"status\" is outside the app's namespace (methods must start with \"diagnostics.\")");
  ErrorAt(r, "capabilities.gateway.methods[2]");
  ErrorAt(r, "capabilities.gateway.methods[3]");
  EXPECT_EQ(ErrorCount(r), 3u);
}

TEST(Manifest, HttpRoutesStartWithSlash) {
  auto m = BaseManifest();
  Caps(m)["gateway"] = {{"httpRoutes", {"/metrics", "metrics", "/a/../b", "/x?y=1", "/a b"}}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.gateway.httpRoutes[1]"),
            "route \"metrics\" must start with \"/\"");
  ErrorAt(r, "capabilities.gateway.httpRoutes[2]");
  ErrorAt(r, "capabilities.gateway.httpRoutes[3]");
  ErrorAt(r, "capabilities.gateway.httpRoutes[4]");
  EXPECT_EQ(ErrorCount(r), 4u);
}

TEST(Manifest, TrustLevelEnum) {
  auto m = BaseManifest();
  Caps(m)["security"] = {{"trustLevel", "root"}, {"sandboxed", "yes"}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.security.trustLevel"),
            "unknown trust level \"root\" (expected core, verified, community or untrusted)");
  EXPECT_EQ(ErrorAt(r, "capabilities.security.sandboxed"), "expected boolean, got string");
  for (const char* level : {"core", "verified", "community", "untrusted"}) {
    Caps(m)["security"] = {{"trustLevel", level}};
    auto ok = Parse(m);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(TrustLevelName(ok.manifest->claimed_trust), level);
  }
}

TEST(Manifest, MaxMemoryAcceptsBytesAndUnits) {
  auto limit = [](json::value v) {
    auto m = BaseManifest();
    Caps(m)["resources"] = {{"limits", {{"maxMemory", v}}}};
    return Parse(m);
  };
  EXPECT_EQ(limit(1048576).manifest->limits.max_memory_bytes, 1048576);
  EXPECT_EQ(limit("256MB").manifest->limits.max_memory_bytes, 256LL << 20);
  EXPECT_EQ(limit("1GiB").manifest->limits.max_memory_bytes, 1LL << 30);
  EXPECT_EQ(limit("512k").manifest->limits.max_memory_bytes, 512LL << 10);
  EXPECT_EQ(limit("1.5g").manifest->limits.max_memory_bytes, 3LL << 29);
  EXPECT_EQ(limit("64 MiB").manifest->limits.max_memory_bytes, 64LL << 20);
  for (json::value bad :
       {json::value("lots"), json::value("12XB"), json::value("0"), json::value(0), json::value(-5),
        json::value(1.5), json::value(true), json::value("1..5M")}) {
    auto r = limit(bad);
    EXPECT_FALSE(r.ok()) << bad;
    ErrorAt(r, "capabilities.resources.limits.maxMemory");
  }
  EXPECT_EQ(ErrorAt(limit("lots"), "capabilities.resources.limits.maxMemory"),
            "invalid size \"lots\" (bytes, or a number with k, M, G, T, optionally B or iB)");
}

TEST(Manifest, ParseByteSize) {
  EXPECT_EQ(ParseByteSize("1"), 1);
  EXPECT_EQ(ParseByteSize("2KB"), 2048);
  EXPECT_EQ(ParseByteSize("3mib"), 3LL << 20);
  EXPECT_EQ(ParseByteSize("1T"), 1LL << 40);
  EXPECT_EQ(ParseByteSize(""), std::nullopt);
  EXPECT_EQ(ParseByteSize("MB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("-1M"), std::nullopt);
  EXPECT_EQ(ParseByteSize(".5M"), std::nullopt);
  EXPECT_EQ(ParseByteSize("99999999999T"), std::nullopt);  // beyond int64
}

TEST(Manifest, OtherLimitsAreBoundedIntegers) {
  auto m = BaseManifest();
  Caps(m)["resources"] = {{"limits", {{"cpuShares", 0}, {"maxFds", "many"}}}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.resources.limits.cpuShares"), "must be between 1 and 262144");
  EXPECT_EQ(ErrorAt(r, "capabilities.resources.limits.maxFds"), "expected integer, got string");
  Caps(m)["resources"] = {{"limits", {{"cpuShares", 2.0}, {"maxFds", 64}}}};
  r = Parse(m);
  ASSERT_TRUE(r.ok()) << r.Format();
  EXPECT_EQ(r.manifest->limits.cpu_shares, 2);
  EXPECT_EQ(r.manifest->limits.max_memory_bytes, std::nullopt);
}

TEST(Manifest, EnvNames) {
  auto m = BaseManifest();
  Caps(m)["resources"] = {{"env", {"API_KEY", "lower", "1ABC", "A-B", "_OK"}}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "capabilities.resources.env[1]"),
            "invalid environment variable name \"lower\" (expected [A-Z_][A-Z0-9_]*)");
  ErrorAt(r, "capabilities.resources.env[2]");
  ErrorAt(r, "capabilities.resources.env[3]");
  EXPECT_EQ(ErrorCount(r), 3u);
}

TEST(Manifest, ConfigSchemaMustBeAnObject) {
  auto m = BaseManifest();
  m["configSchema"] = "object";
  EXPECT_EQ(ErrorAt(Parse(m), "configSchema"), "expected object, got string");
  m["configSchema"] = {{"type", "object"}};
  auto r = Parse(m);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.manifest->config_schema.is_object());
}

TEST(Manifest, DependenciesAreIds) {
  auto m = BaseManifest("@test/echo");
  m["dependencies"] = {{"apps", {"@test/irc", "Bad Id", "@test/echo"}}, {"skills", "web"}};
  auto r = Parse(m);
  EXPECT_NE(ErrorAt(r, "dependencies.apps[1]").find("invalid package id"), std::string::npos);
  EXPECT_EQ(ErrorAt(r, "dependencies.apps[2]"), "a package cannot depend on itself");
  EXPECT_EQ(ErrorAt(r, "dependencies.skills"), "expected array, got string");
}

TEST(Manifest, UnknownKeysAreWarnings) {
  auto m = BaseManifest();
  m["homepage"] = "x";
  m["security"] = {{"sandboxed", true}};  // belongs under capabilities
  Caps(m)["telepathy"] = true;
  Caps(m)["channels"] = {{"provide", {"irc"}}};
  auto r = Parse(m);
  EXPECT_TRUE(r.ok()) << r.Format();
  ASSERT_TRUE(r.manifest);
  EXPECT_FALSE(r.manifest->sandboxed);
  std::string text = r.Format();
  EXPECT_NE(text.find("warning: homepage: unknown key \"homepage\""), std::string::npos) << text;
  EXPECT_NE(
      text.find("warning: security: unknown key \"security\" (capability sections belong under"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("warning: capabilities.telepathy: unknown key"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: capabilities.channels.provide: unknown key"), std::string::npos)
      << text;
  EXPECT_EQ(r.problems.size(), 4u);
}

TEST(Manifest, ProblemsStayOnOneLine) {
  auto r = ParseManifest(R"({"id": "x", "name": "n", "version": "1.0.0", "type": "agent",
    "protocol": {"version": "1.0"}, "capabilities": {}, "a\nb": 1, "tags": ["t\n", "t\n"]})");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.Format(),
            "warning: tags[1]: duplicate \"t\\n\" ignored\n"
            "warning: \"a\\nb\": unknown key \"a\\nb\"");
}

TEST(Manifest, WrongTypesEverywhereCarryTheirPath) {
  auto m = BaseManifest();
  m["name"] = 5;
  m["tags"] = {"ok", 1};
  m["author"] = 3;
  Caps(m)["channels"] = {{"provides", "irc"}};
  Caps(m)["tools"] = {{"provides", {"ok_tool", "bad tool!", ""}}};
  Caps(m)["hooks"] = {{"subscribes", {7}}};
  Caps(m)["ui"] = {{"tabs", {{{"id", "t"}}, 3}}};
  Caps(m)["providers"] = {{"models", {true}}};
  Caps(m)["agent"] = {{"behavior", {{"maxTurns", 0}, {"compaction", 1}}},
                      {"systemPromptFile", "/etc/x"}};
  Caps(m)["resources"] = {{"fs", {{"read", {1}}}}, {"network", json::array()}};
  auto r = Parse(m);
  EXPECT_EQ(ErrorAt(r, "name"), "expected string, got number");
  EXPECT_EQ(ErrorAt(r, "tags[1]"), "expected string, got number");
  EXPECT_EQ(ErrorAt(r, "author"), "expected string or object, got number");
  EXPECT_EQ(ErrorAt(r, "capabilities.channels.provides"), "expected array, got string");
  EXPECT_NE(ErrorAt(r, "capabilities.tools.provides[1]").find("invalid tool name"),
            std::string::npos);
  EXPECT_EQ(ErrorAt(r, "capabilities.tools.provides[2]"), "must not be empty");
  EXPECT_EQ(ErrorAt(r, "capabilities.hooks.subscribes[0]"), "expected string, got number");
  EXPECT_EQ(ErrorAt(r, "capabilities.ui.tabs[0].title"), "missing required field");
  EXPECT_EQ(ErrorAt(r, "capabilities.ui.tabs[1]"), "expected object, got number");
  EXPECT_EQ(ErrorAt(r, "capabilities.providers.models[0]"),
            "expected string or object, got boolean");
  EXPECT_EQ(ErrorAt(r, "capabilities.agent.behavior.maxTurns"), "must be between 1 and 1000000");
  ErrorAt(r, "capabilities.agent.behavior.compaction");
  ErrorAt(r, "capabilities.agent.systemPromptFile");
  EXPECT_EQ(ErrorAt(r, "capabilities.resources.fs.read[0]"), "expected string, got number");
  EXPECT_EQ(ErrorAt(r, "capabilities.resources.network"), "expected object, got array");
  EXPECT_EQ(ErrorCount(r), 15u) << r.Format();
}

TEST(Manifest, EveryProblemIsReportedInOneRun) {
  auto r = ParseManifest(
      R"({"id": "BAD", "version": "1", "type": "thing", "protocol": {"version": "3.0"},
    "capabilities": {"hooks": {"intercepts": ["llm_input"]}}, "x": 1})");
  std::string text = r.Format();
  EXPECT_EQ(text,
            "error: id: invalid package id \"BAD\" (use lowercase letters, digits, '-', '_', '.'; "
            "optionally @scope/name)\n"
            "error: name: missing required field\n"
            "error: version: \"1\" is not a semantic version (x.y.z[-pre][+build])\n"
            "error: type: unknown type \"thing\" (expected app, skill, agent or extension)\n"
            "error: protocol.version: protocol 3.0 is not supported: the kernel speaks 1.0 (major "
            "versions must match)\n"
            "error: capabilities.hooks.intercepts[0]: \"llm_input\" cannot be intercepted\n"
            "warning: x: unknown key \"x\"");
}

TEST(Manifest, StrictJsonOnly) {
  auto r = ParseManifest("{\n  \"id\": \"x\", // comment\n}");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].path, "");
  EXPECT_NE(r.problems[0].message.find("invalid JSON at line 2, column 14"), std::string::npos)
      << r.problems[0].message;
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(ParseManifest(R"({"id": "x",})").ok());
  EXPECT_FALSE(ParseManifest("").ok());
  EXPECT_FALSE(ParseManifest("{} {}").ok());
  auto arr = ParseManifest("[1]");
  EXPECT_EQ(arr.Format(), "error: a manifest must be a JSON object, got array");
}

TEST(Manifest, TrustAndTypeNamesRoundTrip) {
  for (auto t :
       {TrustLevel::kCore, TrustLevel::kVerified, TrustLevel::kCommunity, TrustLevel::kUntrusted})
    EXPECT_EQ(ParseTrustLevel(TrustLevelName(t)), t);
  EXPECT_EQ(ParseTrustLevel("Core"), std::nullopt);
  for (auto t :
       {PackageType::kApp, PackageType::kSkill, PackageType::kAgent, PackageType::kExtension})
    EXPECT_EQ(ParsePackageType(PackageTypeName(t)), t);
}

// ---- LoadManifest and the CLI validator ----

TEST(LoadManifest, ReadsADirectoryOrTheFile) {
  testing::TempDir tmp;
  auto dir = testing::WritePackage(tmp.path() / "echo", BaseManifest());
  auto r = LoadManifest(dir);
  ASSERT_TRUE(r.ok()) << r.Format();
  EXPECT_EQ(r.manifest->id, "@test/echo");
  EXPECT_TRUE(LoadManifest(dir / kManifestFileName).ok());
}

TEST(LoadManifest, MissingFileIsAProblem) {
  testing::TempDir tmp;
  auto r = LoadManifest(tmp.path());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].path, "");
  EXPECT_NE(r.problems[0].message.find("no such file"), std::string::npos);
}

TEST(LoadManifest, MainMustExistAndAppMainMustBeExecutable) {
  testing::TempDir tmp;
  auto dir = tmp.path() / "echo";
  testing::WriteFile(dir / kManifestFileName, Text(BaseManifest()));
  EXPECT_EQ(ErrorAt(LoadManifest(dir), "main"),
            "\"bin/echo\" does not exist in the package directory");
  testing::WriteFile(dir / "bin/echo", "#!/bin/sh\n", false);
  EXPECT_EQ(ErrorAt(LoadManifest(dir), "main"),
            "\"bin/echo\" is not executable (an app's main is run directly; chmod +x it)");
  auto skill = BaseManifest();
  skill["type"] = "skill";  // a shared library need not be executable
  testing::WriteFile(dir / kManifestFileName, Text(skill));
  EXPECT_TRUE(LoadManifest(dir).ok());
}

TEST(ValidateCommand, OkPrintsIdAndVersion) {
  testing::TempDir tmp;
  auto m = BaseManifest();
  m["extra"] = 1;
  auto dir = testing::WritePackage(tmp.path() / "echo", m);
  std::ostringstream out;
  EXPECT_EQ(RunManifestValidate(dir, out), 0);
  EXPECT_EQ(out.str(), "warning: extra: unknown key \"extra\"\nok: @test/echo 1.2.3\n");
}

TEST(ValidateCommand, ErrorsExitOne) {
  testing::TempDir tmp;
  auto m = BaseManifest();
  Caps(m)["hooks"] = {{"intercepts", {"message_received"}}};
  auto dir = testing::WritePackage(tmp.path() / "echo", m);
  std::ostringstream out;
  EXPECT_EQ(RunManifestValidate(dir / kManifestFileName, out), 1);
  EXPECT_EQ(
      out.str(),
      "error: capabilities.hooks.intercepts[0]: \"message_received\" cannot be intercepted\n");
  std::ostringstream missing;
  EXPECT_EQ(RunManifestValidate(tmp.path() / "nope", missing), 1);
  EXPECT_NE(missing.str().find("error: cannot read"), std::string::npos);
}

}  // namespace
}  // namespace oc::registry
