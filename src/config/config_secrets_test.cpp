#include <gtest/gtest.h>

#include "config/config.h"

namespace oc::config {
namespace {

Config Load(std::string_view text) {
  auto c = Config::FromText(text, MapEnv({}));
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? std::move(c).value() : Config::Defaults();
}

Config::SecretLookup Vault(std::map<std::string, std::string> secrets) {
  return [secrets = std::move(secrets)](std::string_view name) -> Result<std::string> {
    if (auto it = secrets.find(std::string(name)); it != secrets.end()) return it->second;
    return MakeError(ErrorCode::kNotFound, "no secret \"" + std::string(name) + "\" in the vault");
  };
}

constexpr std::string_view kText = R"({
  "gateway": {"auth": {"token": {"$secret": "gw"}}},
  "models": {"providers": {"p": {"api": "openai-completions", "apiKey": {"$secret": "ak"}}}},
  "apps": {"a": {"env": {"X": {"$secret": "app-x"}}}}
})";

TEST(ConfigSecretsTest, FindsEveryReferenceWithItsPath) {
  Config c = Load(kText);
  auto refs = FindSecretRefs(c.root());
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& r : refs) got.emplace(r.path, r.name);
  EXPECT_EQ(got, (std::set<std::pair<std::string, std::string>>{
                     {"gateway.auth.token", "gw"}, {"models.providers.p.apiKey", "ak"}, {"apps.a.env.X", "app-x"}}));
  EXPECT_TRUE(FindSecretRefs(json::parse(R"({"a": [1, {"$secret": "s"}]})")).size() == 1);
  EXPECT_EQ(FindSecretRefs(json::parse(R"({"a": [1, {"$secret": "s"}]})"), "x").front().path, "x.a[1]");
}

TEST(ConfigSecretsTest, ResolvedCopyHasValuesWhileTheOriginalKeepsReferences) {
  Config c = Load(kText);
  auto skip_apps = [](std::string_view path) { return path.starts_with("apps."); };
  auto r = c.WithSecretsResolved(Vault({{"gw", "gateway-token-1"}, {"ak", "sk-123456"}}), skip_apps);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->gateway().auth_token, "gateway-token-1");
  EXPECT_TRUE(r->gateway().auth_token_secret.empty());
  EXPECT_EQ(*r->Find("models.providers.p.apiKey"), json::value("sk-123456"));
  // Skipped paths keep their reference; the original is untouched.
  EXPECT_EQ(r->app("a").env_secrets.at("X"), "app-x");
  EXPECT_EQ(c.gateway().auth_token_secret, "gw");
  EXPECT_EQ(c.Redacted("gateway.auth.token"), json::value(kRedacted));
}

TEST(ConfigSecretsTest, MissingSecretsAreAllListed) {
  Config c = Load(kText);
  auto r = c.WithSecretsResolved(Vault({{"ak", "sk-123456"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "gateway.auth.token: no secret \"gw\" in the vault");
  EXPECT_EQ(r.error().data.at("path"), json::value("gateway.auth.token"));
  EXPECT_EQ(r.error().data.at("secret"), json::value("gw"));
  EXPECT_EQ(r.error().data.at("errors").as_array().size(), 2u);  // gw and app-x
}

TEST(ConfigSecretsTest, NoReferencesIsACopy) {
  Config c = Load(R"({"gateway": {"port": 1234}})");
  int calls = 0;
  auto r = c.WithSecretsResolved([&](std::string_view) -> Result<std::string> {
    ++calls;
    return std::string("x");
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r->root(), c.root());
}

}  // namespace
}  // namespace oc::config
