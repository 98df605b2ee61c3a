#include "cli/security_checks.h"

#include <gtest/gtest.h>

namespace oc::cli::security {
namespace {

const Finding* FindId(const std::vector<Finding>& fs, std::string_view id) {
  for (const auto& f : fs)
    if (f.id == id) return &f;
  return nullptr;
}

TEST(SecurityChecks, FileModeFindsGroupAndOtherBits) {
  FileFacts f{"config", "/h/config.json", true, 0644, 0600, "high"};
  auto finding = CheckFileMode(f);
  ASSERT_TRUE(finding);
  EXPECT_EQ(finding->id, "perm.config");
  EXPECT_EQ(finding->severity, "high");
  EXPECT_NE(finding->title.find("0644"), std::string::npos);
  EXPECT_NE(finding->detail.find("group and others can read"), std::string::npos);
  EXPECT_NE(finding->fix.find("chmod 600 /h/config.json"), std::string::npos);

  f.mode = 0600;
  EXPECT_FALSE(CheckFileMode(f));
  f.mode = 0400;  // stricter than needed is fine
  EXPECT_FALSE(CheckFileMode(f));
  f.mode = 0660;
  ASSERT_TRUE(CheckFileMode(f));
  EXPECT_NE(CheckFileMode(f)->detail.find("group can read/write"), std::string::npos);
  f.exists = false;
  f.mode = 0777;
  EXPECT_FALSE(CheckFileMode(f));
}

TEST(SecurityChecks, ExcessBits) {
  EXPECT_EQ(ExcessBits(0755, 0700), 0055u);
  EXPECT_EQ(ExcessBits(0700, 0700), 0u);
  EXPECT_EQ(ExcessBits(04700, 0700), 04000u);
}

TEST(SecurityChecks, GatewayBindAndAuth) {
  config::GatewaySettings gw;
  gw.host = "0.0.0.0";
  auto fs = CheckGateway(gw);
  ASSERT_TRUE(FindId(fs, "gateway.bind"));
  EXPECT_EQ(FindId(fs, "gateway.bind")->severity, "critical");
  EXPECT_EQ(AuditExitCode(fs), 1);

  gw.auth_token = "short";
  fs = CheckGateway(gw);
  EXPECT_EQ(FindId(fs, "gateway.bind")->severity, "medium");
  ASSERT_TRUE(FindId(fs, "gateway.auth.token"));
  EXPECT_EQ(FindId(fs, "gateway.auth.token")->severity, "medium");
  EXPECT_EQ(AuditExitCode(fs), 0);

  gw.auth_token = std::string(32, 'x');
  fs = CheckGateway(gw);
  EXPECT_FALSE(FindId(fs, "gateway.auth.token"));

  gw = {};  // loopback, no auth
  fs = CheckGateway(gw);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].id, "gateway.auth");
  EXPECT_EQ(fs[0].severity, "low");

  gw.auth_password_secret = "GW_PASS";  // a vault reference counts as auth; its length is unknown
  EXPECT_TRUE(CheckGateway(gw).empty());
}

TEST(SecurityChecks, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("192.168.1.2"));
  EXPECT_FALSE(IsLoopbackHost("::"));
}

TEST(SecurityChecks, ExecPolicyAndExternalApps) {
  EXPECT_EQ(CheckExecPolicy("full")->severity, "high");
  EXPECT_EQ(CheckExecPolicy("ask")->severity, "info");
  EXPECT_EQ(CheckExecPolicy("allowlist")->severity, "info");
  EXPECT_FALSE(CheckExecPolicy("deny"));
  EXPECT_EQ(CheckExternalApps(true)->severity, "medium");
  EXPECT_FALSE(CheckExternalApps(false));
}

