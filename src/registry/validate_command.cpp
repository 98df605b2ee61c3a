#include "registry/validate_command.h"

#include "registry/manifest.h"

namespace oc::registry {

int RunManifestValidate(const std::filesystem::path& path, std::ostream& out) {
  ManifestReport report = LoadManifest(path);
  if (!report.problems.empty()) out << report.Format() << '\n';
  if (!report.ok()) return 1;
  out << "ok: " << report.manifest->id << ' ' << report.manifest->version << '\n';
  return 0;
}

}  // namespace oc::registry
