#include "tools/workspace_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <system_error>

namespace oc::tools {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxSymlinkHops = 40;

Error Escapes(std::string_view path) {
  return MakeError(ErrorCode::kForbidden, "path escapes the workspace: " + std::string(path));
}
Error Missing(std::string_view path) {
  return MakeError(ErrorCode::kNotFound, "no such file or directory: " + std::string(path));
}

bool IsInside(const fs::path& root, const fs::path& p) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

// A relative path whose `..` components climb above its start (lexically).
bool ClimbsOut(const fs::path& relative) {
  int depth = 0;
  for (const auto& part : relative) {
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return false;
}

void PushFront(std::deque<fs::path>& pending, const fs::path& p) {
  std::vector<fs::path> parts(p.begin(), p.end());
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (*it != "/" && !it->empty()) pending.push_front(*it);
  }
}

Result<std::string> ReadLink(const fs::path& p) {
  std::error_code ec;
  fs::path target = fs::read_symlink(p, ec);
  if (ec) return MakeError(ErrorCode::kNotFound, "cannot read symlink " + p.string() + ": " + ec.message());
  return target.string();
}

// realpath(3) that also accepts a missing tail: components that do not exist are appended
// lexically (`..` among them pops). Symlinks are followed wherever they point; the caller checks
// the result.
Result<fs::path> ResolveAll(const fs::path& absolute, std::string_view shown, bool must_exist) {
  std::deque<fs::path> pending;
  PushFront(pending, absolute);
  fs::path resolved = "/";
  bool missing = false;  // a component did not exist: everything after is lexical
  int hops = 0;
  while (!pending.empty()) {
    fs::path part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      resolved = resolved.parent_path();
      continue;
    }
    fs::path next = resolved / part;
    if (missing) {
      resolved = std::move(next);
      continue;
    }
    struct stat st {};
    if (::lstat(next.c_str(), &st) != 0) {
      if ((errno != ENOENT && errno != ENOTDIR) || must_exist) return Missing(shown);
      missing = true;
      resolved = std::move(next);
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++hops > kMaxSymlinkHops) {
        return MakeError(ErrorCode::kInvalidParams, "too many levels of symbolic links: " + std::string(shown));
      }
      auto target = ReadLink(next);
      if (!target.ok()) return target.error();
      fs::path t(*target);
      if (t.is_absolute()) resolved = "/";
      PushFront(pending, t);
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !pending.empty()) return Missing(shown);  // a file used as a directory
    resolved = std::move(next);
  }
  return resolved;
}

}  // namespace

Result<fs::path> ResolveInWorkspace(const fs::path& root, std::string_view path, bool must_exist) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidParams, "empty path");
  if (path.find('\0') != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidParams, "path contains a NUL byte");
  }
  std::error_code ec;
  fs::path canonical_root = fs::canonical(root, ec);
  if (ec) return MakeError(ErrorCode::kNotFound, "workspace does not exist: " + root.string());

  fs::path requested(path);
  fs::path absolute;
  if (requested.is_absolute()) {
    // Absolute paths are accepted when they name something inside, by the root's spelling either
    // as configured or canonical.
    fs::path normal = requested.lexically_normal();
    fs::path as_given = root.is_absolute() ? root.lexically_normal() : fs::path();
    if (!as_given.empty() && IsInside(as_given, normal)) {
      absolute = canonical_root / normal.lexically_relative(as_given);
    } else if (IsInside(canonical_root, normal)) {
      absolute = normal;
    } else {
      return Escapes(path);
    }
  } else {
    if (ClimbsOut(requested)) return Escapes(path);
    absolute = canonical_root / requested;
  }
  auto resolved = ResolveAll(absolute, path, must_exist);
  if (!resolved.ok()) return resolved.error();
  fs::path result = resolved->lexically_normal();
  if (!IsInside(canonical_root, result)) return Escapes(path);
  return result;
}

std::string RelativeToWorkspace(const fs::path& root, const fs::path& path) {
  fs::path rel = path.lexically_relative(root);
  if (rel.empty() || rel == ".") return ".";
  return rel.string();
}

}  // namespace oc::tools
