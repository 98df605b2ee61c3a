// The file side of the memory service (internal): listing a workspace's memory files, indexing
// one file into the store, appending memory_store entries and reading memory files for memory_get.
//
// Everything here is blocking (file I/O, SQLite through MemoryStore) and runs on the worker pool;
// the functions taking a MemoryStore run under the service's writer lock. Errors are values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "memory/memory_service.h"
#include "memory/memory_store.h"
#include "memory/memory_text.h"

namespace oc::memory::internal {

inline constexpr int64_t kMaxMemoryFileBytes = 10 << 20;  // larger files are skipped with a warning
inline constexpr size_t kMaxStoredChars = 8000;           // memory_store's text limit (code points)

// A memory file whose size/mtime differ from the index (or that is forced, or was modified so
// recently that a same-size edit within the same millisecond could hide): it is read and hashed.
struct FileCandidate {
  FileState stat;                           // path, size, mtime (hash empty until read)
  std::optional<std::string> indexed_hash;  // the hash in memory_files, when indexed
  int64_t indexed_chunks = 0;               // its chunk count there
  bool stat_unchanged = false;              // size and mtime equal the index's
};

struct WorkspaceListing {
  size_t files = 0;                       // memory files present (within the size limit)
  std::vector<FileCandidate> candidates;  // to read and compare
  std::vector<FileState> vanished;        // indexed, but gone (or no longer a regular file / too big)
  std::vector<std::filesystem::path> dirs;  // to watch: the workspace, memory/ and its subdirectories
};

// Walks `root`'s MEMORY.md and memory/**/*.md (symlinks never followed; files above
// kMaxMemoryFileBytes skipped, warned once per path through `warned_large`) and compares them with
// `indexed` (Files() of the workspace). `force` makes every present file a candidate. A missing
// workspace lists nothing (so its indexed files all vanish).
WorkspaceListing ListWorkspace(const std::filesystem::path& root, const std::vector<FileState>& indexed, bool force,
                               int64_t now_ms, std::set<std::string>& warned_large);

struct FileOutcome {
  bool removed = false;          // the file disappeared meanwhile: its chunks were removed
  bool content_changed = false;  // new file or new hash
  bool rechunked = false;        // ReplaceFile ran
  size_t chunks_added = 0, chunks_kept = 0, chunks_removed = 0;
  std::vector<int64_t> added_ids;  // the new (unembedded) chunk rows
};

// Reads the candidate (O_NOFOLLOW, regular files up to the limit), hashes it and, when its hash
// differs from the index (or `force`, or only its size/mtime changed), chunks it and ReplaceFile()s
// it. A file that vanished or turned into something else is RemoveFile()d.
Result<FileOutcome> IndexFile(MemoryStore& store, const std::string& workspace_key, const std::filesystem::path& root,
                              const FileCandidate& candidate, const ChunkOptions& chunking, bool force);

// memory_store's append (see MemoryService::Store): validates the text, appends the entry to
// memory/YYYY-MM-DD.md (UTC of `now`), fsyncs it, and returns its path and line range.
// kInvalidParams: empty or too long text; kForbidden: memory/ or the day file is a symlink or not
// a regular file/directory; kInternalError: I/O failures (with errno's text).
Result<StoredMemory> AppendMemoryEntry(const std::filesystem::path& root, const std::string& text,
                                       const std::vector<std::string>& tags,
                                       std::chrono::system_clock::time_point now);

// memory_get (see MemoryService::ReadFile).
Result<std::string> ReadMemoryFile(const std::filesystem::path& root, const std::string& path, int from, int lines);

// The checks of memory paths: `path` is relative, has no "..", and is MEMORY.md or memory/**.md.
// Returns the normalised relative path ('/'-separated) or kForbidden.
Result<std::string> CheckMemoryPath(const std::string& path);

// The store's key of a workspace: its lexically normal absolute path without a trailing '/'.
std::string WorkspaceKey(const std::filesystem::path& workspace);

}  // namespace oc::memory::internal
