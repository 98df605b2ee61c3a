// OpenAI-compatible HTTP API benchmark (issue 5). Prints figures; asserts nothing.
//
//   POST /v1/chat/completions, non-streaming, keep-alive HTTP/1.1 clients: turns/s and p50/p99
//   latency with 1 and with 64 clients at once (each request a fresh session, as OpenAI clients
//   that send no `user` get); one streaming figure (1 client): time to the first content delta
//   and to [DONE] (a streamed answer ends its connection, so each stream reconnects).
//
// Setup: oc-test-llm answering at once (OpenAI wire format, streamed to the kernel), a gateway with
// gateway.rateLimit off, a gateway token (the auth check is on the measured path) and
// agents.maxConcurrent 64 so the 64 clients are not queued behind the default of 4.
// Usage: http_bench [--quick] [--seconds S] (per phase, default 3; --quick: 1) with OPENCLAW_BIN, OPENCLAW_TEST_LLM
// (defaults bin/openclaw and bin/oc-test-llm relative to the build dir).
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench_util.h"
#include "chat_client.h"

using namespace bench;

namespace {

constexpr const char* kToken = "bench-token";

std::string CompletionRequest(int n, bool stream) {
  return ChatCompletionRequest("127.0.0.1", kToken, "openclaw", "benchmark message " + std::to_string(n), stream);
}

struct Figures {
  std::vector<double> latency_us;
  double seconds = 0;
  long failures = 0;
};

// `clients` threads, each with its own keep-alive connection, send turns back to back for `seconds`.
Figures RunClients(int port, int clients, double seconds) {
  Figures fig;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int> counter{0};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      KeepAliveClient client(port);
      std::vector<double> mine;
      long failed = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string request = CompletionRequest(counter.fetch_add(1), false);
        const auto start = Clock::now();
        if (client.RoundTrip(request)) mine.push_back(Micros(Clock::now() - start));
        else if (++failed > 100) break;
      }
      std::lock_guard<std::mutex> lock(mu);
      fig.latency_us.insert(fig.latency_us.end(), mine.begin(), mine.end());
      fig.failures += failed;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  fig.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return fig;
}

struct StreamFigures {
  std::vector<double> first_delta_us, done_us;
  double seconds = 0;
  long failures = 0;
};

// One client streaming turns back to back: each stream on a new connection (the server ends it).
StreamFigures RunStreams(int port, double seconds) {
  StreamFigures fig;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  char chunk[16384];
  for (int n = 0; Clock::now() < end; ++n) {
    int fd = ConnectTcp(port);
    if (fd < 0) Die("cannot reach the gateway");
    const auto start = Clock::now();
    WriteAll(fd, CompletionRequest(n, true));
    std::string got;
    double first = -1;
    ssize_t r;
    while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
      got.append(chunk, static_cast<size_t>(r));
      // Content chunks carry {"delta":{"content":...}}; the first chunk's delta starts with "role".
      if (first < 0 && got.find("\"delta\":{\"content\":") != std::string::npos) first = Micros(Clock::now() - start);
    }
    close(fd);
    if (first < 0 || got.find("data: [DONE]") == std::string::npos) {
      ++fig.failures;
      continue;
    }
    fig.first_delta_us.push_back(first);
    fig.done_us.push_back(Micros(Clock::now() - start));
  }
  fig.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return fig;
}

