// WebSocket fan-out benchmark (issue 5): how fast the control plane spreads one run's `agent`
// events to many connected clients. Prints figures; asserts nothing.
//
//   100 clients (--clients) connect to /ws and authenticate; one more (the driver) asks `agent` for
//   a turn whose reply the test LLM server streams as N deltas (--deltas) of 8 characters. Every
//   `agent` event (lifecycle start/attempt/end and one per delta) is broadcast to all 101 clients.
//
//   spread       for each event, the time from the first client receiving it to the last one
//                (p50 / p99 / max over the run's events)
//   delivered    `agent` frames received by the 100 clients per second, from the first frame of the
//                run to the last
//   kernel CPU   CPU time the kernel used for the run, per delivered frame
//
// Two scenarios: "burst" (the model streams as fast as it can: the kernel's throughput limit) and
// "paced" (one delta every --pace-ms, like a fast model: the spread without a backlog). One bench
// thread reads all sockets with epoll, so a spread includes the time that thread takes to get
// round to the last socket; kernel, LLM server and bench share the machine's cores.
// Usage: ws_fanout [--quick] [--clients N] [--deltas N] [--pace-ms N] (OPENCLAW_BIN, OPENCLAW_TEST_LLM;
// defaults bin/openclaw and bin/oc-test-llm relative to the build dir).
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench_util.h"

using namespace bench;

