// Message pipeline benchmarks (issue: durable message pipeline). Prints figures; asserts nothing.
//
//   turn latency      app → kernel (agent.queue, stored) → test LLM server (OpenAI wire format,
//                     streamed, answers at once) → reply stored → outbox → delivery event at the
//                     app → hook.result; p50/p99 with 1 and with 32 conversations at once
//   throughput        turns per second with 1 and with 32 conversations
//   kernel overhead   turn latency minus the LLM round trip measured alone (same request shape,
//                     same server, keep-alive), p50
//   storage           state.db size and kernel RSS after the run, per stored message
//
// The bench is the channel app itself: an external app (ipc.allowExternalApps) on a raw Unix
// socket that owns channel "bench", so no SDK or extra process sits in the measured path.
// Usage: pipeline_bench [--quick] [--messages N] (OPENCLAW_BIN, OPENCLAW_TEST_LLM; defaults
// bin/openclaw and bin/oc-test-llm relative to the build dir).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "bench_util.h"

using namespace bench;
namespace json = boost::json;

namespace {

void Request(int fd, const std::string& id, const std::string& method, const std::string& params) {
  WriteAll(fd, "{\"id\":\"" + id + "\",\"type\":\"request\",\"timestamp\":1,\"method\":\"" + method +
                   "\",\"params\":" + params + "}\n");
}

// The bench as a channel app: registered, owning channel "bench".
int ConnectChannelApp(const std::string& socket_path) {
  int fd = ConnectUnix(socket_path);
  if (fd < 0) Die("cannot connect to " + socket_path + ": " + std::strerror(errno));
  Request(fd, "r", "app.register",
          R"({"manifest":{"id":"bench-channel","name":"bench","version":"1.0.0","type":"app","main":"x",)"
          R"("protocol":{"version":"1.0"},"capabilities":{"channels":{"provides":["bench"]}}}})");
  Request(fd, "c", "capability.register", R"({"type":"channel","config":{"id":"bench"}})");
  LineReader r(fd);
  std::string line;
  for (int answered = 0; answered < 2;) {
    if (!r.ReadLine(line)) Die("kernel closed the connection while registering");
    json::value f = json::parse(line);
    if (f.at("type") != "response") continue;
    if (!f.at("success").as_bool()) Die("registration refused: " + line);
    if (f.at("requestId") == "c" && !f.at("result").at("granted").as_bool()) Die("channel refused: " + line);
    ++answered;
  }
  return fd;
}

struct TurnFigures {
  std::vector<double> latency_us;
  double seconds = 0;
};

// Runs `turns` turns spread over `conversations` conversations, each conversation one turn at a
// time (the next message is sent when the previous reply arrives).
//
// A conversation lasts `per_conversation` turns (0 = all of them), then its slot moves on to a new one.
TurnFigures RunTurns(int fd, int conversations, int turns, const std::string& prefix, int per_conversation = 0) {
  LineReader reader(fd);
  std::map<std::string, Clock::time_point> sent_at;  // conversation → send time
  std::map<std::string, int> turns_of;                // conversation → turns sent
  int sent = 0, done = 0, next_id = 0, next_conv = 0;
  auto next_conversation = [&](const std::string& previous) {
    if (previous.empty() || (per_conversation > 0 && turns_of[previous] >= per_conversation))
      return prefix + std::to_string(next_conv++);
    return previous;
  };
  auto send = [&](const std::string& conv) {
    ++turns_of[conv];
    sent_at[conv] = Clock::now();
    Request(fd, "q" + std::to_string(next_id++), "agent.queue",
            R"({"sessionKey":"bench:)" + conv + R"(","text":"message )" + std::to_string(sent) +
                R"( for the assistant","metadata":{"chatType":"direct","from":")" + conv + R"("}})");
    ++sent;
  };
  TurnFigures fig;
  fig.latency_us.reserve(static_cast<size_t>(turns));
  auto t0 = Clock::now();
  for (int c = 0; c < conversations && sent < turns; ++c) send(next_conversation(""));
  std::string line;
  while (done < turns) {
    if (!reader.ReadLine(line)) Die("kernel closed the connection");
    if (line.find("\"hook:message_sending\"") == std::string::npos) {
      if (line.find("\"success\":false") != std::string::npos) Die("request failed: " + line);
      continue;
    }
    json::value f = json::parse(line);
    const json::object& payload = f.at("payload").as_object();
    std::string conv(payload.at("data").at("target").as_string());
    fig.latency_us.push_back(Micros(Clock::now() - sent_at[conv]));
    ++done;
    Request(fd, "a" + std::to_string(next_id++), "hook.result",
            R"({"eventId":")" + std::string(payload.at("eventId").as_string()) +
                R"(","result":{"delivered":true}})");
    if (sent < turns) send(next_conversation(conv));
  }
  fig.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return fig;
}

// The LLM alone: the same streamed chat-completions request over one keep-alive connection.
std::vector<double> LlmAlone(int port, int n) {
  std::string body =
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[)"
      R"({"role":"system","content":"You are a personal AI assistant."},)"
      R"({"role":"user","content":"message 1 for the assistant"}]})";
  std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Accept: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  int fd = ConnectTcp(port);
  if (fd < 0) Die("cannot reach oc-test-llm");
  std::vector<double> out;
  std::string buf;
  char chunk[65536];
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    WriteAll(fd, request);
    buf.clear();
    while (buf.find("\r\n0\r\n\r\n") == std::string::npos) {  // the chunked body's end
      ssize_t got = read(fd, chunk, sizeof(chunk));
      if (got <= 0) Die("oc-test-llm closed the connection");
      buf.append(chunk, static_cast<size_t>(got));
    }
    out.push_back(Micros(Clock::now() - t0));
  }
  close(fd);
  return out;
}

