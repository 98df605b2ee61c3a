// Micro-benchmarks of the IPC hot path: what the kernel does per frame, piece by piece.
#include <benchmark/benchmark.h>

#include <string>

#include "protocol/frame.h"
#include "protocol/methods.h"

namespace {

using namespace oc::protocol;

const std::string kHeartbeat =
    R"({"id":"12345","type":"request","timestamp":1763769600000,"method":"app.heartbeat","params":{"status":"ok"}})";
const std::string kSubscribe =
    R"({"id":"12346","type":"request","timestamp":1763769600000,"method":"hook.subscribe","params":{"events":["agent_end","message_sending","before_tool_call"]}})";

void BM_ParseHeartbeat(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ParseFrame(kHeartbeat));
}
BENCHMARK(BM_ParseHeartbeat);

void BM_ValidateSubscribeParams(benchmark::State& state) {
  auto frame = ParseFrame(kSubscribe).value();
  const MethodSpec* spec = FindMethod("hook.subscribe", Direction::kAppToKernel);
  for (auto _ : state) benchmark::DoNotOptimize(ValidateParams(*spec, frame.params));
}
BENCHMARK(BM_ValidateSubscribeParams);

void BM_SerializeHeartbeatResponse(benchmark::State& state) {
  for (auto _ : state) {
    auto f = MakeOkResponse(oc::json::value("12345"),
                            oc::json::object{{"ok", true}, {"serverTime", 1763769600000}});
    benchmark::DoNotOptimize(SerializeFrame(f));
  }
}
BENCHMARK(BM_SerializeHeartbeatResponse);

// 64 KiB of pipelined frames, split into lines: the splitter's share of a read.
void BM_SplitPipelinedFrames(benchmark::State& state) {
  std::string chunk;
  size_t lines = 0;
  while (chunk.size() + kHeartbeat.size() + 1 < 64 * 1024) {
    chunk += kHeartbeat;
    chunk += '\n';
    ++lines;
  }
  LineSplitter splitter;
  size_t seen = 0;
  for (auto _ : state) {
    splitter.Feed(
        chunk, [&](std::string_view) { ++seen; }, [] {});
  }
  benchmark::DoNotOptimize(seen);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunk.size()));
}
BENCHMARK(BM_SplitPipelinedFrames);

}  // namespace

BENCHMARK_MAIN();