namespace {

// POST /_script {"steps":[step]} on the test LLM server.
void ScriptLlm(int port, const std::string& step) {
  std::string body = R"({"steps":[)" + step + "]}";
  int fd = ConnectTcp(port);
  if (fd < 0) Die("cannot reach oc-test-llm");
  WriteAll(fd, "POST /_script HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  if (reply.find(" 200 ") == std::string::npos) Die("oc-test-llm refused the script: " + reply);
}

// A minimal RFC 6455 client: the upgrade, masked text frames out, unmasked frames in.
struct WsConn {
  int fd = -1;
  std::string buf;  // bytes received, not yet parsed
  bool done = false;    // saw the run's lifecycle end
  bool closed = false;  // the gateway dropped it
};

void SendText(int fd, const std::string& text) {
  std::string frame;
  frame += static_cast<char>(0x81);
  const size_t n = text.size();
  if (n < 126) {
    frame += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(n >> 8);
    frame += static_cast<char>(n & 0xff);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) frame += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  frame.append(4, '\0');  // a zero mask key: the payload goes as it is
  WriteAll(fd, frame + text);
}

// Takes the next complete text message out of `buf`; false when none is complete yet.
bool NextMessage(std::string& buf, std::string& message) {
  while (true) {
    if (buf.size() < 2) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(buf.data());
    size_t len = p[1] & 0x7f, header = 2;
    if (len == 126) {
      if (buf.size() < 4) return false;
      len = (size_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (buf.size() < 10) return false;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
    }
    if (buf.size() < header + len) return false;
    const int opcode = p[0] & 0x0f;
    const bool fin = p[0] & 0x80;
    if (opcode == 0x1 || opcode == 0x0) message.append(buf, header, len);
    buf.erase(0, header + len);
    if ((opcode == 0x1 || opcode == 0x0) && fin) return true;
    // ping/pong/close or a fragment: keep going
  }
}

// Reads from a blocking socket until a whole message arrives.
std::string ReadMessage(WsConn& c) {
  std::string message;
  char chunk[65536];
  while (!NextMessage(c.buf, message)) {
    ssize_t n = read(c.fd, chunk, sizeof chunk);
    if (n <= 0) Die("the gateway closed a WebSocket during setup");
    c.buf.append(chunk, static_cast<size_t>(n));
  }
  return message;
}

WsConn OpenWs(int port, const std::string& name) {
  WsConn c;
  c.fd = ConnectTcp(port);
  if (c.fd < 0) Die("cannot reach the gateway");
  WriteAll(c.fd, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  std::string head;
  char chunk[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(c.fd, chunk, sizeof chunk);
    if (n <= 0) Die("the gateway closed the connection during the upgrade");
    head.append(chunk, static_cast<size_t>(n));
  }
  if (head.find(" 101 ") == std::string::npos) Die("upgrade refused: " + head.substr(0, head.find("\r\n")));
  c.buf = head.substr(head.find("\r\n\r\n") + 4);
  SendText(c.fd, R"({"type":"req","id":"hello","method":"connect","params":{"client":{"name":")" + name + R"("}}})");
  while (true) {
    std::string m = ReadMessage(c);
    if (m.find(R"("id":"hello")") == std::string::npos) continue;
    if (m.find(R"("ok":true)") == std::string::npos) Die("connect refused: " + m);
    break;
  }
  return c;
}

int64_t SeqOf(const std::string& frame) {
  size_t at = frame.rfind(R"("seq":)");
  return at == std::string::npos ? -1 : std::atoll(frame.c_str() + at + 6);
}

struct SeqTimes {
  Clock::time_point first, last;
  int count = 0;
};

struct RunFigures {
  std::vector<double> spread_us;
  size_t frames = 0;  // agent frames received by the receivers
  double seconds = 0;  // first frame to last
  int complete_events = 0, events = 0;
  int dropped = 0;
  double kernel_cpu_us = 0;
};

// One `agent` turn streaming `deltas` deltas, followed by every receiver until the run's end.
RunFigures RunOnce(std::vector<WsConn>& receivers, WsConn& driver, int llm_port, pid_t kernel, int deltas,
                   int pace_ms, const std::string& tag) {
  ScriptLlm(llm_port, R"({"match":")" + tag + R"(","content":")" + std::string(static_cast<size_t>(deltas) * 8, 'w') +
                          R"(","chunkChars":8,"chunkDelayMs":)" + std::to_string(pace_ms) + "}");
  int ep = epoll_create1(0);
  size_t dead = 0;  // receivers dropped in an earlier run
  for (size_t i = 0; i <= receivers.size(); ++i) {
    WsConn& c = i < receivers.size() ? receivers[i] : driver;
    c.done = false;
    if (c.closed) {
      ++dead;
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  const double cpu0 = CpuMicros(kernel);
  SendText(driver.fd, R"({"type":"req","id":"run-)" + tag + R"(","method":"agent","params":{"message":")" + tag +
                          R"(","sessionKey":"agent:default:)" + tag + R"("}})");
  std::map<int64_t, SeqTimes> seqs;
  RunFigures fig;
  Clock::time_point first_frame{}, last_frame{};
  bool final_answer = false;
  size_t receivers_done = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  std::vector<epoll_event> ready(receivers.size() + 1);
  char chunk[1 << 16];
  std::string message;
  while ((!final_answer || receivers_done + dead + static_cast<size_t>(fig.dropped) < receivers.size()) &&
         Clock::now() < deadline) {
    int n = epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), 1000);
    for (int r = 0; r < n; ++r) {
      const size_t i = ready[static_cast<size_t>(r)].data.u64;
      WsConn& c = i < receivers.size() ? receivers[i] : driver;
      ssize_t got = read(c.fd, chunk, sizeof chunk);
      const auto now = Clock::now();
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        if (!c.closed && &c != &driver) ++fig.dropped;
        if (&c == &driver) Die("the gateway dropped the driver");
        c.closed = true;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.buf.append(chunk, static_cast<size_t>(got));
      while (NextMessage(c.buf, message)) {
        if (&c == &driver) {
          if (message.find(R"("id":"run-)") != std::string::npos &&
              message.find(R"("status":"accepted")") == std::string::npos)
            final_answer = true;
        } else if (message.find(R"("event":"agent")") != std::string::npos) {
          if (first_frame == Clock::time_point{}) first_frame = now;
          last_frame = now;
          ++fig.frames;
          SeqTimes& t = seqs[SeqOf(message)];
          if (t.count++ == 0) t.first = now;
          t.last = now;
          if (message.find(R"("phase":"end")") != std::string::npos ||
              message.find(R"("phase":"error")") != std::string::npos) {
            c.done = true;
            ++receivers_done;
          }
        }
        message.clear();
      }
    }
  }
  fig.kernel_cpu_us = CpuMicros(kernel) - cpu0;
  close(ep);
  if (!final_answer) Die("the run did not finish within 120 s");
  fig.seconds = std::chrono::duration<double>(last_frame - first_frame).count();
  const int live = static_cast<int>(receivers.size() - dead) - fig.dropped;
  for (const auto& [seq, t] : seqs) {
    ++fig.events;
    if (t.count < live) continue;
    ++fig.complete_events;
    fig.spread_us.push_back(Micros(t.last - t.first));
  }
  return fig;
}

