#include "bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace bench {

namespace {

struct Figure {
  double value;
  std::string unit;
};

// Insertion order kept so the JSON reads in the order the benchmark measured.
std::vector<std::pair<std::string, Figure>>& Figures() {
  static std::vector<std::pair<std::string, Figure>> figures;
  return figures;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

void Record(const std::string& name, double value, const std::string& unit) {
  // The list is constructed before the handler is registered, so it is destroyed after it runs.
  static bool registered = [] {
    Figures();
    return std::atexit([] { WriteFigures(); }) == 0;
  }();
  (void)registered;
  for (auto& [key, figure] : Figures())
    if (key == name) {
      figure = {value, unit};
      return;
    }
  Figures().push_back({name, {value, unit}});
}

bool WriteFigures() {
  const char* path = std::getenv("OC_BENCH_JSON");
  if (!path || !*path) return true;
  std::ofstream out(path, std::ios::trunc);
  out << "{";
  const char* sep = "\n";
  for (const auto& [name, figure] : Figures()) {
    char number[64];
    // A figure that is not finite (a phase that measured nothing) is written as null.
    if (std::isfinite(figure.value)) std::snprintf(number, sizeof(number), "%.6g", figure.value);
    else std::snprintf(number, sizeof(number), "null");
    out << sep << "  " << JsonString(name) << ": {\"value\": " << number << ", \"unit\": " << JsonString(figure.unit) << "}";
    sep = ",\n";
  }
  out << "\n}\n";
  return static_cast<bool>(out);
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool TcpAccepts(int port) {
  int fd = ConnectTcp(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Skips without copying: the throughput bench reads hundreds of thousands of lines, and a reader
// slower than the kernel writes would get it disconnected as a slow client.
bool LineReader::ReadLines(size_t count) {
  while (count > 0) {
    if (pos_ == len_) {
      ssize_t n = read(fd_, buf_, sizeof(buf_));
      if (n <= 0) return false;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const char* nl = static_cast<const char*>(memchr(buf_ + pos_, '\n', len_ - pos_));
    if (!nl) {
      pos_ = len_;
      continue;
    }
    pos_ = static_cast<size_t>(nl - buf_) + 1;
    --count;
  }
  return true;
}

bool LineReader::ReadLine(std::string& line) {
  line.clear();
  while (true) {
    if (pos_ == len_) {
      ssize_t n = read(fd_, buf_, sizeof(buf_));
      if (n <= 0) return false;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const char* start = buf_ + pos_;
    const char* nl = static_cast<const char*>(memchr(start, '\n', len_ - pos_));
    if (!nl) {
      line.append(start, len_ - pos_);
      pos_ = len_;
      continue;
    }
    line.append(start, static_cast<size_t>(nl - start));
    pos_ = static_cast<size_t>(nl - buf_) + 1;
    return true;
  }
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}


KernelProcess StartKernel(const std::string& bin, const fs::path& home, bool wait) {
  KernelProcess k;
  k.home = home;
  k.socket = (home / "kernel.sock").string();
  k.port = FreePort();
  k.pid = fork();
  if (k.pid == 0) {
    setenv("OPENCLAWOS_HOME", home.c_str(), 1);
    setenv("OPENCLAWOS_SOCKET", k.socket.c_str(), 1);
    setenv("OPENCLAW_PORT", std::to_string(k.port).c_str(), 1);
    setenv("OPENCLAWOS_SHIPPED_PACKAGES", (home / "shipped").c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(bin.c_str(), bin.c_str(), "gateway", nullptr);
    _exit(127);
  }
  // A connect, not the socket file's existence: the file appears at bind(), before listen().
  auto ipc_accepts = [&] {
    int fd = fs::exists(k.socket) ? ConnectUnix(k.socket) : -1;
    if (fd >= 0) close(fd);
    return fd >= 0;
  };
  if (wait)
    while (!(ipc_accepts() && TcpAccepts(k.port))) std::this_thread::sleep_for(std::chrono::microseconds(200));
  return k;
}

void StopKernel(KernelProcess& k) {
  kill(k.pid, SIGTERM);
  int status;
  waitpid(k.pid, &status, 0);
}

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

double CpuMicros(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end_of_name + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state; utime is 14, stime 15
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return (utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long PrivateDirtyKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Private_Dirty:", 0) == 0) return std::atol(line.c_str() + 14);
  return -1;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "bench: %s\n", why.c_str());
  std::exit(1);
}

LlmServer StartLlm(const std::string& bin) {
  int out[2];
  if (pipe(out) != 0) Die("pipe");
  LlmServer s;
  s.pid = fork();
  if (s.pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(bin.c_str(), bin.c_str(), "--port", "0", "--max-recorded", "0", nullptr);
    _exit(127);
  }
  close(out[1]);
  LineReader r(out[0]);
  std::string line;
  if (!r.ReadLine(line) || line.rfind("PORT ", 0) != 0) Die("oc-test-llm did not start (" + bin + ")");
  s.port = std::atoi(line.c_str() + 5);
  return s;
}

}  // namespace bench
