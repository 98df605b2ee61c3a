// chat_load: a load client for any OpenAI-compatible `POST /v1/chat/completions` endpoint (ours,
// OpenClaw's, ...), used by bench/compare-openclaw. Prints one JSON line; asserts nothing.
//
//   chat_load --port P [--host 127.0.0.1] [--token T] [--model M] --clients N
//             (--turns K | --seconds S) [--warmup W] [--stream] [--timeout S]
//
// N threads, each with its own keep-alive HTTP/1.1 connection, send requests back to back. Each
// request is a fresh one-message conversation without `user`, so every gateway starts a new
// session per request and does the same work. --turns K: K requests in all (shared by the
// clients); --seconds S: as many as fit in S seconds. --warmup W: W requests first (same
// connections), not measured. --stream: `stream:true`, a turn counts when the SSE stream ends with
// `data: [DONE]` and carried no error. Latency is from writing the request to the last byte of
// the response. Output:
//   {"clients":N,"turns":ok,"errors":e,"seconds":s,"throughput":ok/s,"p50_ms":..,"p99_ms":..,
//    "max_ms":..,"first_error":"..."}   (first_error only when errors > 0)
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "chat_client.h"

using namespace bench;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string token;
  std::string model = "openclaw";
  int clients = 1;
  long turns = 0;
  double seconds = 0;
  long warmup = 0;
  bool stream = false;
  double timeout_s = 300;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "chat_load: %s\nusage: chat_load --port P [--host H] [--token T] [--model M] --clients N "
               "(--turns K | --seconds S) [--warmup W] [--stream] [--timeout S]\n",
               why);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--token") o.token = value();
    else if (a == "--model") o.model = value();
    else if (a == "--clients") o.clients = std::atoi(value().c_str());
    else if (a == "--turns") o.turns = std::atol(value().c_str());
    else if (a == "--seconds") o.seconds = std::atof(value().c_str());
    else if (a == "--warmup") o.warmup = std::atol(value().c_str());
    else if (a == "--timeout") o.timeout_s = std::atof(value().c_str());
    else if (a == "--stream") o.stream = true;
    else if (a == "--help" || a == "-h") Usage("help");
    else Usage(("unknown argument " + a).c_str());
  }
  if (o.port <= 0) Usage("--port is required");
  if (o.clients <= 0) Usage("--clients must be at least 1");
  if ((o.turns > 0) == (o.seconds > 0)) Usage("give exactly one of --turns and --seconds");
  return o;
}

// Whether a complete response is a successful turn; otherwise `why` describes it.
bool Successful(const HttpResponse& r, bool stream, std::string& why) {
  if (r.status != 200) {
    why = "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300);
    return false;
  }
  if (stream) {
    if (r.body.find("data: [DONE]") == std::string::npos) why = "stream without [DONE]: " + r.body.substr(0, 300);
    else if (r.body.find("\"error\":") != std::string::npos) why = "error in stream: " + r.body.substr(0, 300);
    else return true;
    return false;
  }
  if (r.body.find("\"chat.completion\"") != std::string::npos) return true;
  why = "not a chat.completion: " + r.body.substr(0, 300);
  return false;
}

struct Phase {
  std::vector<double> latency_us;
  long errors = 0;
  std::string first_error;
  double seconds = 0;
};

// Runs one phase on the given connections: `turns` requests in all, or until `seconds` passed.
Phase Run(const Options& o, std::vector<std::unique_ptr<KeepAliveClient>>& clients, long turns, double seconds,
          std::atomic<long>& serial) {
  Phase phase;
  std::mutex mu;
  std::atomic<long> remaining{turns};
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (auto& client : clients) {
    threads.emplace_back([&, c = client.get()] {
      std::vector<double> mine;
      long errors = 0;
      std::string first_error;
      for (;;) {
        if (turns > 0 ? remaining.fetch_sub(1) <= 0 : Clock::now() >= deadline) break;
        const std::string request =
            ChatCompletionRequest(o.host, o.token, o.model, "benchmark message " + std::to_string(serial.fetch_add(1)), o.stream);
        HttpResponse response;
        std::string why;
        const auto start = Clock::now();
        const bool complete = c->Exchange(request, response, why);
        const double us = Micros(Clock::now() - start);
        if (complete && Successful(response, o.stream, why)) {
          mine.push_back(us);
          continue;
        }
        if (++errors == 1) first_error = why;
        if (!complete) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // do not spin on a dead port
      }
      std::lock_guard<std::mutex> lock(mu);
      phase.latency_us.insert(phase.latency_us.end(), mine.begin(), mine.end());
      phase.errors += errors;
      if (phase.first_error.empty()) phase.first_error = first_error;
    });
  }
  for (auto& t : threads) t.join();
  phase.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return phase;
}

std::string JsonText(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::unique_ptr<KeepAliveClient>> clients;
  for (int i = 0; i < o.clients; ++i) clients.push_back(std::make_unique<KeepAliveClient>(o.host, o.port, o.timeout_s));
  std::atomic<long> serial{1};
  if (o.warmup > 0) Run(o, clients, o.warmup, 0, serial);
  const Phase p = Run(o, clients, o.turns, o.seconds, serial);

  const size_t ok = p.latency_us.size();
  auto ms = [&](double q) { return ok ? Percentile(p.latency_us, q) / 1000 : 0.0; };
  std::printf("{\"clients\":%d,\"turns\":%zu,\"errors\":%ld,\"seconds\":%.3f,\"throughput\":%.2f,"
              "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f",
              o.clients, ok, p.errors, p.seconds, p.seconds > 0 ? ok / p.seconds : 0.0, ms(0.5), ms(0.99), ms(1.0));
  if (p.errors > 0) std::printf(",\"first_error\":%s", JsonText(p.first_error).c_str());
  std::printf("}\n");
  const std::string prefix = o.stream ? "chat_load.stream." : "chat_load.";
  Record(prefix + "throughput", p.seconds > 0 ? ok / p.seconds : 0.0, "/s");
  Record(prefix + "p50", ms(0.5), "ms");
  Record(prefix + "p99", ms(0.99), "ms");
  return ok > 0 ? 0 : 1;
}
