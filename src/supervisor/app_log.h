// Internal to the supervisor: capture of an app's stdout/stderr (SPEC §5.2). Lines go to a ring of
// the last N lines (apps.logs) and to a size-rotated log file.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace oc::supervisor::internal {
namespace asio = boost::asio;

// The last `capacity` lines. Every line pushed is numbered from 0 (its position in the whole output),
// so a follower can ask for the lines after the last one it saw.
class LogRing {
 public:
  explicit LogRing(size_t capacity) : capacity_(capacity) {}
  void Push(std::string line);
  // Up to `max_lines` most recent lines, oldest first.
  std::vector<std::string> Tail(size_t max_lines) const;
  // The lines numbered `first` and later that are still kept, at most `max_lines` (the oldest of
  // them). *kept_from = the number of the first line returned (> first when older ones are gone).
  std::vector<std::string> Since(uint64_t first, size_t max_lines, uint64_t* kept_from) const;
  size_t size() const { return lines_.size(); }
  uint64_t total() const { return total_; }  // lines ever pushed = the number the next one gets

 private:
  size_t capacity_;
  std::deque<std::string> lines_;
  uint64_t total_ = 0;
};

// Appends lines to `path`; before a line would take the file past `max_bytes`, renames
// path -> path.1 -> path.2 ... up to path.<keep> (the oldest is dropped) and starts a new file.
// A file that cannot be opened is reported once (spdlog) and skipped until the next Open().
// Blocking writes on the loop: small, local, like spdlog's file sinks.
class RotatingLogFile {
 public:
  static constexpr int64_t kDefaultMaxBytes = 1 << 20;
  static constexpr int kDefaultKeep = 3;

  RotatingLogFile(int64_t max_bytes = kDefaultMaxBytes, int keep = kDefaultKeep)
      : max_bytes_(max_bytes), keep_(keep) {}
  ~RotatingLogFile();
  RotatingLogFile(const RotatingLogFile&) = delete;
  RotatingLogFile& operator=(const RotatingLogFile&) = delete;

  // (Re)opens `path` for appending, creating its directory. Empty path: no file.
  void Open(const std::filesystem::path& path);
  void Append(std::string_view line);  // writes line + '\n'
  const std::filesystem::path& path() const { return path_; }

 private:
  void Close();
  void Rotate();

  int64_t max_bytes_;
  int keep_;
  std::filesystem::path path_;
  int fd_ = -1;
  int64_t size_ = 0;
};

// Reads a pipe on the loop and calls `on_line` for every line (without '\n' or a trailing '\r').
// Lines longer than kMaxLineBytes are cut into pieces. At EOF the unterminated rest is delivered
// and the reader closes itself. Owns `fd`. Keep it alive with a shared_ptr; pending reads hold one
// too.
class LineReader : public std::enable_shared_from_this<LineReader> {
 public:
  static constexpr size_t kMaxLineBytes = 16 * 1024;
  using LineFn = std::function<void(std::string_view)>;

  LineReader(asio::any_io_executor ex, int fd, LineFn on_line);
  void Start();
  // Stops reading now (no further lines).
  void Close();

 private:
  void ReadMore();
  void Consume(std::string_view data);

  asio::posix::stream_descriptor stream_;
  std::array<char, 4096> buffer_;
  std::string partial_;
  LineFn on_line_;
};

}  // namespace oc::supervisor::internal
