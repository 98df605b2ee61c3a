#include "memory/memory_indexer.h"
#include "common/text.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>

namespace oc::memory::internal {

namespace fs = std::filesystem;

namespace {

// A file modified this recently is hashed even when its size and mtime match the index: two edits
// within one timestamp tick (a few ms on ext4) of equal size would otherwise look unchanged.
constexpr int64_t kRacyWindowMs = 2000;

int64_t MtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

std::string ErrnoText(int err) { return std::strerror(err); }

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status ReadAll(int fd, int64_t size, std::string& out) {
  out.resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeError(ErrorCode::kInternalError, "read failed: " + ErrnoText(errno));
    if (n == 0) break;  // shrank meanwhile
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeError(ErrorCode::kInternalError, "write failed: " + ErrnoText(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// A memory file's content and stat, or nullopt when it is missing, a symlink, not a regular file,
// or above the size limit (all of which mean "not a memory file (any more)").
struct FileContent {
  std::string text;
  int64_t size = 0, mtime_ms = 0;
};
Result<std::optional<FileContent>> ReadMemoryFileContent(const fs::path& abs) {
  // O_NONBLOCK: a FIFO swapped in after the listing must not block the worker.
  Fd fd(::open(abs.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == ENXIO) return std::optional<FileContent>();
    return MakeError(ErrorCode::kInternalError, "cannot open " + abs.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return MakeError(ErrorCode::kInternalError, "cannot stat " + abs.string());
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxMemoryFileBytes) return std::optional<FileContent>();
  FileContent content;
  content.size = st.st_size;
  content.mtime_ms = MtimeMs(st);
  OC_TRY(ReadAll(fd.get(), st.st_size, content.text));
  return std::optional<FileContent>(std::move(content));
}

std::string TrimRight(std::string_view s) {
  size_t end = s.size();
  while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r')) --end;
  return std::string(s.substr(0, end));
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// The entry's lines: one list item, continuation lines indented, blank lines dropped (a blank line
// would end the item and split it into another chunk paragraph).
std::vector<std::string> EntryLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!IsBlank(line)) {
      std::string trimmed = TrimRight(line);
      if (lines.empty()) trimmed.erase(0, trimmed.find_first_not_of(" \t"));
      lines.push_back(std::move(trimmed));
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

// " #tag" for each usable tag (leading '#' dropped, inner whitespace turned into '-').
std::string TagSuffix(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& raw : tags) {
    std::string tag;
    for (char c : raw) tag += (c == ' ' || c == '\t' || c == '\n' || c == '\r') ? '-' : c;
    size_t first = tag.find_first_not_of("#-");
    size_t last = tag.find_last_not_of('-');
    if (first == std::string::npos) continue;
    out += " #" + tag.substr(first, last - first + 1);
  }
  return out;
}

std::string FormatUtc(std::chrono::system_clock::time_point now, const char* format) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, format, &utc);
  return std::string(buf, n);
}

// memory/ as a real directory inside the workspace (created when missing).
Status EnsureMemoryDir(const fs::path& root, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return MakeError(ErrorCode::kInternalError, "cannot create the workspace " + root.string() + ": " + ec.message());
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return MakeError(ErrorCode::kInternalError, "cannot create " + dir.string() + ": " + ErrnoText(errno));
    if (::lstat(dir.c_str(), &st) != 0)
      return MakeError(ErrorCode::kInternalError, "cannot stat " + dir.string() + ": " + ErrnoText(errno));
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
    return MakeError(ErrorCode::kForbidden, dir.string() + " is not a directory of the workspace (a symlink?)");
  return Status::Ok();
}

void SyncDirectory(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

size_t CountNewlines(std::string_view s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

std::string WorkspaceKey(const fs::path& workspace) {
  std::string s = workspace.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<std::string> CheckMemoryPath(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return MakeError(ErrorCode::kForbidden, "not a memory file: \"" + path + "\" (" + why + ")");
  };
  if (path.empty() || path.find('\0') != std::string::npos) return refuse("empty or invalid path");
  fs::path p(path);
  if (p.is_absolute()) return refuse("absolute paths are not allowed");
  for (const auto& part : p)
    if (part == "..") return refuse("\"..\" is not allowed");
  std::string norm = p.lexically_normal().generic_string();
  bool is_md = norm.size() > 3 && norm.compare(norm.size() - 3, 3, ".md") == 0;
  if (norm == "MEMORY.md" || (norm.rfind("memory/", 0) == 0 && norm.size() > 10 && is_md)) return norm;
  return refuse("only MEMORY.md and memory/**/*.md");
}

WorkspaceListing ListWorkspace(const fs::path& root, const std::vector<FileState>& indexed, bool force,
                               int64_t now_ms, std::set<std::string>& warned_large) {
  WorkspaceListing out;
  std::map<std::string, FileState> present;
  bool complete = true;  // a listing error must not make files look deleted
  auto consider = [&](const fs::path& abs, const std::string& rel) {
    struct stat st {};
    if (::lstat(abs.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (st.st_size > kMaxMemoryFileBytes) {
      if (warned_large.insert(abs.string()).second)
        spdlog::warn("memory: skipping {} ({} bytes; memory files above {} MB are not indexed)", abs.string(),
                     static_cast<int64_t>(st.st_size), kMaxMemoryFileBytes >> 20);
      return;
    }
    warned_large.erase(abs.string());
    FileState f;
    f.path = rel;
    f.size = st.st_size;
    f.mtime_ms = MtimeMs(st);
    present.emplace(rel, std::move(f));
  };
  struct stat root_st {};
  int root_rc = ::stat(root.c_str(), &root_st);
  int root_errno = errno;
  if (root_rc == 0 && S_ISDIR(root_st.st_mode)) {
    out.dirs.push_back(root);
    consider(root / "MEMORY.md", "MEMORY.md");
    fs::path mem = root / "memory";
    struct stat mem_st {};
    if (::lstat(mem.c_str(), &mem_st) == 0 && S_ISDIR(mem_st.st_mode)) {
      out.dirs.push_back(mem);
      std::error_code ec;
      fs::recursive_directory_iterator it(mem, fs::directory_options::skip_permission_denied, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        std::error_code sec;
        fs::file_status s = it->symlink_status(sec);
        if (sec) continue;
        if (fs::is_directory(s)) {
          out.dirs.push_back(it->path());
        } else if (fs::is_regular_file(s) && it->path().extension() == ".md") {
          consider(it->path(), it->path().lexically_relative(root).generic_string());
        }
      }
      if (ec) {
        complete = false;
        spdlog::warn("memory: listing {} failed: {}", mem.string(), ec.message());
      }
    }
  } else if (root_rc != 0 && root_errno != ENOENT && root_errno != ENOTDIR) {
    complete = false;  // e.g. EACCES: keep the index rather than dropping it
  }
  std::map<std::string, const FileState*> by_path;
  for (const auto& f : indexed) by_path.emplace(f.path, &f);
  for (auto& [rel, f] : present) {
    FileCandidate c;
    c.stat = f;
    if (auto it = by_path.find(rel); it != by_path.end()) {
      c.indexed_hash = it->second->hash;
      c.indexed_chunks = it->second->chunks;
      c.stat_unchanged = it->second->size == f.size && it->second->mtime_ms == f.mtime_ms;
    }
    if (force || !c.stat_unchanged || now_ms - f.mtime_ms < kRacyWindowMs) out.candidates.push_back(std::move(c));
  }
  out.files = present.size();
  if (complete)
    for (const auto& f : indexed)
      if (!present.count(f.path)) out.vanished.push_back(f);
  return out;
}

Result<FileOutcome> IndexFile(MemoryStore& store, const std::string& workspace_key, const fs::path& root,
                              const FileCandidate& candidate, const ChunkOptions& chunking, bool force) {
  FileOutcome out;
  const std::string& rel = candidate.stat.path;
  OC_ASSIGN(auto content, ReadMemoryFileContent(root / rel));
  if (!content) {
    if (candidate.indexed_hash) {
      OC_TRY(store.RemoveFile(workspace_key, rel));
      out.removed = true;
      out.chunks_removed = static_cast<size_t>(candidate.indexed_chunks);
    }
    return out;
  }
  FileState file;
  file.path = rel;
  file.hash = ContentHash(content->text);
  file.size = content->size;
  file.mtime_ms = content->mtime_ms;
  bool same_stat = candidate.indexed_hash && candidate.stat_unchanged && file.size == candidate.stat.size &&
                   file.mtime_ms == candidate.stat.mtime_ms;
  if (!force && same_stat && candidate.indexed_hash == file.hash) return out;
  out.content_changed = candidate.indexed_hash != file.hash;
  std::vector<TextChunk> chunks = ChunkMarkdown(content->text, chunking);
  OC_ASSIGN(ChunkDiff diff, store.ReplaceFile(workspace_key, file, chunks));
  out.rechunked = true;
  out.chunks_added = diff.added.size();
  out.added_ids = std::move(diff.added);
  out.chunks_kept = diff.kept;
  out.chunks_removed = diff.removed;
  return out;
}

Result<StoredMemory> AppendMemoryEntry(const fs::path& root, const std::string& text,
                                       const std::vector<std::string>& tags,
                                       std::chrono::system_clock::time_point now) {
  if (Utf8Length(text) > kMaxStoredChars)
    return MakeError(ErrorCode::kInvalidParams,
                     "text is too long (" + std::to_string(Utf8Length(text)) + " characters; at most 8000)");
  std::vector<std::string> lines = EntryLines(text);
  if (lines.empty()) return MakeError(ErrorCode::kInvalidParams, "text is empty");
  fs::path dir = root / "memory";
  OC_TRY(EnsureMemoryDir(root, dir));
  std::string date = FormatUtc(now, "%Y-%m-%d");
  StoredMemory stored;
  stored.path = "memory/" + date + ".md";
  fs::path file = root / stored.path;
  struct stat before {};
  bool created = ::lstat(file.c_str(), &before) != 0;
  Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
  if (fd.get() < 0) {
    if (errno == ELOOP) return MakeError(ErrorCode::kForbidden, file.string() + " is a symlink");
    return MakeError(ErrorCode::kInternalError, "cannot open " + file.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return MakeError(ErrorCode::kForbidden, file.string() + " is not a regular file");
  if (st.st_size > kMaxMemoryFileBytes)
    return MakeError(ErrorCode::kInvalidParams, file.string() + " is above 10 MB; not appending to it");
  std::string existing;
  OC_TRY(ReadAll(fd.get(), st.st_size, existing));
  std::string out;
  if (IsBlank(existing)) {
    out = existing.empty() ? "" : "\n";
    out += "# " + date + "\n\n";
  } else if (existing.back() != '\n') {
    out = "\n";
  }
  stored.line_start = static_cast<int>(CountNewlines(existing) + CountNewlines(out)) + 1;
  out += "- " + FormatUtc(now, "%H:%M") + " " + lines[0];
  for (size_t i = 1; i < lines.size(); ++i) out += "\n  " + lines[i];
  out += TagSuffix(tags) + "\n";
  stored.line_end = stored.line_start + static_cast<int>(lines.size()) - 1;
  OC_TRY(WriteAll(fd.get(), out));
  if (::fsync(fd.get()) != 0)
    return MakeError(ErrorCode::kInternalError, "fsync of " + file.string() + " failed: " + ErrnoText(errno));
  if (created) SyncDirectory(dir);
  return stored;
}

Result<std::string> ReadMemoryFile(const fs::path& root, const std::string& path, int from, int lines) {
  OC_ASSIGN(std::string rel, CheckMemoryPath(path));
  fs::path abs = root / rel;
  struct stat st {};
  if (::lstat(abs.c_str(), &st) != 0) return MakeError(ErrorCode::kNotFound, "no memory file " + rel);
  std::error_code ec;
  fs::path canon_root = fs::canonical(root, ec);
  if (ec) return MakeError(ErrorCode::kNotFound, "the workspace " + root.string() + " does not exist");
  fs::path canon = fs::canonical(abs, ec);
  if (ec) return MakeError(ErrorCode::kNotFound, "no memory file " + rel + " (" + ec.message() + ")");
  fs::path inside = canon.lexically_relative(canon_root);
  if (inside.empty() || *inside.begin() == "..")
    return MakeError(ErrorCode::kForbidden, rel + " resolves outside the workspace");
  if (auto again = CheckMemoryPath(inside.generic_string()); !again.ok())
    return MakeError(ErrorCode::kForbidden, rel + " resolves to " + inside.generic_string() + ", not a memory file");
  if (!fs::is_regular_file(canon, ec)) return MakeError(ErrorCode::kNotFound, rel + " is not a file");
  std::ifstream in(canon, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInternalError, "cannot read " + rel);
  from = std::max(from, 1);
  std::string out, line;
  int number = 0, taken = 0;
  while (std::getline(in, line)) {
    if (++number < from) continue;
    if (lines > 0 && taken == lines) break;
    if (taken++ > 0) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace oc::memory::internal
