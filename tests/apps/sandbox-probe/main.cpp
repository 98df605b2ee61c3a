// A test app for the process sandbox: `sandbox-probe.try {what, path?, port?, pid?}` attempts one
// thing a sandboxed app may or may not do and answers {ok, errno?, error?, ...} — the app keeps
// serving after every attempt, so the caller also sees its IPC still works.
//   read {path}   open + read a file        write {path}   create/overwrite a file
//   connect {port} TCP connect to 127.0.0.1  ptrace {pid?}  PTRACE_ATTACH (default: the parent)
//   env            {tmpdir, dataDir, netns, coreLimit}
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "openclawos/app.h"

namespace {

using oc::json::object;
using oc::json::value;
namespace asio = boost::asio;

object Outcome(bool ok, int error = 0) {
  object out{{"ok", ok}};
  if (!ok) {
    out["errno"] = error;
    out["error"] = std::strerror(error);
  }
  return out;
}

object TryRead(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Outcome(false, errno);
  std::stringstream text;
  text << in.rdbuf();
  object out = Outcome(true);
  out["text"] = text.str();
  return out;
}

object TryWrite(const std::string& path) {
  std::ofstream out(path);
  if (!out) return Outcome(false, errno);
  out << "written by sandbox-probe\n";
  out.close();
  return out ? Outcome(true) : Outcome(false, errno);
}

object TryConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Outcome(false, errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int error = errno;
  ::close(fd);
  return rc == 0 ? Outcome(true) : Outcome(false, error);
}

object TryPtrace(pid_t pid) {
  if (::ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) != 0) return Outcome(false, errno);
  ::waitpid(pid, nullptr, __WALL);
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return Outcome(true);
}

object Env() {
  const char* data_dir = std::getenv("OPENCLAWOS_APP_DATA");
  const char* tmp = std::getenv("TMPDIR");
  std::error_code ec;
  struct rlimit core {};
  ::getrlimit(RLIMIT_CORE, &core);
  return {{"ok", true},
          {"tmpdir", tmp ? tmp : ""},
          {"dataDir", data_dir ? data_dir : ""},
          {"netns", std::filesystem::read_symlink("/proc/self/ns/net", ec).string()},
          {"coreLimit", static_cast<int64_t>(core.rlim_cur)}};
}

class Probe : public openclawos::sdk::App {
 protected:
  asio::awaitable<oc::Status> Setup() override {
    co_return co_await RegisterMethod("sandbox-probe.try", [](value params) -> asio::awaitable<oc::Result<value>> {
      const object* p = params.if_object();
      std::string what = p ? std::string(oc::GetString(*p, "what").value_or("")) : "";
      std::string path = p ? std::string(oc::GetString(*p, "path").value_or("")) : "";
      if (what == "read") co_return value(TryRead(path));
      if (what == "write") co_return value(TryWrite(path));
      if (what == "connect") co_return value(TryConnect(static_cast<int>(p ? oc::GetInt(*p, "port").value_or(0) : 0)));
      if (what == "ptrace")
        co_return value(TryPtrace(static_cast<pid_t>(p ? oc::GetInt(*p, "pid").value_or(::getppid()) : ::getppid())));
      if (what == "env") co_return value(Env());
      co_return oc::MakeError(oc::ErrorCode::kInvalidParams, "unknown what: " + what);
    });
  }
};

}  // namespace

int main() {
  Probe probe;
  return probe.Run();
}
