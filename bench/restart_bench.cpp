// Restart benchmarks (issue 9). Prints figures; asserts nothing.
//
//   app restart latency  SIGKILL of a running app → the restarted app's `ready` (its app.ready
//                        acknowledged by the kernel), apps.supervisor.restartDelay 0; p50/p99/min/max
//                        over N kills, once with the app unsandboxed and once sandboxed (seccomp,
//                        Landlock, private network namespace); then the kernel's own restartCount
//   gateway start        `openclaw gateway` exec → IPC socket and HTTP port both accept, p50/p99,
//                        embedded defaults (empty config) in a scratch home
//
// The app is bench/apps/restart-probe (staged into <build>/bench-packages/restart-probe): once the
// kernel has acknowledged its app.ready it sends "ready <pid>" as a datagram to the socket the bench
// binds (the path reaches it through apps.restart-probe.env, SPEC §5.2).
//
// Usage: restart_bench [--quick] [--kills N] [--starts N]
// (OPENCLAW_BIN, default bin/openclaw relative to the build dir; the probe package is found at
// <dir of OPENCLAW_BIN>/../bench-packages/restart-probe).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

using namespace bench;
namespace json = boost::json;

namespace {

constexpr const char* kProbeId = "restart-probe";
constexpr const char* kClientId = "restart-bench";  // the external IPC client that asks apps.list
constexpr int kReadyTimeoutMs = 15000;

struct Options {
  bool quick = false;
  int kills = 100;
  int starts = 50;
};

[[noreturn]] void Usage() {
  std::fprintf(stderr, "usage: restart_bench [--quick] [--kills N] [--starts N]\n");
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  std::optional<int> kills, starts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if ((a == "--kills" || a == "--starts") && i + 1 < argc) {
      int n = std::atoi(argv[++i]);
      if (n <= 0) Usage();
      (a == "--kills" ? kills : starts) = n;
    } else {
      Usage();
    }
  }
  o.kills = kills.value_or(o.quick ? 10 : 100);
  o.starts = starts.value_or(o.quick ? 10 : 50);
  return o;
}

// The last `lines` lines of a log file, for an error message.
std::string Tail(const fs::path& file, size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out.empty() ? "  (empty or missing: " + file.string() + ")\n" : out;
}

// The datagram socket the probe reports to.
class ReadySocket {
 public:
  explicit ReadySocket(const fs::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || path.string().size() >= sizeof(addr.sun_path)) Die("cannot make a socket at " + path.string());
    std::memcpy(addr.sun_path, path.c_str(), path.string().size() + 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      Die("bind " + path.string() + ": " + std::strerror(errno));
  }
  ~ReadySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  ReadySocket(const ReadySocket&) = delete;
  ReadySocket& operator=(const ReadySocket&) = delete;