void Print(const char* label, const RunFigures& f, size_t clients) {
  const std::string name = std::string("ws.fanout.") + label;
  Record(name + ".spread.p50", Percentile(f.spread_us, 0.5) / 1000, "ms");
  Record(name + ".spread.p99", Percentile(f.spread_us, 0.99) / 1000, "ms");
  Record(name + ".frames_per_s", f.seconds > 0 ? f.frames / f.seconds : 0.0, "/s");
  Record(name + ".kernel_cpu_per_frame", f.frames ? f.kernel_cpu_us / f.frames : 0.0, "us");
  Record(name + ".dropped", f.dropped, "count");
  std::printf("%-7s %5d events x %zu clients: spread p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms | "
              "%9.0f frames/s delivered | kernel CPU %5.2f us/frame | dropped %d\n",
              label, f.events, clients, Percentile(f.spread_us, 0.5) / 1000, Percentile(f.spread_us, 0.99) / 1000,
              f.spread_us.empty() ? 0.0 : *std::max_element(f.spread_us.begin(), f.spread_us.end()) / 1000,
              f.seconds > 0 ? f.frames / f.seconds : 0.0, f.frames ? f.kernel_cpu_us / f.frames : 0.0, f.dropped);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int clients = 100, deltas = 5000, pace_ms = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--clients" && i + 1 < argc) clients = std::atoi(argv[++i]);
    else if (a == "--deltas" && i + 1 < argc) deltas = std::atoi(argv[++i]);
    else if (a == "--pace-ms" && i + 1 < argc) pace_ms = std::atoi(argv[++i]);
  }
  if (quick) deltas = std::min(deltas, 1000);
  signal(SIGPIPE, SIG_IGN);
  std::string bin = std::getenv("OPENCLAW_BIN") ? std::getenv("OPENCLAW_BIN") : "bin/openclaw";
  std::string llm_bin = std::getenv("OPENCLAW_TEST_LLM") ? std::getenv("OPENCLAW_TEST_LLM") : "bin/oc-test-llm";
  fs::path home = fs::temp_directory_path() / ("oc-ws-fanout-" + std::to_string(getpid()));
  fs::create_directories(home);

  LlmServer llm = StartLlm(llm_bin);
  std::ofstream(home / "config.json")
      << R"({"logging":{"level":"warn"},"gateway":{"rateLimit":{"enabled":false}},)"
      << R"("agents":{"default":{"model":"local/m"}},)"
      << R"("models":{"providers":{"local":{"api":"openai-completions","baseUrl":"http://127.0.0.1:)" << llm.port
      << R"(/v1"}}}})";
  KernelProcess k = StartKernel(bin, home);
  std::vector<WsConn> receivers;
  receivers.reserve(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) receivers.push_back(OpenWs(k.port, "fanout-" + std::to_string(i)));
  WsConn driver = OpenWs(k.port, "fanout-driver");
  long rss_connected = RssKiB(k.pid);

  RunOnce(receivers, driver, llm.port, k.pid, 200, 0, "warm");  // connections, statements, caches
  RunFigures burst = RunOnce(receivers, driver, llm.port, k.pid, deltas, 0, "burst");
  RunFigures paced = RunOnce(receivers, driver, llm.port, k.pid, std::max(200, deltas / 5), pace_ms, "paced");
  std::printf("ws fan-out: %d clients + 1 driver, one agent run each; delta = 8 characters\n", clients);
  Print("burst", burst, receivers.size());
  Print("paced", paced, receivers.size());
  std::printf("        (paced: one delta every %d ms)\n", pace_ms);
  std::printf("kernel RSS with %d clients connected %7.1f MiB; after the runs %7.1f MiB\n", clients + 1,
              rss_connected / 1024.0, RssKiB(k.pid) / 1024.0);
  Record("ws.kernel_rss_connected", rss_connected / 1024.0, "MiB");

  for (auto& c : receivers) close(c.fd);
  close(driver.fd);
  StopKernel(k);
  kill(llm.pid, SIGTERM);
  waitpid(llm.pid, nullptr, 0);
  fs::remove_all(home);
  return 0;
}
