// The kernel log's in-memory tail, served by `logs.tail`: the last 1000 formatted lines. Every line
// the kernel logs is numbered from 0, so a follower (`openclaw logs -f`) asks for the lines after
// the last number it saw and never gets one twice.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace oc::kernel {

class LogTail : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogTail(size_t capacity) : capacity_(capacity) {}

  struct Slice {
    std::vector<std::string> lines;  // oldest first, without the trailing newline
    uint64_t next = 0;               // the number of the line after the last one in `lines`
    uint64_t skipped = 0;            // lines asked for that are no longer kept
  };

  // Without `after`: the last `max_lines` lines. With it: the lines numbered `after` and later,
  // oldest first, at most `max_lines` of them (the rest comes with the next call, from `next`).
  // An `after` beyond the end (a counter from an earlier kernel) reads from the oldest kept line.
  Slice Read(std::optional<uint64_t> after, size_t max_lines) {
    std::lock_guard<std::mutex> lock(mutex_);
    Slice out;
    const uint64_t oldest = total_ - lines_.size();
    uint64_t start;
    if (!after) {
      start = total_ - std::min<uint64_t>(max_lines, lines_.size());
    } else {
      uint64_t from = *after > total_ ? 0 : *after;
      start = std::max(from, oldest);
      out.skipped = start - from;
    }
    const uint64_t end = std::min<uint64_t>(total_, start + max_lines);
    for (uint64_t n = start; n < end; ++n) out.lines.push_back(lines_[n - oldest]);
    out.next = end;
    return out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (lines_.size() == capacity_) lines_.pop_front();
    lines_.push_back(std::move(line));
    ++total_;
  }
  void flush_() override {}

 private:
  size_t capacity_;
  std::deque<std::string> lines_;
  uint64_t total_ = 0;  // lines ever logged
};

inline std::shared_ptr<LogTail> KernelLogBuffer() {
  static auto sink = [] {
    auto s = std::make_shared<LogTail>(1000);
    s->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    return s;
  }();
  return sink;
}

}  // namespace oc::kernel
