// Test harness for supervisor tests: a recording Observer, shell-script apps in a temp dir, and a
// loop driver (the tests run the io_context themselves).
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/supervisor.h"

namespace oc::supervisor::testing {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

class RecordingObserver : public Observer {
 public:
  struct Change {
    AppStatus status;
    Clock::time_point at;
  };
  struct Event {
    std::string app_id;
    Clock::time_point at;
  };

  void OnStateChanged(const AppStatus& status) override {
    changes.push_back({status, Clock::now()});
  }
  void SendShutdown(std::string_view app_id, std::string_view reason, int64_t timeout_ms) override {
    shutdowns.push_back({std::string(app_id), Clock::now()});
    last_shutdown_reason = std::string(reason);
    last_shutdown_timeout = timeout_ms;
    if (on_shutdown) on_shutdown(app_id);
  }
  void OnExited(std::string_view app_id) override {
    exits.push_back({std::string(app_id), Clock::now()});
  }

  // Changes of one app into `state`, in order.
  std::vector<Change> ChangesTo(std::string_view id, AppState state) const {
    std::vector<Change> out;
    for (const auto& c : changes) {
      if (c.status.package_id == id && c.status.state == state) out.push_back(c);
    }
    return out;
  }
  std::vector<Event> ExitsOf(std::string_view id) const {
    std::vector<Event> out;
    for (const auto& e : exits) {
      if (e.app_id == id) out.push_back(e);
    }
    return out;
  }

  std::vector<Change> changes;
  std::vector<Event> shutdowns;
  std::vector<Event> exits;
  std::string last_shutdown_reason;
  int64_t last_shutdown_timeout = 0;
  std::function<void(std::string_view)> on_shutdown;  // simulates the app reacting to app:shutdown
};

// Small timings so that the whole policy plays out in well under a second per test.
inline SupervisorSettings FastSettings() {
  SupervisorSettings s;
  s.start_timeout_ms = 5000;
  s.heartbeat_interval_ms = 50;
  s.heartbeat_timeout_ms = 5000;
  s.restart_delay_ms = 50;
  s.backoff_multiplier = 2;
  s.max_restart_delay_ms = 1000;
  s.max_restarts = 5;
  s.restart_window_ms = 60000;
  s.shutdown_timeout_ms = 300;
  s.kill_grace_ms = 300;
  return s;
}

class SupervisorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "oc-sup-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    socket_path_ = root_ / "kernel.sock";
  }
  void TearDown() override {
    sup_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void MakeSupervisor(SupervisorSettings settings = FastSettings()) {
    sup_ = std::make_unique<Supervisor>(io_, settings, observer_, socket_path_);
  }

  // An executable `#!/bin/sh` app in its own package directory.
  std::filesystem::path WriteScript(const std::string& id, const std::string& body,
                                    int mode = 0755) {
    std::filesystem::path dir = root_ / "pkg" / id;
    std::filesystem::create_directories(dir);
    std::filesystem::path main = dir / "main.sh";
    std::ofstream(main) << "#!/bin/sh\n" << body << "\n";
    ::chmod(main.c_str(), static_cast<mode_t>(mode));
    return main;
  }

  AppSpec MakeSpec(const std::string& id, const std::filesystem::path& main) {
    AppSpec spec;
    spec.id = id;
    spec.dir = main.parent_path();
    spec.executable = main;
    spec.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", root_.string()}, {"LANG", "C"}};
    spec.log_file = root_ / "logs" / "apps" / (id + ".log");
    return spec;
  }

  // Adds and starts a script app.
  void StartScript(const std::string& id, const std::string& body) {
    sup_->Add(MakeSpec(id, WriteScript(id, body)));
    ASSERT_TRUE(sup_->Start(id).ok());
  }

  // Runs the loop until `done` holds or `timeout` passes.
  bool RunUntil(const std::function<bool()>& done, Ms timeout = Ms(5000)) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      io_.restart();
      io_.run_for(Ms(5));
    }
    return true;
  }
  void RunFor(Ms duration) {
    auto deadline = Clock::now() + duration;
    while (Clock::now() < deadline) {
      io_.restart();
      io_.run_for(Ms(5));
    }
  }

  // Runs an awaitable to completion on the loop.
  template <class T>
  T Await(asio::awaitable<T> op, Ms timeout = Ms(10000)) {
    std::optional<T> result;
    asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e, T value) {
      if (e) std::rethrow_exception(e);
      result = std::move(value);
    });
    EXPECT_TRUE(RunUntil([&] { return result.has_value(); }, timeout));
    return std::move(*result);
  }
  void AwaitVoid(asio::awaitable<void> op, Ms timeout = Ms(10000)) {
    bool done = false;
    asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      done = true;
    });
    EXPECT_TRUE(RunUntil([&] { return done; }, timeout));
  }

  AppState StateOf(std::string_view id) { return sup_->Get(id)->state; }
  std::optional<pid_t> PidOf(std::string_view id) { return sup_->Get(id)->pid; }
  bool LogsContain(std::string_view id, std::string_view text) {
    for (const auto& line : sup_->Logs(id, 1000)) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  // The rest of the first log line starting with `prefix` ("" when none).
  std::string LogValue(std::string_view id, std::string_view prefix) {
    for (const auto& line : sup_->Logs(id, 1000)) {
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    return "";
  }
  bool WaitForLog(std::string_view id, std::string_view text, Ms timeout = Ms(5000)) {
    return RunUntil([&] { return LogsContain(id, text); }, timeout);
  }
  bool WaitForState(std::string_view id, AppState state, Ms timeout = Ms(5000)) {
    return RunUntil([&] { return StateOf(id) == state; }, timeout);
  }
  size_t StartsOf(std::string_view id) {
    return observer_.ChangesTo(id, AppState::kStarting).size();
  }

  std::filesystem::path root_;
  std::filesystem::path socket_path_;
  asio::io_context io_;
  RecordingObserver observer_;
  std::unique_ptr<Supervisor> sup_;
};

inline int64_t MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<Ms>(to - from).count();
}

inline bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  // A zombie nobody reaped yet (e.g. reparented to a non-reaping init) is gone as well.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

}  // namespace oc::supervisor::testing
