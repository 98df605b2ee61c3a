#include "registry/manifest.h"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "protocol/frame.h"
#include "registry/manifest_checker.h"

namespace oc::registry {

using internal::Checker;
using internal::Quote;

// ---- names ----

std::string_view TrustLevelName(TrustLevel level) {
  switch (level) {
    case TrustLevel::kCore: return "core";
    case TrustLevel::kVerified: return "verified";
    case TrustLevel::kCommunity: return "community";
    case TrustLevel::kUntrusted: return "untrusted";
  }
  return "untrusted";
}

std::optional<TrustLevel> ParseTrustLevel(std::string_view name) {
  for (TrustLevel t :
       {TrustLevel::kCore, TrustLevel::kVerified, TrustLevel::kCommunity, TrustLevel::kUntrusted})
    if (TrustLevelName(t) == name) return t;
  return std::nullopt;
}

std::string_view PackageTypeName(PackageType type) {
  switch (type) {
    case PackageType::kApp: return "app";
    case PackageType::kSkill: return "skill";
    case PackageType::kAgent: return "agent";
    case PackageType::kExtension: return "extension";
  }
  return "app";
}

std::optional<PackageType> ParsePackageType(std::string_view name) {
  for (PackageType t :
       {PackageType::kApp, PackageType::kSkill, PackageType::kAgent, PackageType::kExtension})
    if (PackageTypeName(t) == name) return t;
  return std::nullopt;
}

std::string Manifest::ShortName() const {
  size_t slash = id.find('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

// ---- report ----

bool ManifestReport::ok() const {
  for (const auto& p : problems)
    if (!p.warning) return false;
  return true;
}

std::string ManifestReport::Format() const {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.warning ? "warning: " : "error: ";
    if (!p.path.empty()) out += p.path + ": ";
    out += p.message;
  }
  return out;
}

// ---- syntax of ids and versions ----

namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

bool IsIdPart(std::string_view s) {
  if (s.empty() || s.front() == '.') return false;  // no hidden names, no "." or ".."
  for (char c : s)
    if (!IsIdChar(c)) return false;
  return true;
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A dot-separated list of [0-9A-Za-z-]+ identifiers; numeric ones without leading zeros if asked.
bool IsSemverIdentifiers(std::string_view s, bool numeric_no_leading_zero) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty()) return false;
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (numeric_no_leading_zero && IsDigits(part) && part.size() > 1 && part[0] == '0')
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Splits "a.b.c" into exactly n numeric parts (no sign, no leading zeros other than "0").
std::optional<std::vector<uint64_t>> NumericParts(std::string_view s, size_t n) {
  std::vector<uint64_t> parts;
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t dot = i + 1 < n ? s.find('.', start) : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    std::string_view part = s.substr(start, dot - start);
    if (!IsDigits(part) || (part.size() > 1 && part[0] == '0') || part.size() > 18)
      return std::nullopt;
    uint64_t v = 0;
    std::from_chars(part.data(), part.data() + part.size(), v);
    parts.push_back(v);
    start = dot + 1;
  }
  return parts;
}

}  // namespace

bool IsValidPackageId(std::string_view id) {
  if (id.empty() || id.size() > 214) return false;
  if (id.front() == '@') {
    size_t slash = id.find('/');
    if (slash == std::string_view::npos) return false;
    return IsIdPart(id.substr(1, slash - 1)) && IsIdPart(id.substr(slash + 1));
  }
  return IsIdPart(id);
}

bool IsSemver(std::string_view v) {
  size_t plus = v.find('+');
  if (plus != std::string_view::npos) {
    if (!IsSemverIdentifiers(v.substr(plus + 1), false)) return false;
    v = v.substr(0, plus);
  }
  size_t dash = v.find('-');
  if (dash != std::string_view::npos) {
    if (!IsSemverIdentifiers(v.substr(dash + 1), true)) return false;
    v = v.substr(0, dash);
  }
  return NumericParts(v, 3).has_value();
}

std::optional<int> CompareKernelVersions(std::string_view a, std::string_view b) {
  auto pa = NumericParts(a, 3), pb = NumericParts(b, 3);
  if (!pa || !pb) return std::nullopt;
  if (*pa < *pb) return -1;
  if (*pb < *pa) return 1;
  return 0;
}

std::optional<int64_t> ParseByteSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string_view number = text.substr(0, i);
  std::string unit;
  for (char c : text.substr(i))
    if (c != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      number.find('.') != number.rfind('.') || number.size() > 30)
    return std::nullopt;

  double multiplier = 0;
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", 1024.0},
      {"kb", 1024.0},
      {"kib", 1024.0},
      {"m", 1048576.0},
      {"mb", 1048576.0},
      {"mib", 1048576.0},
      {"g", 1073741824.0},
      {"gb", 1073741824.0},
      {"gib", 1073741824.0},
      {"t", 1099511627776.0},
      {"tb", 1099511627776.0},
      {"tib", 1099511627776.0},
  };
  for (const auto& [name, m] : kUnits)
    if (unit == name) multiplier = m;
  if (multiplier == 0) return std::nullopt;

  double value = std::stod(std::string(number)) * multiplier;
  // 2^62 keeps the cast below well-defined and is far beyond any real memory size.
  if (!(value >= 1) || value > 4.6e18) return std::nullopt;
  return static_cast<int64_t>(value);
}

