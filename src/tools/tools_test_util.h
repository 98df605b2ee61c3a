// Test-only: a temporary workspace and a BuiltinTools wired to a real io_context, worker pool,
// HttpClient and ApprovalBroker, for the tools' tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "agent/http_client.h"
#include "agent/test_http_server.h"
#include "tools/approvals.h"
#include "tools/builtin_tools.h"

namespace oc::tools::testing {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "oc-tools-XXXXXX").string();
    path_ = fs::canonical(::mkdtemp(tmpl.data()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void WriteFile(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// base/workspace is the workspace; base/outside is a sibling the tools must not reach.
class ToolsFixture : public ::testing::Test {
 protected:
  ToolsFixture()
      : http_(io_.get_executor()), broker_(io_.get_executor()), tools_(io_.get_executor(), workers_, http_, broker_) {
    ws_ = base_.path() / "workspace";
    outside_ = base_.path() / "outside";
    fs::create_directories(ws_);
    fs::create_directories(outside_);
    call_.workspace = ws_;
    call_.agent_id = "main";
    call_.session_key = "agent:main:test";
    call_.run_id = "run-1";
  }
  ~ToolsFixture() override { workers_.join(); }

  agent::ToolOutcome Invoke(const std::string& name, json::value input) {
    return agent::test_server::RunCoroutine(io_, tools_.Invoke(name, std::move(input), call_));
  }

  boost::asio::io_context io_;
  boost::asio::thread_pool workers_{1};
  agent::HttpClient http_;
  ApprovalBroker broker_;
  BuiltinTools tools_;
  TempDir base_;
  fs::path ws_, outside_;
  BuiltinCall call_;
};

}  // namespace oc::tools::testing
