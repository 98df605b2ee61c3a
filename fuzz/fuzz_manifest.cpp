// Fuzzes manifest validation (SPEC §3) with arbitrary bytes.
//
// Invariants checked:
//  - ParseManifest never crashes; a manifest is returned exactly when there is no error;
//  - every problem has a message, and Format() prints exactly one line per problem;
//  - a returned manifest satisfies the rules it was validated against (id, semver, relative main,
//    canonical hook names, namespaced methods), and the capabilities computed from it never exceed
//    what it declares, at every trust level.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "protocol/hooks.h"
#include "registry/capabilities.h"
#include "registry/manifest_checker.h"

namespace {

using namespace oc::registry;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void CheckSubset(const std::set<std::string>& granted, const std::vector<std::string>& declared) {
  for (const auto& g : granted) FUZZ_CHECK(Contains(declared, g));
}

void CheckManifest(const Manifest& m) {
  FUZZ_CHECK(IsValidPackageId(m.id));
  FUZZ_CHECK(!m.ShortName().empty());
  FUZZ_CHECK(IsSemver(m.version));
  FUZZ_CHECK(!m.name.empty());
  FUZZ_CHECK(m.main.empty() || !internal::RelativePathProblem(m.main));
  for (const auto& h : m.hooks_subscribes) FUZZ_CHECK(oc::protocol::FindHook(h)->name == h);
  for (const auto& h : m.hooks_intercepts)
    FUZZ_CHECK(oc::protocol::FindHook(h)->kind == oc::protocol::HookKind::kIntercept);
  for (const auto& method : m.gateway_methods) FUZZ_CHECK(method.starts_with(m.ShortName() + "."));
  for (const auto& route : m.http_routes) FUZZ_CHECK(route.front() == '/');
  if (m.limits.max_memory_bytes) FUZZ_CHECK(*m.limits.max_memory_bytes > 0);

  for (TrustLevel t :
       {TrustLevel::kCore, TrustLevel::kVerified, TrustLevel::kCommunity, TrustLevel::kUntrusted}) {
    Grants g = ComputeGrants(m, t, {"hooks.intercepts:*", "providers:*"}, {});
    CheckSubset(g.channels, m.channels_provides);
    CheckSubset(g.tools, m.tools_provides);
    CheckSubset(g.hooks_subscribe, m.hooks_subscribes);
    CheckSubset(g.hooks_intercept, m.hooks_intercepts);
    CheckSubset(g.gateway_methods, m.gateway_methods);
    CheckSubset(g.http_routes, m.http_routes);
    CheckSubset(g.providers, m.providers_provides);
    FUZZ_CHECK(g.ToJson().is_object());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ManifestReport report = ParseManifest(input);

  FUZZ_CHECK(report.ok() == report.manifest.has_value());
  for (const auto& p : report.problems) FUZZ_CHECK(!p.message.empty());
  std::string text = report.Format();
  size_t newlines = std::count(text.begin(), text.end(), '\n');
  FUZZ_CHECK(report.problems.empty() ? text.empty() : newlines == report.problems.size() - 1);

  if (report.manifest) CheckManifest(*report.manifest);
  return 0;
}
