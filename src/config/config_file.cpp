#include "config/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "config/config_internal.h"

namespace oc::config {
namespace fs = std::filesystem;

namespace internal {
namespace {

void Indent(std::string& out, int depth) { out.append(static_cast<size_t>(depth) * 2, ' '); }

void AppendPretty(const json::value& v, int depth, std::string& out) {
  if (const auto* o = v.if_object(); o && !o->empty()) {
    out += "{\n";
    size_t i = 0;
    for (const auto& [key, child] : *o) {
      Indent(out, depth + 1);
      out += json::serialize(json::string(key));
      out += ": ";
      AppendPretty(child, depth + 1, out);
      out += ++i < o->size() ? ",\n" : "\n";
    }
    Indent(out, depth);
    out += '}';
  } else if (const auto* a = v.if_array(); a && !a->empty()) {
    out += "[\n";
    for (size_t i = 0; i < a->size(); ++i) {
      Indent(out, depth + 1);
      AppendPretty((*a)[i], depth + 1, out);
      out += i + 1 < a->size() ? ",\n" : "\n";
    }
    Indent(out, depth);
    out += ']';
  } else {
    out += json::serialize(v);  // scalars, {} and []
  }
}

}  // namespace

std::string PrettyJson(const json::value& v) {
  std::string out;
  AppendPretty(v, 0, out);
  out += '\n';
  return out;
}

}  // namespace internal

namespace {

Error IoError(const fs::path& file, std::string_view what) {
  return MakeError(ErrorCode::kInternalError,
                   file.string() + ": " + std::string(what) + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view data, const fs::path& file) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(file, "cannot write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Temp file + fsync + rename + directory fsync: readers see the old or the new file, never half.
Status WriteAtomically(const fs::path& file, std::string_view data) {
  static std::atomic<unsigned> counter{0};
  fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  fs::path tmp = dir / ("." + file.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                        std::to_string(counter++));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(tmp, "cannot create");
  Status written = WriteAll(fd, data, tmp);
  if (written.ok() && ::fchmod(fd, 0600) != 0) written = IoError(tmp, "cannot chmod");
  if (written.ok() && ::fsync(fd) != 0) written = IoError(tmp, "cannot sync");
  if (::close(fd) != 0 && written.ok()) written = IoError(tmp, "cannot close");
  if (written.ok() && ::rename(tmp.c_str(), file.c_str()) != 0) written = IoError(file, "cannot replace");
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename itself already happened
    ::close(dfd);
  }
  return Status::Ok();
}

// Follows a symlinked config file so that the link survives the rename.
fs::path WriteTarget(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(file, ec))) return file;
  fs::path target = fs::read_symlink(file, ec);
  if (ec) return file;
  return target.is_absolute() ? target : file.parent_path() / target;
}

Status EnsureDirectory(const fs::path& dir) {
  if (dir.empty()) return Status::Ok();
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return Status::Ok();
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return MakeError(ErrorCode::kInternalError, dir.string() + ": cannot create: " + ec.message());
  return Status::Ok();
}

// Walks/creates the objects along `segments` and stores `v` at the last one.
Status SetAtPath(json::value& root, const std::vector<std::string>& segments, json::value v) {
  json::object* cur = &root.get_object();
  std::string walked;
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    walked = JoinPath(walked, segments[i]);
    json::value& slot = (*cur)[segments[i]];  // inserts null when missing
    if (slot.is_null()) slot = json::object();
    if (!slot.is_object())
      return MakeError(ErrorCode::kInvalidParams, "cannot set " + JoinPath(walked, segments[i + 1]) +
                                                      ": " + walked + " is not an object",
                       json::object{{"path", walked}});
    cur = &slot.get_object();
  }
  (*cur)[segments.back()] = std::move(v);
  return Status::Ok();
}

}  // namespace

Status SetValue(const fs::path& file, std::string_view dotted, json::value v) {
  auto segments = SplitPath(dotted);
  if (segments.empty() || std::any_of(segments.begin(), segments.end(), [](auto& s) { return s.empty(); }))
    return MakeError(ErrorCode::kInvalidParams, "invalid config key \"" + std::string(dotted) + "\"");
  fs::path target = WriteTarget(file);
  OC_ASSIGN(auto existing, internal::ReadConfigFile(target));
  json::value root = json::object();
  if (existing) {
    OC_ASSIGN(root, internal::ParseDocument(*existing, target.string()));
  }
  OC_TRY(SetAtPath(root, segments, std::move(v)));
  std::string text = internal::PrettyJson(root);
  internal::ParseOptions opts;
  opts.apply_env_overrides = false;
  opts.tolerate_missing_env = true;
  OC_TRY(internal::ParseConfigText(text, ProcessEnv(), opts, target.string()));
  OC_TRY(EnsureDirectory(target.parent_path()));
  return WriteAtomically(target, text);
}

}  // namespace oc::config