// ---- document-level checks ----

namespace {

void CheckIdentity(Checker& c, const json::object& root, Manifest& m) {
  if (auto id = c.String(root, "", "id", true)) {
    if (auto problem = internal::PackageIdProblem(*id))
      c.Error("id", std::move(*problem));
    else
      m.id = std::move(*id);
  }
  if (auto name = c.String(root, "", "name", true)) m.name = std::move(*name);
  if (auto version = c.String(root, "", "version", true)) {
    if (IsSemver(*version))
      m.version = std::move(*version);
    else
      c.Error("version", Quote(*version) + " is not a semantic version (x.y.z[-pre][+build])");
  }
  if (auto d = c.String(root, "", "description")) m.description = std::move(*d);
  for (std::string_view key : {"license", "icon"}) c.String(root, "", key);
  for (std::string_view key : {"author", "repository"}) {
    // npm-style: a string, or an object such as {name, email} / {type, url}.
    const json::value* v = c.Field(root, "", key, false);
    if (v && !v->is_string() && !v->is_object())
      c.Error(std::string(key),
              "expected string or object, got " + std::string(internal::JsonTypeName(*v)));
  }
  c.Strings(root, "", "tags");
}

void CheckTypeAndMain(Checker& c, const json::object& root, Manifest& m) {
  bool type_known = false;
  if (auto type = c.String(root, "", "type", true)) {
    if (auto t = ParsePackageType(*type)) {
      m.type = *t;
      type_known = true;
    } else {
      c.Error("type",
              "unknown type " + Quote(*type) + " (expected app, skill, agent or extension)");
    }
  }
  // Only demand `main` when the type is known to need one: a missing type is reported already.
  bool main_required = type_known && m.type != PackageType::kAgent;
  const json::value* v = c.Field(root, "", "main", main_required);
  if (!v) return;
  if (!v->is_string()) {
    c.Error("main", "expected string, got " + std::string(internal::JsonTypeName(*v)));
  } else if (auto problem = internal::RelativePathProblem(v->get_string())) {
    c.Error("main", std::move(*problem));
  } else {
    m.main = v->get_string();
  }
}

std::optional<int64_t> ProtocolMajor(std::string_view v) {
  size_t dot = v.find('.');
  std::string_view major = v.substr(0, dot);
  if (!IsDigits(major) || major.size() > 9) return std::nullopt;
  if (dot != std::string_view::npos && !IsDigits(v.substr(dot + 1))) return std::nullopt;
  return std::stoll(std::string(major));
}

void CheckProtocol(Checker& c, const json::object& root, Manifest& m) {
  const json::object* proto = c.Object(root, "", "protocol", true);
  if (!proto) return;
  if (auto version = c.String(*proto, "protocol", "version", true)) {
    auto major = ProtocolMajor(*version);
    auto kernel_major = ProtocolMajor(protocol::kProtocolVersion);
    if (!major) {
      c.Error("protocol.version",
              "malformed protocol version " + Quote(*version) + " (expected MAJOR.MINOR)");
    } else if (major != kernel_major) {
      c.Error("protocol.version", "protocol " + *version + " is not supported: the kernel speaks " +
                                      std::string(protocol::kProtocolVersion) +
                                      " (major versions must match)");
    } else {
      m.protocol_version = std::move(*version);
    }
  }
  if (auto min_kernel = c.String(*proto, "protocol", "minKernelVersion")) {
    auto cmp = CompareKernelVersions(*min_kernel, protocol::kKernelVersion);
    if (!cmp) {
      c.Error("protocol.minKernelVersion",
              "malformed kernel version " + Quote(*min_kernel) + " (expected YYYY.M.P)");
    } else if (*cmp > 0) {
      c.Error("protocol.minKernelVersion", "requires kernel " + *min_kernel +
                                               " or newer; this kernel is " +
                                               std::string(protocol::kKernelVersion));
    } else {
      m.min_kernel_version = std::move(*min_kernel);
    }
  }
  c.WarnUnknownKeys(*proto, "protocol", {"version", "minKernelVersion"});
}

void CheckDependencies(Checker& c, const json::object& root, Manifest& m) {
  const json::object* deps = c.Object(root, "", "dependencies");
  if (!deps) return;
  auto check = [&m](std::string_view id) -> std::optional<std::string> {
    if (auto problem = internal::PackageIdProblem(id)) return problem;
    if (!m.id.empty() && id == m.id) return std::string("a package cannot depend on itself");
    return std::nullopt;
  };
  m.depends_apps = c.Strings(*deps, "dependencies", "apps", check);
  m.depends_skills = c.Strings(*deps, "dependencies", "skills", check);
  m.depends_agents = c.Strings(*deps, "dependencies", "agents", check);
  c.WarnUnknownKeys(*deps, "dependencies", {"apps", "skills", "agents"});
}

void CheckConfigSections(Checker& c, const json::object& root, Manifest& m) {
  if (const json::object* schema = c.Object(root, "", "configSchema")) m.config_schema = *schema;
  c.Object(root, "", "configUiHints");
}

void CheckTopLevelKeys(Checker& c, const json::object& root) {
  static constexpr std::string_view kCapabilitySections[] = {
      "channels", "tools", "hooks", "gateway", "ui", "providers", "agent", "resources", "security"};
  for (const auto& kv : root) {
    std::string_view key = kv.key();
    for (std::string_view section : kCapabilitySections)
      if (key == section)
        c.Warn(std::string(key), "unknown key \"" + std::string(key) +
                                     "\" (capability sections belong under \"capabilities\"; "
                                     "this one is ignored)");
  }
  // "$schema" lets editors validate the file; it is not part of the manifest.
  static const std::initializer_list<std::string_view> kKnown = {
      "$schema",       "id",           "name",       "version",      "description",
      "author",        "license",      "repository", "icon",         "tags",
      "type",          "main",         "protocol",   "capabilities", "configSchema",
      "configUiHints", "dependencies", "channels",   "tools",        "hooks",
      "gateway",       "ui",           "providers",  "agent",        "resources",
      "security"};
  c.WarnUnknownKeys(root, "", kKnown);
}

// Strict JSON; the error names line and column so a hand-written manifest is easy to fix.
std::optional<json::value> ParseStrict(std::string_view text, std::string& error) {
  json::parse_options opts;
  opts.max_depth = 64;
  json::stream_parser parser({}, opts);
  boost::system::error_code ec;
  size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (!ec) return parser.release();
  size_t line = 1, column = 1;
  for (size_t i = 0; i < consumed && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  error = "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
          ": " + ec.message();
  return std::nullopt;
}

ManifestReport ParseManifestUnchecked(std::string_view json_text) {
  ManifestReport report;
  std::string parse_error;
  auto value = ParseStrict(json_text, parse_error);
  if (!value) {
    report.problems.push_back({"", std::move(parse_error), false});
    return report;
  }
  if (!value->is_object()) {
    report.problems.push_back(
        {"", "a manifest must be a JSON object, got " + std::string(internal::JsonTypeName(*value)),
         false});
    return report;
  }
  const json::object& root = value->get_object();
  Manifest m;
  Checker c(report.problems);
  CheckIdentity(c, root, m);
  CheckTypeAndMain(c, root, m);
  CheckProtocol(c, root, m);
  if (const json::object* caps = c.Object(root, "", "capabilities", true))
    internal::CheckCapabilities(c, *caps, m);
  CheckConfigSections(c, root, m);
  CheckDependencies(c, root, m);
  CheckTopLevelKeys(c, root);
  if (!c.has_errors()) {
    m.raw = std::move(*value);
    report.manifest = std::move(m);
  }
  return report;
}

}  // namespace

ManifestReport ParseManifest(std::string_view json_text) {
  try {
    return ParseManifestUnchecked(json_text);
  } catch (const std::exception& e) {  // allocation failure and the like: still a report
    ManifestReport report;
    report.problems.push_back({"", std::string("cannot validate manifest: ") + e.what(), false});
    return report;
  }
}

// ---- files ----

namespace {

ManifestReport ReadProblem(std::string message) {
  ManifestReport report;
  report.problems.push_back({"", std::move(message), false});
  return report;
}

// Checks that need the package directory: `main` must be there (and runnable for an app).
void CheckPackageFiles(const std::filesystem::path& dir, ManifestReport& report) {
  const Manifest& m = *report.manifest;
  if (m.main.empty()) return;
  std::error_code ec;
  std::filesystem::path entry = dir / m.main;
  auto status = std::filesystem::status(entry, ec);
  std::string problem;
  if (!std::filesystem::exists(status)) {
    problem = Quote(m.main) + " does not exist in the package directory";
  } else if (!std::filesystem::is_regular_file(status)) {
    problem = Quote(m.main) + " is not a regular file";
  } else if (m.type == PackageType::kApp && ::access(entry.c_str(), X_OK) != 0) {
    problem = Quote(m.main) + " is not executable (an app's main is run directly; chmod +x it)";
  }
  if (problem.empty()) return;
  report.problems.push_back({"main", std::move(problem), false});
  report.manifest.reset();
}

}  // namespace

ManifestReport LoadManifest(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path, ec)) file = path / kManifestFileName;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    bool exists = std::filesystem::exists(file, ec);
    return ReadProblem("cannot read " + file.string() + ": " +
                       (exists ? "permission denied or not a file" : "no such file"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ReadProblem("cannot read " + file.string());
  ManifestReport report = ParseManifest(text.str());
  if (report.manifest) CheckPackageFiles(file.parent_path(), report);
  return report;
}

}  // namespace oc::registry
