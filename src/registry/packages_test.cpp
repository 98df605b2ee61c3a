#include "registry/packages.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "registry/registry_test_util.h"

namespace oc::registry {
namespace {

namespace fs = std::filesystem;
using testing::BaseManifest;
using testing::TempDir;
using testing::WriteFile;
using testing::WritePackage;

std::vector<std::string> Ids(const std::vector<Package>& packages) {
  std::vector<std::string> out;
  for (const auto& p : packages) out.push_back(p.manifest.id);
  return out;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- discovery ----

TEST(Discovery, FindsShippedHomeAndScopedPackages) {
  TempDir tmp;
  fs::path shipped = tmp.path() / "shipped", home = tmp.path() / "home";
  WritePackage(shipped / "diagnostics", BaseManifest("@openclawos/diagnostics"));
  WritePackage(home / "zeta", BaseManifest("zeta"));
  WritePackage(home / "@acme" / "tool", BaseManifest("@acme/tool"));  // scope directory
  WritePackage(home / "@acme__bot", BaseManifest("@acme/bot"));       // as InstallPackage names it
  WriteFile(home / "notes" / "README.md", "not a package");           // ignored: no manifest
  WritePackage(home / ".tmp-half-installed", BaseManifest("half"));   // ignored: hidden

  Discovery d = DiscoverPackages(shipped, home);
  EXPECT_TRUE(d.problems.empty()) << d.problems.front();
  EXPECT_EQ(Ids(d.packages), (std::vector<std::string>{"@openclawos/diagnostics", "@acme/tool",
                                                       "@acme/bot", "zeta"}));
  ASSERT_EQ(d.packages.size(), 4u);
  EXPECT_TRUE(d.packages[0].shipped);
  EXPECT_EQ(d.packages[0].dir, shipped / "diagnostics");
  EXPECT_FALSE(d.packages[1].shipped);
  EXPECT_EQ(d.packages[1].dir, home / "@acme" / "tool");
}

TEST(Discovery, InvalidAndDuplicatePackagesAreSkippedWithProblems) {
  TempDir tmp;
  fs::path shipped = tmp.path() / "shipped", home = tmp.path() / "home";
  WritePackage(shipped / "irc", BaseManifest("@openclawos/irc"));
  WritePackage(home / "a-irc", BaseManifest("@openclawos/irc"));  // reuses a shipped id
  WritePackage(home / "one", BaseManifest("dup"));
  WritePackage(home / "two", BaseManifest("dup"));  // duplicate within home
  auto broken = BaseManifest("broken");
  broken["capabilities"] = {{"hooks", {{"intercepts", {"message_received"}}}}};
  WritePackage(home / "broken", broken);
  WriteFile(home / "garbage" / std::string(kManifestFileName), "{not json");
  WritePackage(home / "good", BaseManifest("good"));

  Discovery d = DiscoverPackages(shipped, home);
  // Directory-name order: good < one < two.
  EXPECT_EQ(Ids(d.packages), (std::vector<std::string>{"@openclawos/irc", "good", "dup"}));
  EXPECT_EQ(d.packages[2].dir, home / "one");
  ASSERT_EQ(d.problems.size(), 4u);
  EXPECT_EQ(d.problems[0],
            (home / "a-irc").string() + ": id \"@openclawos/irc\" is a shipped package; skipped");
  EXPECT_EQ(d.problems[1],
            (home / "broken").string() +
                ": capabilities.hooks.intercepts[0]: \"message_received\" cannot be intercepted");
  EXPECT_NE(d.problems[2].find((home / "garbage").string() + ": invalid JSON"), std::string::npos);
  EXPECT_EQ(d.problems[3], (home / "two").string() +
                               ": duplicate id \"dup\" (already provided by " +
                               (home / "one").string() + "); skipped");
}

TEST(Discovery, MissingRootsAreEmpty) {
  TempDir tmp;
  Discovery d = DiscoverPackages(tmp.path() / "none", tmp.path() / "nothing");
  EXPECT_TRUE(d.packages.empty());
  EXPECT_TRUE(d.problems.empty());
  d = DiscoverPackages({}, {});
  EXPECT_TRUE(d.packages.empty());
  EXPECT_TRUE(d.problems.empty());
}

// ---- start order ----

Package Pkg(const std::string& id, std::vector<std::string> apps,
            std::vector<std::string> skills = {}) {
  Package p;
  p.manifest.id = id;
  p.manifest.depends_apps = std::move(apps);
  p.manifest.depends_skills = std::move(skills);
  return p;
}

TEST(StartOrder, DependenciesFirstOtherwiseGivenOrder) {
  auto order = StartOrder({Pkg("web", {"api", "db"}), Pkg("api", {"db"}, {"auth"}), Pkg("db", {}),
                           Pkg("auth", {}), Pkg("lonely", {})});
  ASSERT_TRUE(order.ok()) << order.error().message;
  EXPECT_EQ(*order, (std::vector<std::string>{"db", "auth", "api", "web", "lonely"}));
  auto none = StartOrder({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(StartOrder, MissingDependencyNamesBothIds) {
  auto order = StartOrder({Pkg("a", {"b"}), Pkg("c", {}, {"@x/skill"})});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(order.error().message, "missing dependency: a requires b, c requires @x/skill");
  EXPECT_EQ(order.error().data.at("missing").as_array().size(), 2u);
}

TEST(StartOrder, CycleIsAnError) {
  auto order = StartOrder({Pkg("a", {"b"}), Pkg("b", {"a"})});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(order.error().message, "dependency cycle: a -> b -> a");
  EXPECT_EQ(json::serialize(order.error().data), R"({"cycle":["a","b","a"]})");

  auto longer = StartOrder({Pkg("x", {"a"}), Pkg("a", {"b"}), Pkg("b", {"c"}), Pkg("c", {"a"})});
  ASSERT_FALSE(longer.ok());
  EXPECT_EQ(longer.error().message, "dependency cycle: a -> b -> c -> a");
  auto self = StartOrder({Pkg("s", {"s"})});
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().message, "dependency cycle: s -> s");
}

// ---- install / uninstall ----

fs::path MakeSource(const fs::path& dir, const std::string& id, const std::string& version) {
  auto m = BaseManifest(id);
  m["version"] = version;
  WritePackage(dir, m);
  WriteFile(dir / "share" / "data.txt", "version " + version);
  return dir;
}

TEST(Install, CopiesIntoDirNamedAfterIdKeepingModes) {
  TempDir tmp;
  fs::path src = MakeSource(tmp.path() / "src", "@acme/echo", "1.0.0");
  fs::path packages = tmp.path() / "home" / "packages";  // created on demand
  auto installed = InstallPackage(src, packages);
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_EQ(installed->dir, packages / "@acme__echo");
  EXPECT_EQ(installed->manifest.id, "@acme/echo");
  EXPECT_FALSE(installed->shipped);
  EXPECT_TRUE(testing::IsExecutable(packages / "@acme__echo" / "bin" / "echo"));
  EXPECT_FALSE(testing::IsExecutable(packages / "@acme__echo" / "share" / "data.txt"));
  EXPECT_EQ(ReadAll(packages / "@acme__echo" / "share" / "data.txt"), "version 1.0.0");

  Discovery d = DiscoverPackages({}, packages);
  EXPECT_EQ(Ids(d.packages), std::vector<std::string>{"@acme/echo"});
  EXPECT_TRUE(d.problems.empty());
}

TEST(Install, ReplacesAnExistingCopyOfTheSameId) {
  TempDir tmp;
  fs::path packages = tmp.path() / "packages";
  ASSERT_TRUE(InstallPackage(MakeSource(tmp.path() / "v1", "echo", "1.0.0"), packages).ok());
  WriteFile(packages / "echo" / "state-from-v1", "x");
  fs::path v2 = MakeSource(tmp.path() / "v2", "echo", "2.0.0");
  fs::create_directory_symlink("share", v2 / "link");
  auto installed = InstallPackage(v2 / kManifestFileName, packages);  // the manifest path works too
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_EQ(installed->manifest.version, "2.0.0");
  EXPECT_EQ(ReadAll(packages / "echo" / "share" / "data.txt"), "version 2.0.0");
  EXPECT_FALSE(fs::exists(packages / "echo" / "state-from-v1"));
  EXPECT_TRUE(fs::is_symlink(packages / "echo" / "link"));
  // No leftovers from the swap.
  size_t entries = std::distance(fs::directory_iterator(packages), fs::directory_iterator());
  EXPECT_EQ(entries, 1u);
}

TEST(Install, RefusesShippedIds) {
  TempDir tmp;
  fs::path shipped = tmp.path() / "shipped";
  WritePackage(shipped / "irc", BaseManifest("@openclawos/irc"));
  fs::path src = MakeSource(tmp.path() / "src", "@openclawos/irc", "9.9.9");
  auto r = InstallPackage(src, tmp.path() / "packages", shipped);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(r.error().message,
            "\"@openclawos/irc\" is a package shipped with OpenClawOS and cannot be replaced");
  EXPECT_FALSE(fs::exists(tmp.path() / "packages" / "@openclawos__irc"));
}

TEST(Install, RefusesInvalidManifestWithFormattedProblems) {
  TempDir tmp;
  auto m = BaseManifest("echo");
  m["protocol"] = {{"version", "2.0"}};
  m["junk"] = true;
  WritePackage(tmp.path() / "src", m);
  auto r = InstallPackage(tmp.path() / "src", tmp.path() / "packages");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(r.error().message,
            "invalid package " + (tmp.path() / "src").string() +
                ":\nerror: protocol.version: protocol 2.0 is not supported: the kernel speaks 1.0 "
                "(major versions must match)\nwarning: junk: unknown key \"junk\"");
  EXPECT_EQ(r.error().data.at("problems").as_array().size(), 2u);
  EXPECT_FALSE(fs::exists(tmp.path() / "packages" / "echo"));

  auto missing = InstallPackage(tmp.path() / "nowhere", tmp.path() / "packages");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(Install, RefusesSameIdUnderAnotherDirectory) {
  TempDir tmp;
  fs::path packages = tmp.path() / "packages";
  WritePackage(packages / "hand-made", BaseManifest("echo"));
  auto r = InstallPackage(MakeSource(tmp.path() / "src", "echo", "1.0.0"), packages);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_EQ(r.error().message,
            "\"echo\" is already installed in " + (packages / "hand-made").string());
}

TEST(Install, RefusesASourceThatContainsThePackagesDir) {
  TempDir tmp;
  fs::path src = MakeSource(tmp.path() / "home", "echo", "1.0.0");
  auto r = InstallPackage(src, src / "packages");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
}

TEST(Uninstall, RemovesByIdThenNotFound) {
  TempDir tmp;
  fs::path packages = tmp.path() / "packages";
  ASSERT_TRUE(InstallPackage(MakeSource(tmp.path() / "src", "@acme/echo", "1.0.0"), packages).ok());
  ASSERT_TRUE(UninstallPackage("@acme/echo", packages).ok());
  EXPECT_FALSE(fs::exists(packages / "@acme__echo"));
  EXPECT_TRUE(fs::is_empty(packages));
  Status again = UninstallPackage("@acme/echo", packages);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(again.error().message, "package \"@acme/echo\" is not installed");
}

TEST(Uninstall, FindsHandPlacedAndBrokenPackages) {
  TempDir tmp;
  fs::path packages = tmp.path() / "packages";
  WritePackage(packages / "@acme" / "tool", BaseManifest("@acme/tool"));
  auto broken = BaseManifest("old");
  broken["protocol"] = {{"version", "0.1"}};  // no longer loadable, still removable
  WritePackage(packages / "legacy", broken);
  EXPECT_TRUE(UninstallPackage("@acme/tool", packages).ok());
  EXPECT_FALSE(fs::exists(packages / "@acme" / "tool"));
  EXPECT_TRUE(UninstallPackage("old", packages).ok());
  EXPECT_FALSE(fs::exists(packages / "legacy"));
}

TEST(Uninstall, InvalidIdIsRejectedBeforeTouchingDisk) {
  TempDir tmp;
  Status s = UninstallPackage("../etc", tmp.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
}

TEST(PackageDirName, ReplacesSlash) {
  EXPECT_EQ(PackageDirName("@openclawos/diagnostics"), "@openclawos__diagnostics");
  EXPECT_EQ(PackageDirName("plain"), "plain");
}

}  // namespace
}  // namespace oc::registry
