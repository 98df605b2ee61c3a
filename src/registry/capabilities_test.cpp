#include "registry/capabilities.h"

#include <gtest/gtest.h>

namespace oc::registry {
namespace {

using Set = std::set<std::string>;

// A manifest declaring one of everything.
Manifest Declaring() {
  Manifest m;
  m.id = "@x/y";
  m.channels_provides = {"irc"};
  m.tools_provides = {"search"};
  m.hooks_subscribes = {"agent_end"};
  m.hooks_intercepts = {"message_sending", "before_tool_call"};
  m.gateway_methods = {"y.status"};
  m.http_routes = {"/metrics"};
  m.providers_provides = {"myllm"};
  return m;
}

Package Pkg(bool shipped, TrustLevel claimed = TrustLevel::kCommunity) {
  Package p;
  p.manifest = Declaring();
  p.manifest.claimed_trust = claimed;
  p.shipped = shipped;
  return p;
}

// ---- effective trust ----

TEST(EffectiveTrust, ShippedPackagesAreCoreUnlessTheUserLowersThem) {
  EXPECT_EQ(EffectiveTrust(Pkg(true), std::nullopt), TrustLevel::kCore);
  EXPECT_EQ(EffectiveTrust(Pkg(true), "core"), TrustLevel::kCore);
  EXPECT_EQ(EffectiveTrust(Pkg(true), "community"), TrustLevel::kCommunity);
}

TEST(EffectiveTrust, InstalledPackagesDefaultToCommunity) {
  EXPECT_EQ(EffectiveTrust(Pkg(false), std::nullopt), TrustLevel::kCommunity);
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCore), std::nullopt), TrustLevel::kCommunity);
}

TEST(EffectiveTrust, ClaimIsACeilingAndUserSettingIsTheLevel) {
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kVerified), "verified"), TrustLevel::kVerified);
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCore), "core"), TrustLevel::kCore);
  // The user allows verified but the package only claims community: community.
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCommunity), "verified"), TrustLevel::kCommunity);
  // The package claims core but the user allows verified: never above the user's setting.
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCore), "verified"), TrustLevel::kVerified);
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCore), "untrusted"), TrustLevel::kUntrusted);
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kUntrusted), std::nullopt),
            TrustLevel::kUntrusted);
}

TEST(EffectiveTrust, UnknownUserLevelFailsClosed) {
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kCore), "root"), TrustLevel::kUntrusted);
  EXPECT_EQ(EffectiveTrust(Pkg(true), "Core"), TrustLevel::kUntrusted);
}

TEST(EffectiveTrust, ExternalAppsDefaultToUntrusted) {
  EXPECT_EQ(EffectiveTrust(Pkg(false), std::nullopt, true), TrustLevel::kUntrusted);
  EXPECT_EQ(EffectiveTrust(Pkg(false, TrustLevel::kVerified), "verified", true),
            TrustLevel::kVerified);
  EXPECT_EQ(EffectiveTrust(Pkg(false), "community", true), TrustLevel::kCommunity);
  // A connection the kernel did not spawn never inherits the shipped package's core level.
  EXPECT_EQ(EffectiveTrust(Pkg(true), std::nullopt, true), TrustLevel::kUntrusted);
}

// ---- policy table (SPEC §3) ----

TEST(ComputeGrants, CoreAndVerifiedGetEverythingDeclared) {
  for (TrustLevel t : {TrustLevel::kCore, TrustLevel::kVerified}) {
    Grants g = ComputeGrants(Declaring(), t, {}, {});
    EXPECT_EQ(g.trust, t);
    EXPECT_EQ(g.channels, Set{"irc"});
    EXPECT_EQ(g.tools, Set{"search"});
    EXPECT_EQ(g.hooks_subscribe, Set{"agent_end"});
    EXPECT_EQ(g.hooks_intercept, (Set{"before_tool_call", "message_sending"}));
    EXPECT_EQ(g.gateway_methods, Set{"y.status"});
    EXPECT_EQ(g.http_routes, Set{"/metrics"});
    EXPECT_EQ(g.providers, Set{"myllm"});
    EXPECT_FALSE(g.sandboxed);
  }
}

TEST(ComputeGrants, CommunityGetsBasicsButNotInterceptsOrProviders) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kCommunity, {}, {});
  EXPECT_EQ(g.channels, Set{"irc"});
  EXPECT_EQ(g.tools, Set{"search"});
  EXPECT_EQ(g.hooks_subscribe, Set{"agent_end"});
  EXPECT_EQ(g.gateway_methods, Set{"y.status"});
  EXPECT_EQ(g.http_routes, Set{"/metrics"});
  EXPECT_TRUE(g.hooks_intercept.empty());
  EXPECT_TRUE(g.providers.empty());
  EXPECT_TRUE(g.sandboxed);
}

