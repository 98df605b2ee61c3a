#include "registry/packages.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>

namespace oc::registry {
namespace fs = std::filesystem;

namespace {

bool IsHidden(const fs::path& p) {
  std::string name = p.filename().string();
  return name.empty() || name.front() == '.';
}

bool HasManifest(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kManifestFileName, ec);
}

// Sorted non-hidden subdirectories of `dir`; `error` is set when `dir` exists but cannot be read.
std::vector<fs::path> SubDirs(const fs::path& dir, std::string& error) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) {
    if (fs::exists(dir)) error = dir.string() + ": cannot read directory: " + ec.message();
    return out;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      error = dir.string() + ": " + ec.message();
      break;
    }
    std::error_code type_ec;
    if (!IsHidden(it->path()) && it->is_directory(type_ec)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Package directories under `root`: subdirectories with a manifest, and the ones inside @scope
// dirs.
std::vector<fs::path> CandidateDirs(const fs::path& root, std::vector<std::string>& problems) {
  std::vector<fs::path> out;
  if (root.empty()) return out;
  std::string error;
  for (const fs::path& dir : SubDirs(root, error)) {
    if (HasManifest(dir)) {
      out.push_back(dir);
    } else if (dir.filename().string().front() == '@') {
      for (const fs::path& inner : SubDirs(dir, error))
        if (HasManifest(inner)) out.push_back(inner);
    }
  }
  if (!error.empty()) problems.push_back(std::move(error));
  return out;
}

std::string ErrorsOnly(const ManifestReport& report) {
  std::string out;
  for (const auto& p : report.problems) {
    if (p.warning) continue;
    if (!out.empty()) out += "; ";
    out += p.path.empty() ? p.message : p.path + ": " + p.message;
  }
  return out;
}

void LogWarnings(const fs::path& dir, const ManifestReport& report) {
  for (const auto& p : report.problems)
    if (p.warning) spdlog::warn("package {}: {}: {}", dir.string(), p.path, p.message);
}

void DiscoverIn(const fs::path& root, bool shipped, Discovery& d,
                std::map<std::string, std::pair<fs::path, bool>>& seen) {
  for (const fs::path& dir : CandidateDirs(root, d.problems)) {
    ManifestReport report = LoadManifest(dir);
    if (!report.manifest) {
      d.problems.push_back(dir.string() + ": " + ErrorsOnly(report));
      continue;
    }
    LogWarnings(dir, report);
    const std::string& id = report.manifest->id;
    if (auto it = seen.find(id); it != seen.end()) {
      const auto& [other_dir, other_shipped] = it->second;
      d.problems.push_back(dir.string() + ": " +
                           (other_shipped && !shipped
                                ? "id \"" + id + "\" is a shipped package; skipped"
                                : "duplicate id \"" + id + "\" (already provided by " +
                                      other_dir.string() + "); skipped"));
      continue;
    }
    seen.emplace(id, std::make_pair(dir, shipped));
    d.packages.push_back(Package{std::move(*report.manifest), dir, shipped});
  }
}

}  // namespace

Discovery DiscoverPackages(const fs::path& shipped_dir, const fs::path& home_packages_dir) {
  Discovery d;
  std::map<std::string, std::pair<fs::path, bool>> seen;
  try {
    DiscoverIn(shipped_dir, true, d, seen);
    DiscoverIn(home_packages_dir, false, d, seen);
  } catch (const std::exception& e) {  // allocation failures and the like
    d.problems.push_back(std::string("package discovery failed: ") + e.what());
  }
  return d;
}

// ---- dependency order ----

namespace {

std::vector<std::string> AllDependencies(const Manifest& m) {
  std::vector<std::string> deps = m.depends_apps;
  deps.insert(deps.end(), m.depends_skills.begin(), m.depends_skills.end());
  deps.insert(deps.end(), m.depends_agents.begin(), m.depends_agents.end());
  return deps;
}

class TopoSort {
 public:
  explicit TopoSort(const std::map<std::string, const Package*>& by_id) : by_id_(by_id) {}

  // Depth-first: a package is emitted after all of its dependencies.
  Status Visit(const std::string& id) {
    State& state = state_[id];
    if (state == State::kDone) return {};
    if (state == State::kVisiting) return CycleError(id);
    state = State::kVisiting;
    stack_.push_back(id);
    for (const std::string& dep : AllDependencies(by_id_.at(id)->manifest)) OC_TRY(Visit(dep));
    stack_.pop_back();
    state_[id] = State::kDone;
    order_.push_back(id);
    return {};
  }

  std::vector<std::string> TakeOrder() { return std::move(order_); }

 private:
  enum class State { kNew, kVisiting, kDone };

