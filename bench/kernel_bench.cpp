// Kernel benchmarks (issue: kernel foundation). Prints figures; asserts nothing.
//
//   ipc round trip    app.heartbeat request → response on one registered connection, p50/p99,
//                     next to a raw Unix-socket ping-pong of the same frame (the physical floor)
//   ipc throughput    pipelined app.heartbeat requests/s on 1 and on 8 connections
//   idle RSS          kernel VmRSS with 0 and with 3 apps running
//
// The gateway's start time (exec → accepting) is measured by restart_bench.
// Usage: kernel_bench [--quick] (OPENCLAW_BIN, default ./bin/openclaw relative to the build dir).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

using namespace bench;

namespace {

std::string Heartbeat(int i) {
  return "{\"id\":\"" + std::to_string(i) + "\",\"type\":\"request\",\"timestamp\":1,\"method\":\"app.heartbeat\",\"params\":{}}\n";
}

int RegisterExternal(const std::string& socket_path, const std::string& id) {
  int fd = ConnectUnix(socket_path);
  if (fd < 0) Die("cannot connect to " + socket_path + ": " + std::strerror(errno));
  std::string reg = "{\"id\":\"r\",\"type\":\"request\",\"timestamp\":1,\"method\":\"app.register\",\"params\":{\"manifest\":"
                    "{\"id\":\"" + id + "\",\"name\":\"bench\",\"version\":\"1.0.0\",\"type\":\"app\",\"main\":\"x\","
                    "\"protocol\":{\"version\":\"1.0\"},\"capabilities\":{}}}}\n";
  WriteAll(fd, reg);
  LineReader r(fd);
  if (!r.ReadLines(1)) Die("no answer to app.register");
  return fd;
}

std::vector<double> RoundTrips(int fd, int n) {
  LineReader r(fd);
  std::vector<double> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    std::string hb = Heartbeat(i);
    auto t0 = Clock::now();
    WriteAll(fd, hb);
    if (!r.ReadLines(1)) Die("connection closed after " + std::to_string(i) + " round trips");
    out.push_back(Micros(Clock::now() - t0));
  }
  return out;
}

// The floor: an echo thread answering each line on a socketpair, same frame sizes.
std::vector<double> RawFloor(int n) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  std::string reply = "{\"id\":\"1\",\"type\":\"response\",\"timestamp\":1,\"requestId\":\"1\",\"success\":true,"
                      "\"result\":{\"ok\":true,\"serverTime\":1763769600000}}\n";
  std::thread echo([&] {
    LineReader r(sv[1]);
    for (int i = 0; i < n; ++i) {
      if (!r.ReadLines(1)) return;
      WriteAll(sv[1], reply);
    }
  });
  auto v = RoundTrips(sv[0], n);
  echo.join();
  close(sv[0]);
  close(sv[1]);
  return v;
}

// Pipelined requests: batches of `batch` requests, at most `max_in_flight` unanswered per
// connection (a client that lets its answers pile up is, rightly, disconnected by the kernel).
double Throughput(const std::string& socket_path, int connections, int per_connection) {
  std::vector<int> fds;
  for (int c = 0; c < connections; ++c) fds.push_back(RegisterExternal(socket_path, "bench-" + std::to_string(c)));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, fd = fds[c]] {
      const int batch_size = 128, max_in_flight = 8192;
      std::atomic<int> answered{0};
      std::thread reader([&] {
        LineReader r(fd);
        for (int done = 0; done < per_connection; done += batch_size) {
          int n = std::min(batch_size, per_connection - done);
          if (!r.ReadLines(static_cast<size_t>(n))) return;
          answered.fetch_add(n, std::memory_order_release);
        }
      });
      std::string batch;
      for (int i = 0; i < per_connection; i += batch_size) {
        while (i - answered.load(std::memory_order_acquire) > max_in_flight) std::this_thread::yield();
        batch.clear();
        for (int j = i; j < std::min(per_connection, i + batch_size); ++j) batch += Heartbeat(j);
        WriteAll(fd, batch);
      }
      reader.join();
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int fd : fds) close(fd);
  return connections * per_connection / secs;
}