TEST(ComputeGrants, CommunityGetsInterceptsAndProvidersOnlyWhenGranted) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kCommunity,
                           {"hooks.intercepts:message_sending", "providers:myllm"}, {});
  EXPECT_EQ(g.hooks_intercept, Set{"message_sending"});
  EXPECT_EQ(g.providers, Set{"myllm"});
  // Alias spelling and the "provides" section spelling work too.
  g = ComputeGrants(Declaring(), TrustLevel::kCommunity,
                    {"hooks.intercepts:tool_executing", "providers.provides:myllm"}, {});
  EXPECT_EQ(g.hooks_intercept, Set{"before_tool_call"});
  EXPECT_EQ(g.providers, Set{"myllm"});
}

TEST(ComputeGrants, UntrustedGetsNothingButExplicitGrants) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kUntrusted, {}, {});
  EXPECT_TRUE(g.channels.empty());
  EXPECT_TRUE(g.tools.empty());
  EXPECT_TRUE(g.hooks_subscribe.empty());
  EXPECT_TRUE(g.hooks_intercept.empty());
  EXPECT_TRUE(g.gateway_methods.empty());
  EXPECT_TRUE(g.http_routes.empty());
  EXPECT_TRUE(g.providers.empty());
  EXPECT_TRUE(g.sandboxed);
  g = ComputeGrants(Declaring(), TrustLevel::kUntrusted,
                    {"channels:irc", "hooks.subscribes:agent_completed"}, {});
  EXPECT_EQ(g.channels, Set{"irc"});
  EXPECT_EQ(g.hooks_subscribe, Set{"agent_end"});
  EXPECT_TRUE(g.tools.empty());
}

TEST(ComputeGrants, GrantsNeverAddUndeclaredCapabilities) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kCore,
                           {"channels:discord", "hooks.intercepts:tool_result_persist",
                            "providers:other", "gateway.methods:z.x", "tools:rm"},
                           {});
  EXPECT_EQ(g.channels, Set{"irc"});
  EXPECT_EQ(g.hooks_intercept, (Set{"before_tool_call", "message_sending"}));
  EXPECT_EQ(g.providers, Set{"myllm"});
  EXPECT_EQ(g.gateway_methods, Set{"y.status"});
  EXPECT_EQ(g.tools, Set{"search"});
}

TEST(ComputeGrants, DeniesWinOverTrustAndGrants) {
  Grants g = ComputeGrants(
      Declaring(), TrustLevel::kCore, {"channels:irc"},
      {"channels:irc", "gateway.httpRoutes:/metrics", "hooks.intercepts:*", "tools:search",
       "gateway.methods:y.status", "hooks.subscribes:agent_end", "providers:myllm"});
  EXPECT_TRUE(g.channels.empty());
  EXPECT_TRUE(g.http_routes.empty());
  EXPECT_TRUE(g.hooks_intercept.empty());
  EXPECT_TRUE(g.tools.empty());
  EXPECT_TRUE(g.gateway_methods.empty());
  EXPECT_TRUE(g.hooks_subscribe.empty());
  EXPECT_TRUE(g.providers.empty());
}

TEST(ComputeGrants, WildcardGrantsEveryDeclaredEntryOfASection) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kCommunity, {"hooks.intercepts:*"}, {});
  EXPECT_EQ(g.hooks_intercept, (Set{"before_tool_call", "message_sending"}));
}

TEST(ComputeGrants, MalformedEntriesAreIgnored) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kCommunity,
                           {"providers", "hooks:message_sending", ":myllm", ""}, {"nonsense"});
  EXPECT_TRUE(g.providers.empty());
  EXPECT_TRUE(g.hooks_intercept.empty());
  EXPECT_EQ(g.channels, Set{"irc"});
}

TEST(ComputeGrants, SandboxOnlyForCommunityAndUntrustedUnlessAsked) {
  Manifest m = Declaring();
  EXPECT_FALSE(ComputeGrants(m, TrustLevel::kCore, {}, {}).sandboxed);
  EXPECT_FALSE(ComputeGrants(m, TrustLevel::kVerified, {}, {}).sandboxed);
  EXPECT_TRUE(ComputeGrants(m, TrustLevel::kCommunity, {}, {}).sandboxed);
  EXPECT_TRUE(ComputeGrants(m, TrustLevel::kUntrusted, {}, {}).sandboxed);
  m.sandboxed = true;
  EXPECT_TRUE(ComputeGrants(m, TrustLevel::kCore, {}, {}).sandboxed);
  EXPECT_TRUE(ComputeGrants(m, TrustLevel::kVerified, {}, {}).sandboxed);
}

TEST(Grants, RequiredChannelsFollowTrustGrantsAndDenies) {
  Manifest m = Declaring();
  m.channels_requires = {"telegram", "irc"};
  EXPECT_EQ(ComputeGrants(m, TrustLevel::kCommunity, {}, {}).channels_required,
            (std::set<std::string>{"irc", "telegram"}));
  EXPECT_TRUE(ComputeGrants(m, TrustLevel::kUntrusted, {}, {}).channels_required.empty());
  EXPECT_EQ(ComputeGrants(m, TrustLevel::kUntrusted, {"channels.requires:irc"}, {}).channels_required,
            (std::set<std::string>{"irc"}));
  EXPECT_EQ(ComputeGrants(m, TrustLevel::kCore, {}, {"channels.requires:telegram"}).channels_required,
            (std::set<std::string>{"irc"}));
}