void Print(const char* label, const std::string& name, const TurnFigures& f) {
  const double p50 = Percentile(f.latency_us, 0.5) / 1000, p99 = Percentile(f.latency_us, 0.99) / 1000;
  const double rate = f.latency_us.size() / f.seconds;
  std::printf("%-34s p50 %7.2f ms   p99 %7.2f ms   %8.0f turns/s\n", label, p50, p99, rate);
  Record(name + ".p50", p50, "ms");
  Record(name + ".p99", p99, "ms");
  Record(name + ".throughput", rate, "/s");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int stored_target = 100000;  // messages stored (2 per turn) for the storage figures
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true, stored_target = 2000;
    else if (a == "--messages" && i + 1 < argc) stored_target = std::atoi(argv[++i]);
  }
  std::string bin = std::getenv("OPENCLAW_BIN") ? std::getenv("OPENCLAW_BIN") : "bin/openclaw";
  std::string llm_bin = std::getenv("OPENCLAW_TEST_LLM") ? std::getenv("OPENCLAW_TEST_LLM") : "bin/oc-test-llm";
  fs::path home = fs::temp_directory_path() / ("oc-pipeline-bench-" + std::to_string(getpid()));
  fs::create_directories(home);

  LlmServer llm = StartLlm(llm_bin);
  std::ofstream(home / "config.json")
      << R"({"ipc":{"allowExternalApps":true},"apps":{"bench-channel":{"trustLevel":"community"}},)"
      << R"("logging":{"level":"warn"},"agents":{"maxConcurrent":32,"default":{"model":"local/m"}},)"
      << R"("models":{"providers":{"local":{"api":"openai-completions","baseUrl":"http://127.0.0.1:)" << llm.port
      << R"(/v1"}}}})";
  KernelProcess k = StartKernel(bin, home);
  int fd = ConnectChannelApp(k.socket);

  const int latency_turns = quick ? 300 : 3000;
  RunTurns(fd, 4, quick ? 50 : 300, "warm");  // warm-up: connections, statements, caches
  // Conversations of 10 turns (a history of up to 20 messages), like chat bursts.
  TurnFigures one = RunTurns(fd, 1, latency_turns, "one", 10);
  double cpu_before = CpuMicros(k.pid);
  TurnFigures many = RunTurns(fd, 32, latency_turns * 2, "many", 10);
  double kernel_cpu_per_turn = (CpuMicros(k.pid) - cpu_before) / many.latency_us.size();
  // One long conversation: every turn sends the full history window (200 messages) to the model.
  RunTurns(fd, 1, 100, "long");
  TurnFigures long_history = RunTurns(fd, 1, quick ? 100 : 500, "long");
  std::vector<double> alone = LlmAlone(llm.port, latency_turns);
  double llm_p50 = Percentile(alone, 0.5);
  std::printf("LLM round trip alone (streamed)    p50 %7.2f ms   p99 %7.2f ms\n", llm_p50 / 1000,
              Percentile(alone, 0.99) / 1000);
  Record("pipeline.llm_alone.p50", llm_p50 / 1000, "ms");
  Print("turn, 1 conversation", "pipeline.turn.1conv", one);
  Print("turn, 32 conversations", "pipeline.turn.32conv", many);
  Print("turn, 200-message history", "pipeline.turn.history200", long_history);
  const double overhead = (Percentile(one.latency_us, 0.5) - llm_p50) / 1000;
  std::printf("kernel overhead per turn           p50 %7.2f ms   (turn p50 minus LLM p50; target <= 1 ms)\n", overhead);
  Record("pipeline.kernel_overhead.p50", overhead, "ms");
  Record("pipeline.kernel_cpu_per_turn", kernel_cpu_per_turn, "us");
  std::printf("throughput, 32 conversations       %9.0f turns/s (target >= 2000)\n",
              many.latency_us.size() / many.seconds);
  std::printf("kernel CPU per turn                %9.0f us   (one core could carry %.0f turns/s; the bench,\n"
              "                                               the LLM server and the kernel share 2 cores)\n",
              kernel_cpu_per_turn, 1e6 / kernel_cpu_per_turn);

  // Storage: fill up to `stored_target` messages (2 per turn) in fresh conversations.
  long stored = 2L * ((quick ? 50 : 300) + latency_turns * 3 + 100 + (quick ? 100 : 500));
  int fill_turns = static_cast<int>(std::max(0L, (stored_target - stored) / 2));
  if (fill_turns > 0) RunTurns(fd, 32, fill_turns, "fill");
  stored += 2L * fill_turns;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto size_of = [](const fs::path& p) { std::error_code ec; auto s = fs::file_size(p, ec); return ec ? 0 : s; };
  double db_mib = (size_of(home / "state.db") + size_of(home / "state.db-wal")) / 1048576.0;
  std::printf("stored messages                    %9ld\n", stored);
  std::printf("state.db + WAL                     %9.1f MiB (%.0f bytes/message)\n", db_mib, db_mib * 1048576 / stored);
  std::printf("kernel RSS after the run           %9.1f MiB (private %.1f MiB)\n", RssKiB(k.pid) / 1024.0,
              PrivateDirtyKiB(k.pid) / 1024.0);
  Record("pipeline.stored_messages", static_cast<double>(stored), "count");
  Record("pipeline.db_bytes_per_message", db_mib * 1048576 / stored, "bytes");
  Record("pipeline.kernel_rss_after", RssKiB(k.pid) / 1024.0, "MiB");

  close(fd);
  StopKernel(k);
  kill(llm.pid, SIGTERM);
  waitpid(llm.pid, nullptr, 0);
  fs::remove_all(home);
  return 0;
}