void InstallSleeper(const fs::path& home, int i) {
  fs::path dir = home / "packages" / ("idle-" + std::to_string(i));
  fs::create_directories(dir);
  std::ofstream(dir / "openclawos.manifest.json")
      << "{\"id\":\"idle-" << i << "\",\"name\":\"idle\",\"version\":\"1.0.0\",\"type\":\"app\",\"main\":\"app.sh\","
      << "\"protocol\":{\"version\":\"1.0\"},\"capabilities\":{}}";
  // A minimal app in shell: it registers with its spawn token, reports ready and idles.
  std::ofstream(dir / "app.sh")
      << "#!/bin/sh\nexec python3 -c '\nimport os,socket,json,time\ns=socket.socket(socket.AF_UNIX)\n"
      << "s.connect(os.environ[\"OPENCLAWOS_SOCKET\"])\nm=json.load(open(\"openclawos.manifest.json\"))\n"
      << "def req(i,meth,p): s.sendall((json.dumps(dict(id=str(i),type=\"request\",timestamp=1,method=meth,params=p))+\"\\n\").encode()); s.recv(65536)\n"
      << "req(1,\"app.register\",dict(manifest=m,spawnToken=os.environ[\"OPENCLAWOS_APP_TOKEN\"]))\nreq(2,\"app.ready\",{})\n"
      << "time.sleep(3600)'\n";
  fs::permissions(dir / "app.sh", fs::perms::owner_all);
}

void PrintIdleRss(const char* label, const std::string& name, pid_t pid) {
  const double rss = RssKiB(pid) / 1024.0, priv = PrivateDirtyKiB(pid) / 1024.0;
  std::printf("kernel idle RSS, %-16s %9.1f MiB (target <= 8)   private %5.1f MiB\n", label, rss, priv);
  Record(name, rss, "MiB");
  Record(name + ".private", priv, "MiB");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  std::string bin = std::getenv("OPENCLAW_BIN") ? std::getenv("OPENCLAW_BIN") : "bin/openclaw";
  fs::path root = fs::temp_directory_path() / ("oc-bench-" + std::to_string(getpid()));
  fs::create_directories(root);
  const int n = quick ? 2000 : 50000;

  // Kernel with external apps allowed so the bench client can register without being spawned.
  fs::path home = root / "ipc";
  fs::create_directories(home);
  std::ofstream(home / "config.json") << "{\"ipc\":{\"allowExternalApps\":true},\"logging\":{\"level\":\"warn\"}}";
  KernelProcess k = StartKernel(bin, home);
  int fd = RegisterExternal(k.socket, "bench-rtt");
  RoundTrips(fd, n / 10);  // warm-up
  auto rtt = RoundTrips(fd, n);
  close(fd);
  auto floor = RawFloor(n);
  double p50 = Percentile(rtt, 0.5), p99 = Percentile(rtt, 0.99);
  double f50 = Percentile(floor, 0.5), f99 = Percentile(floor, 0.99);
  std::printf("ipc round trip (app.heartbeat)   p50 %7.1f us   p99 %7.1f us\n", p50, p99);
  std::printf("raw unix-socket ping-pong        p50 %7.1f us   p99 %7.1f us\n", f50, f99);
  std::printf("ratio kernel/raw                 p50 %7.2fx    p99 %7.2fx   (target <= 3x)\n", p50 / f50, p99 / f99);
  Record("ipc.round_trip.p50", p50, "us");
  Record("ipc.round_trip.p99", p99, "us");
  Record("ipc.raw_floor.p50", f50, "us");
  Record("ipc.raw_floor.p99", f99, "us");
  Record("ipc.round_trip.ratio_p50", p50 / f50, "x");
  Record("ipc.round_trip.ratio_p99", p99 / f99, "x");
  const double one = Throughput(k.socket, 1, n * 4);
  std::printf("ipc throughput, 1 connection     %9.0f requests/s (target >= 100k)\n", one);
  Record("ipc.throughput.1conn", one, "/s");
  const double eight = Throughput(k.socket, 8, n);
  std::printf("ipc throughput, 8 connections    %9.0f requests/s\n", eight);
  Record("ipc.throughput.8conn", eight, "/s");
  StopKernel(k);

  fs::path idle_home = root / "idle";
  fs::create_directories(idle_home);
  std::ofstream(idle_home / "config.json") << "{}";
  KernelProcess idle = StartKernel(bin, idle_home);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  PrintIdleRss("0 apps", "kernel.idle_rss.0apps", idle.pid);
  StopKernel(idle);
  for (int i = 0; i < 3; ++i) InstallSleeper(idle_home, i);
  idle = StartKernel(bin, idle_home);
  std::this_thread::sleep_for(std::chrono::milliseconds(quick ? 1500 : 3000));
  PrintIdleRss("3 apps", "kernel.idle_rss.3apps", idle.pid);
  StopKernel(idle);

  fs::remove_all(root);
  return 0;
}
