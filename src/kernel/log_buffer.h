// The kernel log's in-memory tail, served by `logs.tail` (the last 1000 formatted lines; each slot is preallocated, so this
// is a fixed cost of the idle kernel).
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>

#include <memory>

namespace oc::kernel {

inline std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> KernelLogBuffer() {
  static auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    s->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    return s;
  }();
  return sink;
}

}  // namespace oc::kernel