TEST(SecurityChecks, AppsWithInterceptsAndUnsandboxedCommunityApps) {
  std::vector<AppFacts> apps = {
      {"@openclawos/guard", "core", true, {"message_sending"}, {}, false},
      {"notes", "verified", true, {"before_tool_call"}, {}, false},
      {"capy", "community", true, {}, {"myllm"}, true},
      {"off", "community", false, {"message_sending"}, {}, true},  // disabled: not reported
      {"plain", "community", true, {}, {}, false},
  };
  auto fs = CheckApps(apps);
  ASSERT_EQ(fs.size(), 4u);
  EXPECT_EQ(FindId(fs, "apps.intercept.@openclawos/guard")->severity, "info");
  EXPECT_EQ(FindId(fs, "apps.intercept.notes")->severity, "low");
  EXPECT_NE(FindId(fs, "apps.intercept.notes")->detail.find("hooks.intercepts:before_tool_call"), std::string::npos);
  EXPECT_EQ(FindId(fs, "apps.intercept.capy")->severity, "medium");
  EXPECT_NE(FindId(fs, "apps.intercept.capy")->detail.find("providers:myllm"), std::string::npos);
  EXPECT_EQ(FindId(fs, "apps.unsandboxed.capy")->severity, "medium");
  EXPECT_FALSE(FindId(fs, "apps.intercept.off"));
}

TEST(SecurityChecks, SandboxSupport) {
  EXPECT_EQ(CheckSandbox({}).front().severity, "info");  // not probed
  SandboxFacts full{true, 7, true, true, "landlock ABI 7, seccomp, netns"};
  auto fs = CheckSandbox(full);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].severity, "info");
  SandboxFacts none{true, 0, false, false, ""};
  fs = CheckSandbox(none);
  EXPECT_EQ(FindId(fs, "sandbox.seccomp")->severity, "high");
  EXPECT_EQ(FindId(fs, "sandbox.landlock")->severity, "medium");
  EXPECT_EQ(FindId(fs, "sandbox.netns")->severity, "medium");
  EXPECT_EQ(AuditExitCode(fs), 1);
}

TEST(SecurityChecks, VaultKeySource) {
  EXPECT_EQ(CheckVaultKey({true, true, "file", ""})->severity, "medium");
  EXPECT_EQ(CheckVaultKey({true, true, "env", ""})->severity, "info");
  EXPECT_FALSE(CheckVaultKey({true, true, "keyring", ""}));
  EXPECT_EQ(CheckVaultKey({true, false, "", ""})->severity, "info");
  EXPECT_EQ(CheckVaultKey({true, false, "", "vault.key: bad length"})->severity, "medium");
  EXPECT_EQ(CheckVaultKey({false, false, "", ""})->severity, "info");
}

TEST(SecurityChecks, SortAndExitCode) {
  std::vector<Finding> fs = {{"b", "info", "", "", ""}, {"a", "low", "", "", ""}, {"c", "high", "", "", ""},
                             {"a2", "critical", "", "", ""}};
  SortFindings(fs);
  EXPECT_EQ(fs[0].id, "a2");
  EXPECT_EQ(fs[1].id, "c");
  EXPECT_EQ(fs[3].id, "b");
  EXPECT_EQ(AuditExitCode(fs), 1);
  fs.erase(fs.begin(), fs.begin() + 2);
  EXPECT_EQ(AuditExitCode(fs), 0);
  EXPECT_EQ(fs[0].ToJson().at("severity").as_string(), "low");
}

TEST(SecurityChecks, DoctorModeCheck) {
  FileFacts home{"home", "/h", true, 0755, 0700, "high"};
  Check c = ModeCheck(home);
  EXPECT_EQ(c.status, "warn");
  EXPECT_EQ(c.fix, "chmod 700 /h");
  FileFacts key{"vault-key", "/h/vault.key", true, 0644, 0600, "critical"};
  EXPECT_EQ(ModeCheck(key).status, "error");
  EXPECT_EQ(DoctorExitCode({ModeCheck(key)}), 1);
  home.mode = 0700;
  EXPECT_EQ(ModeCheck(home).status, "ok");
  EXPECT_EQ(DoctorExitCode({ModeCheck(home), c}), 0);
  EXPECT_FALSE(ModeCheck(home).ToJson().as_object().contains("fix"));
}

}  // namespace
}  // namespace oc::cli::security
