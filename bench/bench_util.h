// Helpers shared by the process-level benchmarks: starting a kernel in a scratch home, sockets,
// percentiles, RSS. Benchmarks print figures and assert nothing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d);
double Percentile(std::vector<double> v, double p);
int ConnectUnix(const std::string& path);
bool TcpAccepts(int port);
// A connected TCP socket to 127.0.0.1:port, or -1.
int ConnectTcp(int port);
int FreePort();
void WriteAll(int fd, const std::string& s);
long RssKiB(pid_t pid);
// CPU time (user + system) the process has used so far, in microseconds.
double CpuMicros(pid_t pid);
// Memory only this process holds (Private_Dirty of smaps_rollup): heap, stacks, written data.
long PrivateDirtyKiB(pid_t pid);
[[noreturn]] void Die(const std::string& why);

// Machine-readable results for bench/run. Each benchmark prints its figures in its own words and
// also records them here; at exit (WriteFigures, or automatically when main returns) they are
// written as one JSON object {"<name>": {"value": v, "unit": "<unit>"}, ...} to the file named by
// $OC_BENCH_JSON. Without that variable recording costs a map insert and nothing is written.
// Names are dotted, lower case, stable across runs: "ipc.round_trip.p50". Units: "us", "ms", "MiB",
// "KiB", "x" (a ratio), "/s" (per second), "bytes", "count".
void Record(const std::string& name, double value, const std::string& unit);
// Writes what was recorded (idempotent; called again at exit). False when the file cannot be written.
bool WriteFigures();

// Reads newline-terminated lines from a blocking socket.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // Skips `count` lines; false on EOF.
  bool ReadLines(size_t count);
  // The next line without its newline; false on EOF.
  bool ReadLine(std::string& line);

 private:
  int fd_;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
};

struct KernelProcess {
  pid_t pid = -1;
  fs::path home;
  std::string socket;
  int port = 0;
};

// `openclaw gateway` in `home` (its config.json written by the caller), output to /dev/null.
// With `wait`, returns once the IPC socket and the HTTP port accept.
KernelProcess StartKernel(const std::string& bin, const fs::path& home, bool wait = true);
void StopKernel(KernelProcess& k);

// The test LLM server (oc-test-llm) started on an ephemeral port; the caller kills `pid`.
struct LlmServer {
  pid_t pid = -1;
  int port = 0;
};
LlmServer StartLlm(const std::string& bin);

}  // namespace bench
