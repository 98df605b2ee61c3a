#include "supervisor/app_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/redact.h"

namespace oc::supervisor::internal {
namespace {
// Captured output is redacted before anything stores or shows it (the ring behind apps.logs, the
// log file): an app that prints a secret it was handed shows "[redacted]" instead. A secret cut in
// two by the kMaxLineBytes split is not recognised in either piece.
void EmitRedacted(const LineReader::LineFn& on_line, std::string& line) {
  RedactInPlace(line);
  on_line(line);
}
}  // namespace

void LogRing::Push(std::string line) {
  if (capacity_ == 0) return;
  if (lines_.size() == capacity_) lines_.pop_front();
  lines_.push_back(std::move(line));
  ++total_;
}

std::vector<std::string> LogRing::Since(uint64_t first, size_t max_lines, uint64_t* kept_from) const {
  const uint64_t oldest = total_ - lines_.size();
  const uint64_t start = std::min(std::max(first, oldest), total_);
  const uint64_t end = std::min<uint64_t>(total_, start + max_lines);
  if (kept_from) *kept_from = start;
  return {lines_.begin() + static_cast<std::ptrdiff_t>(start - oldest),
          lines_.begin() + static_cast<std::ptrdiff_t>(end - oldest)};
}

std::vector<std::string> LogRing::Tail(size_t max_lines) const {
  size_t n = std::min(max_lines, lines_.size());
  return {lines_.end() - static_cast<std::ptrdiff_t>(n), lines_.end()};
}

RotatingLogFile::~RotatingLogFile() { Close(); }

void RotatingLogFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
}

void RotatingLogFile::Open(const std::filesystem::path& path) {
  Close();
  path_ = path;
  if (path_.empty()) return;
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    spdlog::warn("supervisor: cannot open app log {}: {}", path_.string(), std::strerror(errno));
    return;
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0) size_ = st.st_size;
}

void RotatingLogFile::Rotate() {
  std::string base = path_.string();
  ::close(fd_);
  fd_ = -1;
  // path.<keep-1> -> path.<keep> replaces the oldest; a missing file in the chain is fine.
  for (int i = keep_ - 1; i >= 1; --i) {
    std::string from = base + "." + std::to_string(i);
    std::string to = base + "." + std::to_string(i + 1);
    ::rename(from.c_str(), to.c_str());
  }
  if (keep_ >= 1) {
    ::rename(base.c_str(), (base + ".1").c_str());
  } else {
    ::unlink(base.c_str());
  }
  Open(path_);
}

void RotatingLogFile::Append(std::string_view line) {
  if (fd_ < 0) return;
  int64_t len = static_cast<int64_t>(line.size()) + 1;
  if (size_ > 0 && size_ + len > max_bytes_) {
    Rotate();
    if (fd_ < 0) return;
  }
  std::string out;
  out.reserve(line.size() + 1);
  out.append(line);
  out.push_back('\n');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // disk full etc.: drop the line; the ring still has it
    done += static_cast<size_t>(n);
  }
  size_ += len;
}

LineReader::LineReader(asio::any_io_executor ex, int fd, LineFn on_line)
    : stream_(std::move(ex), fd), on_line_(std::move(on_line)) {}

void LineReader::Start() { ReadMore(); }

void LineReader::Close() {
  boost::system::error_code ec;
  stream_.close(ec);
  on_line_ = nullptr;
}

void LineReader::ReadMore() {
  stream_.async_read_some(
      asio::buffer(buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        if (!self->on_line_) return;  // closed
        if (n > 0) self->Consume(std::string_view(self->buffer_.data(), n));
        if (!ec) {
          self->ReadMore();
          return;
        }
        // EOF (all writers gone) or a read error: deliver the unterminated rest and stop.
        if (!self->partial_.empty() && self->on_line_) EmitRedacted(self->on_line_, self->partial_);
        self->partial_.clear();
        self->Close();
      });
}

void LineReader::Consume(std::string_view data) {
  while (!data.empty() && on_line_) {
    size_t nl = data.find('\n');
    size_t take = nl == std::string_view::npos ? data.size() : nl;
    size_t room = kMaxLineBytes - partial_.size();
    if (take > room) {
      partial_.append(data.substr(0, room));
      data.remove_prefix(room);
      EmitRedacted(on_line_, partial_);
      partial_.clear();
      continue;
    }
    partial_.append(data.substr(0, take));
    if (nl == std::string_view::npos) return;
    data.remove_prefix(nl + 1);
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    EmitRedacted(on_line_, partial_);
    partial_.clear();
  }
}

}  // namespace oc::supervisor::internal