  Error CycleError(const std::string& id) const {
    auto from = std::find(stack_.begin(), stack_.end(), id);
    std::string text;
    json::array cycle;
    for (auto it = from; it != stack_.end(); ++it) {
      text += *it + " -> ";
      cycle.emplace_back(*it);
    }
    text += id;
    cycle.emplace_back(id);
    return MakeError(ErrorCode::kInvalidParams, "dependency cycle: " + text,
                     json::object{{"cycle", std::move(cycle)}});
  }

  const std::map<std::string, const Package*>& by_id_;
  std::map<std::string, State> state_;
  std::vector<std::string> stack_;
  std::vector<std::string> order_;
};

}  // namespace

Result<std::vector<std::string>> StartOrder(const std::vector<Package>& packages) {
  std::map<std::string, const Package*> by_id;
  for (const Package& p : packages) by_id.emplace(p.manifest.id, &p);

  std::vector<std::string> missing_text;
  json::array missing;
  for (const Package& p : packages) {
    for (const std::string& dep : AllDependencies(p.manifest)) {
      if (by_id.count(dep)) continue;
      missing_text.push_back(p.manifest.id + " requires " + dep);
      missing.push_back(json::object{{"package", p.manifest.id}, {"dependency", dep}});
    }
  }
  if (!missing_text.empty()) {
    std::string text = "missing dependency: ";
    for (size_t i = 0; i < missing_text.size(); ++i) text += (i ? ", " : "") + missing_text[i];
    return MakeError(ErrorCode::kInvalidParams, std::move(text),
                     json::object{{"missing", std::move(missing)}});
  }

  TopoSort sort(by_id);
  for (const Package& p : packages) OC_TRY(sort.Visit(p.manifest.id));
  return sort.TakeOrder();
}

// ---- install / uninstall ----

std::string PackageDirName(std::string_view id) {
  std::string out;
  for (char c : id) {
    if (c == '/')
      out += "__";
    else
      out += c;
  }
  return out;
}

namespace {

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(NowMs()) + "-" +
         std::to_string(counter.fetch_add(1));
}

Error FsError(std::string what, const std::error_code& ec) {
  return MakeError(ErrorCode::kInternalError, what + ": " + ec.message());
}

// Copies a package tree. copy_file copies the permission bits, so executables stay executable.
Status CopyTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::create_directory(to, from, ec) || ec) return FsError("cannot create " + to.string(), ec);
  fs::directory_iterator it(from, ec), end;
  if (ec) return FsError("cannot read " + from.string(), ec);
  for (; it != end; it.increment(ec)) {
    if (ec) return FsError("cannot read " + from.string(), ec);
    const fs::path& src = it->path();
    fs::path dst = to / src.filename();
    fs::file_status st = it->symlink_status(ec);
    if (ec) return FsError("cannot stat " + src.string(), ec);
    if (fs::is_symlink(st)) {
      fs::copy_symlink(src, dst, ec);
    } else if (fs::is_directory(st)) {
      OC_TRY(CopyTree(src, dst));
    } else if (fs::is_regular_file(st)) {
      fs::copy_file(src, dst, fs::copy_options::none, ec);
    } else {
      return MakeError(
          ErrorCode::kInvalidParams,
          src.string() + ": only regular files, directories and symlinks can be installed");
    }
    if (ec) return FsError("cannot copy " + src.string(), ec);
  }
  return {};
}

// Puts `staged` at `dest`, replacing an existing `dest` without a moment where neither exists.
Status SwapIntoPlace(const fs::path& staged, const fs::path& dest) {
  std::error_code ec;
  if (!fs::exists(dest, ec)) {
    fs::rename(staged, dest, ec);
    return ec ? Status(FsError("cannot move package into " + dest.string(), ec)) : Status();
  }
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(staged, ec);  // now holds the old copy; a leftover is hidden, so ignore errors
    return {};
  }
  // Filesystems without RENAME_EXCHANGE: move the old copy aside first.
  fs::path old = dest.parent_path() / (".old-" + dest.filename().string() + "-" + UniqueSuffix());
  fs::rename(dest, old, ec);
  if (ec) return FsError("cannot replace " + dest.string(), ec);
  fs::rename(staged, dest, ec);
  if (ec) {
    std::error_code restore_ec;
    fs::rename(old, dest, restore_ec);
    return FsError("cannot replace " + dest.string(), ec);
  }
  fs::remove_all(old, ec);
  return {};
}

bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// The id in a manifest even when the manifest is otherwise invalid (uninstall must still work).
std::optional<std::string> ReadManifestId(const fs::path& dir) {
  std::ifstream in(dir / kManifestFileName, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  auto v = ParseJson(text.str());
  if (!v.ok() || !v->is_object()) return std::nullopt;
  auto id = GetString(v->get_object(), "id");
  return id ? std::optional<std::string>(std::string(*id)) : std::nullopt;
}

Status CheckInstallable(const Manifest& m, const fs::path& src_dir, const fs::path& packages_dir,
                        const fs::path& shipped_dir) {
  if (!shipped_dir.empty()) {
    for (const Package& p : DiscoverPackages(shipped_dir, {}).packages)
      if (p.manifest.id == m.id)
        return MakeError(
            ErrorCode::kForbidden,
            "\"" + m.id + "\" is a package shipped with OpenClawOS and cannot be replaced");
  }
  std::error_code ec;
  fs::path src_abs = fs::weakly_canonical(src_dir, ec);
  fs::path dst_abs = fs::weakly_canonical(packages_dir, ec);
  if (!ec && IsWithin(dst_abs, src_abs))
    return MakeError(ErrorCode::kInvalidParams,
                     "cannot install " + src_dir.string() + ": it contains the packages directory");
  std::vector<std::string> ignored;
  for (const fs::path& dir : CandidateDirs(packages_dir, ignored)) {
    if (dir == packages_dir / PackageDirName(m.id)) continue;
    if (ReadManifestId(dir) == m.id)
      return MakeError(ErrorCode::kConflict,
                       "\"" + m.id + "\" is already installed in " + dir.string());
  }
  return {};
}

Result<Package> InstallChecked(const fs::path& src, const fs::path& packages_dir,
                               const fs::path& shipped_dir) {
  std::error_code ec;
  if (!fs::exists(src, ec))
    return MakeError(ErrorCode::kNotFound,
                     "no such package directory or manifest: " + src.string());
  fs::path src_dir = fs::is_directory(src, ec) ? src : src.parent_path();
  if (src_dir.empty()) src_dir = ".";
  ManifestReport report = LoadManifest(src_dir);
  if (!report.manifest) {
    json::array problems;
    for (const auto& p : report.problems)
      problems.push_back(
          json::object{{"path", p.path}, {"message", p.message}, {"warning", p.warning}});
    return MakeError(ErrorCode::kInvalidParams,
                     "invalid package " + src_dir.string() + ":\n" + report.Format(),
                     json::object{{"problems", std::move(problems)}});
  }
  Manifest& m = *report.manifest;
  fs::create_directories(packages_dir, ec);
  if (ec) return FsError("cannot create " + packages_dir.string(), ec);
  OC_TRY(CheckInstallable(m, src_dir, packages_dir, shipped_dir));

  fs::path dest = packages_dir / PackageDirName(m.id);
  fs::path staged = packages_dir / (".tmp-" + PackageDirName(m.id) + "-" + UniqueSuffix());
  if (Status s = CopyTree(src_dir, staged); !s.ok()) {
    fs::remove_all(staged, ec);
    return s.error();
  }
  if (Status s = SwapIntoPlace(staged, dest); !s.ok()) {
    fs::remove_all(staged, ec);
    return s.error();
  }
  LogWarnings(dest, report);
  spdlog::info("installed {} {} into {}", m.id, m.version, dest.string());
  return Package{std::move(m), dest, false};
}

}  // namespace

Result<Package> InstallPackage(const fs::path& src, const fs::path& packages_dir,
                               const fs::path& shipped_dir) {
  try {
    return InstallChecked(src, packages_dir, shipped_dir);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternalError, std::string("install failed: ") + e.what());
  }
}

Status UninstallPackage(std::string_view id_view, const fs::path& packages_dir) {
  std::string id(id_view);
  if (!IsValidPackageId(id))
    return MakeError(ErrorCode::kInvalidParams, "invalid package id \"" + id + "\"");
  try {
    fs::path target;
    fs::path by_name = packages_dir / PackageDirName(id);
    if (HasManifest(by_name) && ReadManifestId(by_name).value_or(id) == id) target = by_name;
    std::vector<std::string> ignored;
    for (const fs::path& dir : CandidateDirs(packages_dir, ignored))
      if (target.empty() && ReadManifestId(dir) == id) target = dir;
    if (target.empty())
      return MakeError(ErrorCode::kNotFound, "package \"" + id + "\" is not installed");

    std::error_code ec;
    fs::path doomed =
        target.parent_path() / (".rm-" + target.filename().string() + "-" + UniqueSuffix());
    fs::rename(target, doomed, ec);
    if (ec) return FsError("cannot remove " + target.string(), ec);
    fs::remove_all(doomed, ec);
    if (ec) spdlog::warn("uninstall {}: leftover {}: {}", id, doomed.string(), ec.message());
    spdlog::info("uninstalled {} from {}", id, target.string());
    return {};
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternalError, std::string("uninstall failed: ") + e.what());
  }
}

}  // namespace oc::registry