  // Waits for "ready <pid>" with pid != `not_pid`; earlier reports of other pids are skipped.
  // nullopt after kReadyTimeoutMs.
  std::optional<pid_t> WaitReady(pid_t not_pid) {
    auto deadline = Clock::now() + std::chrono::milliseconds(kReadyTimeoutMs);
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[64];
      ssize_t n = recv(fd_, buf, sizeof(buf) - 1, 0);
      if (n <= 0) continue;
      buf[n] = '\0';
      if (std::strncmp(buf, "ready ", 6) != 0) continue;
      pid_t pid = static_cast<pid_t>(std::atol(buf + 6));
      if (pid > 0 && pid != not_pid) return pid;
    }
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

void InstallProbe(const fs::path& package, const fs::path& home) {
  fs::path dest = home / "packages" / kProbeId;
  fs::create_directories(dest);
  std::error_code ec;
  fs::copy(package, dest, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) Die("cannot install " + package.string() + " into " + dest.string() + ": " + ec.message());
}

void WriteConfig(const fs::path& home, const fs::path& ready_socket, bool sandboxed) {
  json::object apps;
  // restartDelay 0 (the backoff multiplies 0) and a restart budget 100 kills cannot exhaust.
  apps["supervisor"] = {{"restartDelay", 0}, {"maxRestarts", 1000000}, {"restartWindow", 300000}};
  apps[kProbeId] = {{"sandboxed", sandboxed}, {"env", {{"OC_RESTART_PROBE_SOCKET", ready_socket.string()}}}};
  apps[kClientId] = {{"trustLevel", "core"}};  // apps.list over IPC is for core/verified apps
  json::object config{{"logging", {{"level", "warn"}}}, {"ipc", {{"allowExternalApps", true}}}, {"apps", apps}};
  std::ofstream(home / "config.json") << json::serialize(config);
}

// apps.list over IPC as an external app of trust core: the probe's status as the kernel sees it.
std::optional<json::object> ProbeStatus(const std::string& socket_path) {
  int fd = ConnectUnix(socket_path);
  if (fd < 0) return std::nullopt;
  WriteAll(fd, std::string(R"({"id":"r","type":"request","timestamp":1,"method":"app.register","params":{"manifest":)") +
                   R"({"id":")" + kClientId + R"(","name":"restart bench","version":"1.0.0","type":"app","main":"x",)" +
                   R"("protocol":{"version":"1.0"},"capabilities":{"security":{"trustLevel":"core"}}}}})" + "\n" +
                   R"({"id":"l","type":"request","timestamp":1,"method":"apps.list","params":{}})" + "\n");
  LineReader reader(fd);
  std::string line;
  std::optional<json::object> status;
  while (reader.ReadLine(line)) {
    boost::system::error_code ec;
    json::value frame = json::parse(line, ec);
    if (ec || !frame.is_object() || frame.as_object().if_contains("type") == nullptr ||
        frame.at("type") != "response")
      continue;
    if (!frame.at("success").as_bool()) {
      std::fprintf(stderr, "restart_bench: %s refused: %s\n", frame.at("requestId") == "r" ? "app.register" : "apps.list",
                   line.c_str());
      break;
    }
    if (frame.at("requestId") != "l") continue;
    for (const auto& app : frame.at("result").at("apps").as_array())
      if (app.at("id") == kProbeId && app.as_object().if_contains("status")) status = app.at("status").as_object();
    break;
  }
  close(fd);
  return status;
}

struct RestartFigures {
  std::vector<double> ms;
  std::optional<int64_t> restart_count;
  std::string enforcement;
};

RestartFigures MeasureRestarts(const std::string& bin, const fs::path& package, const fs::path& home, bool sandboxed,
                               int kills) {
  fs::create_directories(home);
  InstallProbe(package, home);
  fs::path ready_path = home / "ready.sock";
  ReadySocket ready(ready_path);
  WriteConfig(home, ready_path, sandboxed);
  KernelProcess k = StartKernel(bin, home);
  auto fail = [&](const std::string& why) {
    std::string logs = Tail(home / "logs" / "apps" / (std::string(kProbeId) + ".log"), 15);
    std::string klog = Tail(home / "logs" / "kernel.log", 15);
    StopKernel(k);
    Die(why + "\napp log:\n" + logs + "kernel log:\n" + klog);
  };
  std::optional<pid_t> pid = ready.WaitReady(0);
  if (!pid) fail("restart-probe did not report ready within " + std::to_string(kReadyTimeoutMs) + " ms");

  RestartFigures out;
  out.ms.reserve(static_cast<size_t>(kills));
  for (int i = 0; i < kills; ++i) {
    // A crash hits an app that has been running a moment, not one still finishing its start.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto t0 = Clock::now();
    if (kill(*pid, SIGKILL) != 0) fail("kill " + std::to_string(*pid) + ": " + std::strerror(errno));
    std::optional<pid_t> next = ready.WaitReady(*pid);
    auto t1 = Clock::now();
    if (!next) fail("no ready after kill " + std::to_string(i + 1) + " (pid " + std::to_string(*pid) + ")");
    out.ms.push_back(Micros(t1 - t0) / 1000.0);
    pid = next;
  }
  if (auto status = ProbeStatus(k.socket)) {
    if (auto* count = status->if_contains("restartCount"); count && count->is_int64()) out.restart_count = count->as_int64();
    if (auto* e = status->if_contains("enforcement"); e && e->is_object())
      for (const auto& [key, value] : e->as_object())
        if (key != "memory" && key != "fds" && key != "cpu" && value.is_string())
          out.enforcement += std::string(out.enforcement.empty() ? "" : " ") + std::string(key) + "=" +
                             std::string(value.as_string());
  }
  StopKernel(k);
  return out;
}

// `label` padded to `width` columns (UTF-8 continuation bytes take no column).
std::string Pad(const std::string& label, size_t width = 32) {
  size_t columns = 0;
  for (unsigned char c : label) columns += (c & 0xC0) != 0x80;
  return label + std::string(columns < width ? width - columns : 1, ' ');
}

void PrintRestarts(const std::string& label, const char* name, const RestartFigures& f, int kills) {
  double p50 = Percentile(f.ms, 0.5), p99 = Percentile(f.ms, 0.99);
  double min = Percentile(f.ms, 0), max = Percentile(f.ms, 1);
  std::printf("%sp50 %7.2f ms   p99 %7.2f ms   min %7.2f   max %7.2f   (%d kills)\n", Pad(label).c_str(), p50, p99,
              min, max, kills);
  std::string prefix = std::string("restart.") + name;
  Record(prefix + ".p50", p50, "ms");
  Record(prefix + ".p99", p99, "ms");
  Record(prefix + ".max", max, "ms");
  if (f.restart_count)
    std::printf("%srestartCount %lld (kills %d)%s\n", Pad("").c_str(), static_cast<long long>(*f.restart_count), kills,
                *f.restart_count == kills ? "" : "  <-- differs");
  else
    std::printf("%srestartCount unavailable (apps.list failed)\n", Pad("").c_str());
  if (!f.enforcement.empty()) std::printf("%senforcement: %s\n", Pad("").c_str(), f.enforcement.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  std::string bin = std::getenv("OPENCLAW_BIN") ? std::getenv("OPENCLAW_BIN") : "bin/openclaw";
  fs::path package = fs::absolute(fs::path(bin)).parent_path() / ".." / "bench-packages" / kProbeId;
  package = package.lexically_normal();
  if (!fs::exists(package / "openclawos.manifest.json") || !fs::exists(package / kProbeId))
    Die("the probe app is not built: " + package.string() + " (cmake --build <dir> --target restart-probe)");
  bin = fs::absolute(bin).string();
  fs::path root = fs::temp_directory_path() / ("oc-restart-bench-" + std::to_string(getpid()));
  fs::create_directories(root);

  RestartFigures plain = MeasureRestarts(bin, package, root / "plain", false, opt.kills);
  PrintRestarts("app restart (SIGKILL → ready)", "app", plain, opt.kills);
  RestartFigures boxed = MeasureRestarts(bin, package, root / "sandboxed", true, opt.kills);
  PrintRestarts("app restart, sandboxed", "app_sandboxed", boxed, opt.kills);
  // Both runs' restarts as the kernel counted them (-1 when a count could not be read).
  double counted =
      plain.restart_count && boxed.restart_count ? static_cast<double>(*plain.restart_count + *boxed.restart_count) : -1;
  std::printf("%s%.0f counted by the kernel for %d kills\n", Pad("restart.count").c_str(), counted, 2 * opt.kills);
  Record("restart.count", counted, "count");

  // Gateway start on the embedded defaults. The first start in a fresh home also creates state.db
  // and the workspace, so it is timed apart from the others.
  fs::path start_home = root / "start";
  fs::create_directories(start_home);
  std::ofstream(start_home / "config.json") << "{}";
  std::vector<double> starts;
  double first = 0;
  for (int i = 0; i <= opt.starts; ++i) {
    auto t0 = Clock::now();
    KernelProcess s = StartKernel(bin, start_home);
    double ms = Micros(Clock::now() - t0) / 1000.0;
    StopKernel(s);
    if (i == 0) first = ms;
    else starts.push_back(ms);
  }
  double s50 = Percentile(starts, 0.5), s99 = Percentile(starts, 0.99);
  std::printf("%sp50 %7.2f ms   p99 %7.2f ms   (%d starts; first in a fresh home %.2f ms)\n",
              Pad("gateway start → accepting").c_str(), s50, s99, opt.starts, first);
  Record("start.gateway.p50", s50, "ms");
  Record("start.gateway.p99", s99, "ms");
  Record("start.gateway.first", first, "ms");
  fs::remove_all(root);
  return 0;
}
