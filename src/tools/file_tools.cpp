#include "tools/file_tools.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <re2/re2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "tools/html_text.h"
#include "tools/workspace_path.h"

namespace oc::tools::internal {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kDefaultReadLines = 2000;
constexpr size_t kMaxLineChars = 2000;
constexpr size_t kBinarySniffBytes = 8192;
constexpr size_t kMaxLsEntries = 1000;
constexpr size_t kMaxGrepMatches = 200;
constexpr size_t kMaxGrepLineChars = 300;

Error IoError(std::string_view what, std::string_view path, int err) {
  return MakeError(ErrorCode::kInternalError, std::string(what) + " " + std::string(path) + ": " + std::strerror(err));
}

bool LooksBinary(std::string_view data) {
  return data.substr(0, kBinarySniffBytes).find('\0') != std::string_view::npos;
}

// Closes the descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The whole regular file at `resolved` (shown to the model as `shown`), up to `max_bytes`.
// O_NONBLOCK keeps the open itself from waiting (a FIFO without a writer would block a worker
// forever); anything but a regular file is refused before a read, then reads block normally.
Result<std::string> ReadWholeFile(const fs::path& resolved, std::string_view shown, size_t max_bytes) {
  Fd f{::open(resolved.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) return IoError("cannot open", shown, errno);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return IoError("cannot stat", shown, errno);
  if (S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidParams, std::string(shown) + " is a directory (use ls)");
  }
  if (!S_ISREG(st.st_mode)) return MakeError(ErrorCode::kInvalidParams, "not a regular file: " + std::string(shown));
  int flags = ::fcntl(f.fd, F_GETFL);
  if (flags < 0 || ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return IoError("cannot read", shown, errno);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return MakeError(ErrorCode::kInvalidParams, std::string(shown) + " is too large (" + std::to_string(st.st_size) +
                                                    " bytes; the limit is " + std::to_string(max_bytes) + ")");
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read", shown, errno);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {  // grew while we read
      return MakeError(ErrorCode::kInvalidParams,
                       std::string(shown) + " is too large (above " + std::to_string(max_bytes) + " bytes)");
    }
  }
  return data;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Replaces `target` with `content` atomically: a temp file in the same directory, then rename.
Status WriteAtomically(const fs::path& target, std::string_view shown, std::string_view content) {
  struct stat existing {};
  bool exists = ::stat(target.c_str(), &existing) == 0;
  if (exists && S_ISDIR(existing.st_mode)) {
    return MakeError(ErrorCode::kInvalidParams, std::string(shown) + " is a directory");
  }
  std::string tmpl = (target.parent_path() / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  Fd f{::mkostemp(tmpl.data(), O_CLOEXEC)};
  if (f.fd < 0) return IoError("cannot create a temporary file for", shown, errno);
  mode_t mode = exists ? (existing.st_mode & 07777) : 0644;
  bool ok = ::fchmod(f.fd, mode) == 0 && WriteAll(f.fd, content) && ::fsync(f.fd) == 0;
  int err = errno;
  if (ok && ::rename(tmpl.c_str(), target.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmpl.c_str());
    return IoError("cannot write", shown, err);
  }
  return Status::Ok();
}

std::string PathArg(const json::object& input, std::string_view key, std::string_view fallback = {}) {
  auto v = GetString(input, key);
  return std::string(v ? *v : fallback);
}

}  // namespace

Result<std::string> ReadTool(const fs::path& workspace, const json::object& input, const FileLimits& l) {
  std::string path = PathArg(input, "path");
  OC_ASSIGN(fs::path resolved, ResolveInWorkspace(workspace, path, true));
  OC_ASSIGN(std::string data, ReadWholeFile(resolved, path, l.max_read_bytes));
  if (LooksBinary(data)) {
    return MakeError(ErrorCode::kInvalidParams, path + " is a binary file (" + std::to_string(data.size()) +
                                                    " bytes); read shows text files only");
  }
  int64_t offset = std::max<int64_t>(1, GetInt(input, "offset").value_or(1));
  int64_t limit = std::max<int64_t>(1, GetInt(input, "limit").value_or(kDefaultReadLines));
  std::string out;
  int64_t line_no = 0, shown_last = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    ++line_no;
    if (line_no >= offset && line_no < offset + limit) {
      std::string_view line(data.data() + pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      char num[32];
      std::snprintf(num, sizeof num, "%6lld\t", static_cast<long long>(line_no));
      out += num;
      std::string_view cut = Utf8Prefix(line, kMaxLineChars);
      out += ToValidUtf8(cut);
      if (cut.size() < line.size()) out += " [line cut]";
      out += '\n';
      shown_last = line_no;
    }
    pos = end + 1;
  }
  if (line_no == 0) return path + " is empty";
  if (shown_last == 0) {
    return MakeError(ErrorCode::kInvalidParams, "offset " + std::to_string(offset) + " is past the end of " + path +
                                                    " (" + std::to_string(line_no) + " lines)");
  }
  if (shown_last < line_no) {
    out += "[showing lines " + std::to_string(offset) + "-" + std::to_string(shown_last) + " of " +
           std::to_string(line_no) + "; use offset=" + std::to_string(shown_last + 1) + " to read on]\n";
  }
  return out;
}

Result<std::string> WriteTool(const fs::path& workspace, const json::object& input, const FileLimits&) {
  std::string path = PathArg(input, "path");
  std::string_view content = GetString(input, "content").value_or("");
  OC_ASSIGN(fs::path resolved, ResolveInWorkspace(workspace, path, false));
  std::error_code ec;
  fs::create_directories(resolved.parent_path(), ec);
  if (ec) return MakeError(ErrorCode::kInternalError, "cannot create the directories of " + path + ": " + ec.message());
  // The parents now exist: resolve again so a symlink created meanwhile cannot redirect the write.
  OC_ASSIGN(fs::path checked, ResolveInWorkspace(workspace, path, false));
  OC_TRY(WriteAtomically(checked, path, content));
  return "wrote " + std::to_string(content.size()) + " bytes to " +
         RelativeToWorkspace(fs::canonical(workspace, ec), checked);
}

Result<std::string> EditTool(const fs::path& workspace, const json::object& input, const FileLimits& l) {
  std::string path = PathArg(input, "path");
  std::string_view old_text = GetString(input, "old").value_or("");
  std::string_view new_text = GetString(input, "new").value_or("");
  bool replace_all = GetBool(input, "replaceAll").value_or(false);
  if (old_text.empty()) return MakeError(ErrorCode::kInvalidParams, "`old` must not be empty");
  OC_ASSIGN(fs::path resolved, ResolveInWorkspace(workspace, path, true));
  OC_ASSIGN(std::string data, ReadWholeFile(resolved, path, l.max_read_bytes));
  if (LooksBinary(data))
    return MakeError(ErrorCode::kInvalidParams, path + " is a binary file; edit changes text files only");
  std::vector<size_t> hits;
  for (size_t at = data.find(old_text); at != std::string::npos; at = data.find(old_text, at + old_text.size())) {
    hits.push_back(at);
  }
  if (hits.empty()) {
    return MakeError(ErrorCode::kInvalidParams,
                     "`old` was not found in " + path + " (it must match exactly, whitespace included)");
  }
  if (hits.size() > 1 && !replace_all) {
    return MakeError(ErrorCode::kInvalidParams, "`old` occurs " + std::to_string(hits.size()) + " times in " + path +
                                                    "; include more context to make it unique, or set replaceAll");
  }
  std::string edited;
  edited.reserve(data.size() + hits.size() * new_text.size());
  size_t from = 0;
  for (size_t at : hits) {
    edited.append(data, from, at - from);
    edited += new_text;
    from = at + old_text.size();
  }
  edited.append(data, from);
  OC_TRY(WriteAtomically(resolved, path, edited));
  return "edited " + path + ": " + std::to_string(hits.size()) + (hits.size() == 1 ? " replacement" : " replacements");
}

namespace {

std::string DescribeEntry(const fs::directory_entry& e) {
  std::error_code ec;
  auto status = e.symlink_status(ec);
  std::string name = e.path().filename().string();
  if (fs::is_symlink(status)) {
    return "link  " + name + " -> " + fs::read_symlink(e.path(), ec).string();
  }
  if (fs::is_directory(status)) return "dir   " + name + "/";
  if (fs::is_regular_file(status)) {
    auto size = e.file_size(ec);
    return "file  " + name + "  (" + (ec ? std::string("?") : std::to_string(size)) + " bytes)";
  }
  return "other " + name;
}

}  // namespace

Result<std::string> LsTool(const fs::path& workspace, const json::object& input, const FileLimits&) {
  std::string path = PathArg(input, "path", ".");
  if (path.empty()) path = ".";
  OC_ASSIGN(fs::path resolved, ResolveInWorkspace(workspace, path, true));
  std::error_code ec;
  if (!fs::is_directory(resolved, ec)) {
    return DescribeEntry(fs::directory_entry(resolved, ec)) + "\n";
  }
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(resolved, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
  if (ec) return MakeError(ErrorCode::kInternalError, "cannot list " + path + ": " + ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  if (entries.empty()) return path + " is empty";
  std::string out;
  for (size_t i = 0; i < entries.size() && i < kMaxLsEntries; ++i) out += DescribeEntry(entries[i]) + "\n";
  if (entries.size() > kMaxLsEntries) {
    out += "[" + std::to_string(entries.size() - kMaxLsEntries) + " more entries not shown]\n";
  }
  return out;
}

namespace {

struct GrepState {
  const RE2* re = nullptr;
  fs::path root;  // canonical workspace
  std::string glob;
  size_t max_bytes = 0;
  std::string out;
  size_t matches = 0;
  size_t files_skipped = 0;
  bool capped() const { return matches >= kMaxGrepMatches; }
};

bool GlobMatches(const GrepState& s, const fs::path& file) {
  if (s.glob.empty()) return true;
  if (s.glob.find('/') != std::string::npos) {
    return ::fnmatch(s.glob.c_str(), RelativeToWorkspace(s.root, file).c_str(), 0) == 0;
  }
  return ::fnmatch(s.glob.c_str(), file.filename().c_str(), 0) == 0;
}

void GrepFile(GrepState& s, const fs::path& file, const fs::path& shown_as) {
  auto data = ReadWholeFile(file, file.string(), s.max_bytes);
  if (!data.ok() || LooksBinary(*data)) {
    ++s.files_skipped;
    return;
  }
  std::string shown = RelativeToWorkspace(s.root, shown_as);
  std::string_view text = *data;
  size_t line_no = 0, pos = 0;
  while (pos < text.size() && !s.capped()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    std::string_view line = text.substr(pos, end - pos);
    if (RE2::PartialMatch(line, *s.re)) {
      std::string_view cut = Utf8Prefix(line, kMaxGrepLineChars);
      s.out += shown + ":" + std::to_string(line_no) + ": " + ToValidUtf8(cut) +
               (cut.size() < line.size() ? " [...]" : "") + "\n";
      ++s.matches;
    }
    pos = end + 1;
  }
}

void GrepTree(GrepState& s, const fs::path& dir) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end && !s.capped(); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    auto status = e.symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) {
      if (e.path().filename() == ".git") it.disable_recursion_pending();
      continue;
    }
    if (!GlobMatches(s, e.path())) continue;
    if (fs::is_symlink(status)) {
      // Directories behind symlinks are never entered; files only when they stay inside.
      auto target = ResolveInWorkspace(s.root, e.path().string(), true);
      if (target.ok() && fs::is_regular_file(*target, ec)) GrepFile(s, *target, e.path());
      ec.clear();
      continue;
    }
    if (fs::is_regular_file(status)) GrepFile(s, e.path(), e.path());
  }
}

}  // namespace

Result<std::string> GrepTool(const fs::path& workspace, const json::object& input, const FileLimits& l) {
  std::string pattern = PathArg(input, "pattern");
  std::string path = PathArg(input, "path", ".");
  if (path.empty()) path = ".";
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(!GetBool(input, "ignoreCase").value_or(false));
  RE2 re(pattern, options);
  if (!re.ok()) return MakeError(ErrorCode::kInvalidParams, "invalid pattern (RE2 syntax): " + re.error());
  OC_ASSIGN(fs::path resolved, ResolveInWorkspace(workspace, path, true));
  GrepState s;
  s.re = &re;
  std::error_code ec;
  s.root = fs::canonical(workspace, ec);
  s.glob = PathArg(input, "glob");
  s.max_bytes = l.max_read_bytes;
  if (fs::is_directory(resolved, ec)) {
    GrepTree(s, resolved);
  } else {
    GrepFile(s, resolved, resolved);
  }
  if (s.matches == 0) return "no matches for /" + pattern + "/ in " + path;
  if (s.capped())
    s.out += "[stopped after " + std::to_string(kMaxGrepMatches) + " matches; narrow the pattern, path or glob]\n";
  return s.out;
}

}  // namespace oc::tools::internal