void Print(const char* label, const std::string& name, const Figures& f) {
  Record(name + ".failed", static_cast<double>(f.failures), "count");
  if (f.latency_us.empty()) {
    std::printf("%-30s no successful turns (%ld failures)\n", label, f.failures);
    return;
  }
  const double rate = f.latency_us.size() / f.seconds;
  const double p50 = Percentile(f.latency_us, 0.5) / 1000, p99 = Percentile(f.latency_us, 0.99) / 1000;
  std::printf("%-30s %9.0f turns/s   p50 %7.2f ms   p99 %7.2f ms   (%zu turns, %ld failed)\n", label, rate, p50, p99,
              f.latency_us.size(), f.failures);
  Record(name + ".throughput", rate, "/s");
  Record(name + ".p50", p50, "ms");
  Record(name + ".p99", p99, "ms");
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--quick") seconds = 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::string bin = std::getenv("OPENCLAW_BIN") ? std::getenv("OPENCLAW_BIN") : "bin/openclaw";
  std::string llm_bin = std::getenv("OPENCLAW_TEST_LLM") ? std::getenv("OPENCLAW_TEST_LLM") : "bin/oc-test-llm";
  fs::path home = fs::temp_directory_path() / ("oc-http-bench-" + std::to_string(getpid()));
  fs::create_directories(home);

  LlmServer llm = StartLlm(llm_bin);
  std::ofstream(home / "config.json")
      << R"({"gateway":{"auth":{"token":")" << kToken << R"("},"rateLimit":{"enabled":false}},)"
      << R"("logging":{"level":"warn"},"agents":{"maxConcurrent":64,"default":{"model":"local/m"}},)"
      << R"("models":{"providers":{"local":{"api":"openai-completions","baseUrl":"http://127.0.0.1:)" << llm.port
      << R"(/v1"}}}})";
  KernelProcess k = StartKernel(bin, home);

  RunClients(k.port, 4, std::min(1.0, seconds));  // warm-up: connections, statements, caches
  double cpu_before = CpuMicros(k.pid);
  Figures one = RunClients(k.port, 1, seconds);
  double cpu_one = one.latency_us.empty() ? 0 : (CpuMicros(k.pid) - cpu_before) / one.latency_us.size();
  cpu_before = CpuMicros(k.pid);
  Figures many = RunClients(k.port, 64, seconds);
  double cpu_per_turn = many.latency_us.empty() ? 0 : (CpuMicros(k.pid) - cpu_before) / many.latency_us.size();
  StreamFigures streams = RunStreams(k.port, std::max(1.0, seconds / 2));

  std::printf("/v1/chat/completions (oc-test-llm answering at once; fresh session per request)\n");
  Print("non-streaming, 1 client", "http.completions.1client", one);
  Print("non-streaming, 64 clients", "http.completions.64clients", many);
  if (streams.done_us.empty()) {
    std::printf("%-30s no successful streams (%ld failures)\n", "streaming, 1 client", streams.failures);
  } else {
    std::printf("%-30s %9.0f streams/s first delta p50 %7.2f ms   [DONE] p50 %7.2f ms p99 %7.2f ms (%ld failed)\n",
                "streaming, 1 client", streams.done_us.size() / streams.seconds, Percentile(streams.first_delta_us, 0.5) / 1000,
                Percentile(streams.done_us, 0.5) / 1000, Percentile(streams.done_us, 0.99) / 1000, streams.failures);
    Record("http.stream.first_delta.p50", Percentile(streams.first_delta_us, 0.5) / 1000, "ms");
    Record("http.stream.done.p50", Percentile(streams.done_us, 0.5) / 1000, "ms");
    Record("http.stream.done.p99", Percentile(streams.done_us, 0.99) / 1000, "ms");
  }
  std::printf("kernel CPU per turn               %7.0f us with 1 client, %.0f us with 64 (the bench, the LLM\n"
              "                                           server and the kernel share the cores)\n",
              cpu_one, cpu_per_turn);
  std::printf("kernel RSS after the run         %7.1f MiB\n", RssKiB(k.pid) / 1024.0);
  Record("http.kernel_cpu_per_turn.1client", cpu_one, "us");
  Record("http.kernel_cpu_per_turn.64clients", cpu_per_turn, "us");
  Record("http.kernel_rss_after", RssKiB(k.pid) / 1024.0, "MiB");

  StopKernel(k);
  kill(llm.pid, SIGTERM);
  waitpid(llm.pid, nullptr, 0);
  fs::remove_all(home);
  return 0;
}