TEST(Grants, ToJsonMirrorsTheManifestShape) {
  Grants g = ComputeGrants(Declaring(), TrustLevel::kVerified, {}, {});
  EXPECT_EQ(
      json::serialize(g.ToJson()),
      R"({"trustLevel":"verified","sandboxed":false,"channels":["irc"],"channelsRequired":[],"tools":["search"],)"
      R"("hooks":{"subscribes":["agent_end"],"intercepts":["before_tool_call","message_sending"]},)"
      R"("gateway":{"methods":["y.status"],"httpRoutes":["/metrics"]},"providers":["myllm"]})");
}

// ---- capability table ----

Grants CoreGrants() { return ComputeGrants(Declaring(), TrustLevel::kCore, {}, {}); }

TEST(CapabilityTable, RegisterReturnsIdAndIsIdempotentForTheOwner) {
  CapabilityTable table;
  auto id = table.Register("@x/y", CoreGrants(), "channel", "irc");
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "channel:irc");
  auto again = table.Register("@x/y", CoreGrants(), "channel", "irc");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *id);
  EXPECT_EQ(table.Owner("channel", "irc"), "@x/y");
  EXPECT_EQ(table.Owner("channel", "discord"), std::nullopt);
  EXPECT_EQ(table.Owner("tool", "irc"), std::nullopt);  // types are separate namespaces
}

TEST(CapabilityTable, RefusesWhatIsNotGranted) {
  CapabilityTable table;
  Grants community = ComputeGrants(Declaring(), TrustLevel::kCommunity, {}, {});
  auto r = table.Register("@x/y", community, "provider", "myllm");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCapabilityDenied);
  EXPECT_EQ(r.error().message, "provider \"myllm\" is not granted to @x/y");
  r = table.Register("@x/y", community, "channel", "discord");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "channel \"discord\" is not granted to @x/y");
  r = table.Register("@x/y", community, "gateway_method", "y.other");
  EXPECT_EQ(r.error().message, "gateway method \"y.other\" is not granted to @x/y");
  EXPECT_EQ(table.Owner("provider", "myllm"), std::nullopt);
}

TEST(CapabilityTable, ConflictsNameTheOwner) {
  CapabilityTable table;
  Manifest other = Declaring();
  other.id = "@a/b";
  Grants other_grants = ComputeGrants(other, TrustLevel::kCore, {}, {});
  ASSERT_TRUE(table.Register("@a/b", other_grants, "channel", "irc").ok());
  auto r = table.Register("@x/y", CoreGrants(), "channel", "irc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_EQ(r.error().message, "channel \"irc\" is already owned by @a/b");
  ASSERT_TRUE(table.Register("@a/b", other_grants, "http_route", "/metrics").ok());
  r = table.Register("@x/y", CoreGrants(), "http_route", "/metrics");
  EXPECT_EQ(r.error().message, "HTTP route \"/metrics\" is already owned by @a/b");
}

TEST(CapabilityTable, UnknownTypeIsInvalidParams) {
  CapabilityTable table;
  auto r = table.Register("@x/y", CoreGrants(), "hook", "agent_end");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
}

TEST(CapabilityTable, UnregisterChecksOwnership) {
  CapabilityTable table;
  auto id = table.Register("@x/y", CoreGrants(), "tool", "search");
  ASSERT_TRUE(id.ok());
  Status s = table.Unregister("@a/b", *id);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(table.Owner("tool", "search"), "@x/y");
  EXPECT_TRUE(table.Unregister("@x/y", *id).ok());
  EXPECT_EQ(table.Owner("tool", "search"), std::nullopt);
  s = table.Unregister("@x/y", *id);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

TEST(CapabilityTable, ReleaseAllFreesForOthersAndListForShowsOwnership) {
  CapabilityTable table;
  Grants g = CoreGrants();
  ASSERT_TRUE(table.Register("@x/y", g, "channel", "irc").ok());
  ASSERT_TRUE(table.Register("@x/y", g, "gateway_method", "y.status").ok());
  ASSERT_TRUE(table.Register("@x/y", g, "provider", "myllm").ok());
  EXPECT_EQ(
      json::serialize(table.ListFor("@x/y")),
      R"([{"capabilityId":"channel:irc","type":"channel","name":"irc"},)"
      R"({"capabilityId":"gateway_method:y.status","type":"gateway_method","name":"y.status"},)"
      R"({"capabilityId":"provider:myllm","type":"provider","name":"myllm"}])");
  EXPECT_EQ(json::serialize(table.ListFor("@a/b")), "[]");
  table.ReleaseAll("@x/y");
  EXPECT_EQ(json::serialize(table.ListFor("@x/y")), "[]");
  Manifest other = Declaring();
  other.id = "@a/b";
  EXPECT_TRUE(
      table.Register("@a/b", ComputeGrants(other, TrustLevel::kCore, {}, {}), "channel", "irc")
          .ok());
  EXPECT_EQ(table.Owner("channel", "irc"), "@a/b");
}

}  // namespace
}  // namespace oc::registry
