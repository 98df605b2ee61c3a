#include "extensions/extension_host.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <openclawos/extension.h>
#include <openclawos/extension_json.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "registry/capabilities.h"
#include "registry/manifest.h"

namespace oc::extensions {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using registry::TrustLevel;
using Clock = std::chrono::steady_clock;

const fs::path kTestdata = OC_EXT_TESTDATA_DIR;
const fs::path kExamples = OC_EXT_EXAMPLES_DIR;

// The counters testdata/test_extension.c exports (C11 atomic_int has the layout of std::atomic<int>).
struct TestkitStats {
  std::atomic<int> init_calls, shutdown_calls, hook_events;
};

// The test holds its own handle on the testkit library, so the host's dlclose never unmaps it and
// the counters survive between loads. A package that hard-links the library shares this instance
// (the dynamic loader recognises the same file by device and inode).
TestkitStats& Stats() {
  static void* handle = dlopen((kTestdata / "oc_ext_testkit.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  static auto* fn = handle ? reinterpret_cast<TestkitStats* (*)()>(dlsym(handle, "testkit_stats")) : nullptr;
  if (!fn) std::abort();
  return *fn();
}

json::value J(std::string_view s) { return ParseJson(s).value(); }

class ExtensionHostTest : public ::testing::Test {
 protected:
  ExtensionHostTest() {
    std::random_device rd;
    // Next to the test libraries, so packages can hard-link them (same file system).
    tmp_ = kTestdata / ("pkgs-" + std::to_string(rd()));
    fs::create_directories(tmp_);
  }
  ~ExtensionHostTest() override {
    host_.reset();
    workers_.join();
    io_.restart();
    io_.poll();  // completions posted back by the workers
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Runs `task` on the loop until it finishes (at most 10 s).
  template <class T>
  T Await(asio::awaitable<T> task) {
    std::optional<T> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(task)); }, asio::detached);
    auto deadline = Clock::now() + 10s;
    while (!result && Clock::now() < deadline) {
      io_.restart();
      io_.run_one_for(50ms);
    }
    if (!result) ADD_FAILURE() << "timed out";
    return std::move(result).value();
  }
  void RunFor(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }

  static registry::Package PackageAt(const fs::path& dir) {
    registry::ManifestReport report = registry::LoadManifest(dir);
    EXPECT_TRUE(report.ok()) << report.Format();
    return registry::Package{*report.manifest, dir, false};
  }
  static registry::Grants GrantsFor(const registry::Package& pkg, TrustLevel trust = TrustLevel::kVerified) {
    return registry::ComputeGrants(pkg.manifest, trust, {}, {});
  }

  // A package in a temp dir whose main is `library` from the test data (a hard link, so it shares the
  // test's instance of the library, or a private copy). main must not be a symlink leading out of
  // the package, so the link is a hard one.
  registry::Package MakePackage(const std::string& id, const std::string& library, json::object capabilities,
                                bool copy = false) {
    fs::path dir = tmp_ / id;
    fs::create_directories(dir);
    capabilities["security"] = json::object{{"trustLevel", "verified"}};
    json::object manifest{{"id", id},
                          {"name", id},
                          {"version", "1.0.0"},
                          {"type", "extension"},
                          {"main", "lib.so"},
                          {"protocol", json::object{{"version", "1.0"}}},
                          {"capabilities", std::move(capabilities)}};
    std::ofstream(dir / "openclawos.manifest.json") << json::serialize(manifest);
    fs::remove(dir / "lib.so");
    if (copy)
      fs::copy_file(kTestdata / library, dir / "lib.so");
    else
      fs::create_hard_link(kTestdata / library, dir / "lib.so");
    return PackageAt(dir);
  }
  // Everything the testkit registers, declared.
  static json::object TestkitCapabilities() {
    return J(R"({"tools": {"provides": ["sleepy", "fail_tool", "echo_tool", "register_late"]},
                 "gateway": {"methods": ["testkit.echo", "testkit.fail", "testkit.garbage"]},
                 "hooks": {"intercepts": ["message_sending", "before_tool_call"], "subscribes": ["agent_end"]}})")
        .as_object();
  }
  void LoadTestkit() {
    registry::Package pkg = MakePackage("testkit", "oc_ext_testkit.so", TestkitCapabilities());
    Status s = host_->Load(pkg, GrantsFor(pkg));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  // Polls `done` on the loop (workers deliver asynchronously) for at most 5 s.
  template <class Pred>
  bool Eventually(Pred done) {
    auto deadline = Clock::now() + 5s;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      RunFor(10ms);
    }
    return true;
  }

  fs::path tmp_;
  asio::io_context io_;
  asio::thread_pool workers_{2};
  hooks::HookBus bus_{io_.get_executor(), hooks::HookSettings{300, {}, {}}};
  std::unique_ptr<ExtensionHost> host_ = std::make_unique<ExtensionHost>(io_.get_executor(), workers_, bus_);
};

TEST_F(ExtensionHostTest, WordstatsSkillToolIsListedAndInvoked) {
  registry::Package pkg = PackageAt(kExamples / "skill-wordstats");
  EXPECT_EQ(pkg.manifest.type, registry::PackageType::kSkill);
  EXPECT_EQ(registry::EffectiveTrust(pkg, "verified"), TrustLevel::kVerified);
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_TRUE(s.ok()) << s.error().message;

  EXPECT_EQ(host_->Loaded(), std::vector<std::string>{"skill-wordstats"});
  std::vector<agent::ToolSpec> tools = host_->Tools();
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0].name, "text_stats");
  EXPECT_FALSE(tools[0].description.empty());
  EXPECT_EQ(*FindPath(tools[0].input_schema, "properties.text.type"), "string");
  EXPECT_TRUE(host_->HasTool("text_stats"));
  EXPECT_EQ(host_->ToolOwner("text_stats"), "skill-wordstats");

  agent::ToolOutcome out =
      Await(host_->InvokeTool("text_stats", json::object{{"text", "The cat and the hat.\nThe END\n"}}));
  ASSERT_FALSE(out.is_error) << out.output;
  EXPECT_EQ(J(out.output), J(R"({"words": 7, "lines": 2, "chars": 29, "topWords": [
      {"word": "the", "count": 3}, {"word": "and", "count": 1}, {"word": "cat", "count": 1},
      {"word": "end", "count": 1}, {"word": "hat", "count": 1}]})"));

  // Characters are code points, not bytes; a text without a final newline still has its last line.
  out = Await(host_->InvokeTool("text_stats", json::object{{"text", "h\xC3\xA9llo \xF0\x9F\x98\x80\nx"}}));
  ASSERT_FALSE(out.is_error) << out.output;
  json::value stats = J(out.output);
  EXPECT_EQ(stats.at("chars"), 9);
  EXPECT_EQ(stats.at("lines"), 2);
  EXPECT_EQ(stats.at("words"), 3);

  out = Await(host_->InvokeTool("text_stats", json::object{{"text", 42}}));
  EXPECT_TRUE(out.is_error);
  EXPECT_NE(out.output.find("needs"), std::string::npos) << out.output;
}

TEST_F(ExtensionHostTest, HelloExtensionMethodCountsHookEventsFromTheBus) {
  registry::Package pkg = PackageAt(kExamples / "extension-hello");
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(host_->Methods(), std::vector<std::string>{"extension-hello.greet"});
  EXPECT_EQ(host_->MethodOwner("extension-hello.greet"), "extension-hello");
  EXPECT_TRUE(bus_.HasHandlers("message_received"));
  EXPECT_EQ(bus_.SubscriptionsOf("extension-hello"), std::vector<std::string>{"message_received"});

  Result<json::value> r =
      Await(host_->CallMethod("extension-hello.greet", json::object{{"name", "Ada \"A\""}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, J(R"({"greeting": "Hello, Ada \"A\"!", "eventsSeen": 0})"));

  for (int i = 0; i < 3; ++i)
    bus_.Emit("message_received", J(R"({"sessionKey": "s", "content": "hi", "metadata": {}})"));
  bus_.Emit("message_sent", J(R"({"channelId": "c", "target": "t", "content": "x", "deliveredAt": 1})"));
  int64_t seen = -1;
  EXPECT_TRUE(Eventually([&] {
    Result<json::value> g = Await(host_->CallMethod("extension-hello.greet", json::object{}));
    seen = g.ok() ? g->at("eventsSeen").as_int64() : -1;
    return seen == 3;
  })) << "eventsSeen "
      << seen;
  RunFor(50ms);
  r = Await(host_->CallMethod("extension-hello.greet", json::object{}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, J(R"({"greeting": "Hello, world!", "eventsSeen": 3})"));
}

TEST_F(ExtensionHostTest, DescribeListsWhatEachPackageRegistered) {
  registry::Package hello = PackageAt(kExamples / "extension-hello");
  registry::Package words = PackageAt(kExamples / "skill-wordstats");
  ASSERT_TRUE(host_->Load(hello, GrantsFor(hello)).ok());
  ASSERT_TRUE(host_->Load(words, GrantsFor(words)).ok());
  EXPECT_EQ(host_->Loaded(), (std::vector<std::string>{"extension-hello", "skill-wordstats"}));
  json::array described = host_->Describe().as_array();
  ASSERT_EQ(described.size(), 2u);
  json::object& h = described[0].as_object();
  EXPECT_EQ(h.at("id"), "extension-hello");
  EXPECT_EQ(h.at("type"), "extension");
  EXPECT_EQ(h.at("name"), "Hello extension");
  EXPECT_EQ(h.at("abi"), 1);
  EXPECT_EQ(h.at("methods"), J(R"(["extension-hello.greet"])"));
  EXPECT_EQ(h.at("hooks"), J(R"({"subscribes": ["message_received"], "intercepts": []})"));
  EXPECT_EQ(h.at("tools"), json::array());
  EXPECT_TRUE(fs::exists(std::string(h.at("path").as_string())));
  json::object& w = described[1].as_object();
  EXPECT_EQ(w.at("type"), "skill");
  EXPECT_EQ(w.at("tools"), J(R"(["text_stats"])"));
}

TEST_F(ExtensionHostTest, MainSymlinkedOutsideThePackageIsRefused) {
  int inits = Stats().init_calls;
  registry::Package pkg = MakePackage("testkit", "oc_ext_testkit.so", TestkitCapabilities());
  fs::remove(pkg.dir / "lib.so");
  fs::create_symlink(kTestdata / "oc_ext_testkit.so", pkg.dir / "lib.so");  // lexically fine, leads out
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(s.error().message, "testkit: main resolves outside the package directory");

  // A sibling whose name starts with the package's: inside by string prefix, outside by components.
  fs::create_directories(tmp_ / "testkit-evil");
  fs::create_hard_link(kTestdata / "oc_ext_testkit.so", tmp_ / "testkit-evil" / "lib.so");
  fs::remove(pkg.dir / "lib.so");
  fs::create_symlink(tmp_ / "testkit-evil" / "lib.so", pkg.dir / "lib.so");
  s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "testkit: main resolves outside the package directory");
  EXPECT_EQ(Stats().init_calls, inits);  // no code was run
  EXPECT_TRUE(host_->Loaded().empty());

  // A symlink that stays inside the package is fine.
  fs::create_directories(pkg.dir / "bin");
  fs::rename(tmp_ / "testkit-evil" / "lib.so", pkg.dir / "bin" / "real.so");
  fs::remove(pkg.dir / "lib.so");
  fs::create_symlink("bin/real.so", pkg.dir / "lib.so");
  s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Stats().init_calls, inits + 1);
}

TEST_F(ExtensionHostTest, WrongAbiIsRefusedNamingBothVersions) {
  registry::Package pkg = MakePackage("abi-test", "oc_ext_wrong_abi.so", json::object{});
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(s.error().message, "abi-test: built for extension ABI 2, this kernel speaks 1");
  EXPECT_EQ(s.error().data, J(R"({"abi": 2, "kernelAbi": 1})"));
  EXPECT_TRUE(host_->Loaded().empty());
}

TEST_F(ExtensionHostTest, CommunityTrustIsRefused) {
  registry::Package pkg = PackageAt(kExamples / "extension-hello");
  TrustLevel trust = registry::EffectiveTrust(pkg, std::nullopt);  // no apps.<id>.trustLevel set
  ASSERT_EQ(trust, TrustLevel::kCommunity);
  Status s = host_->Load(pkg, GrantsFor(pkg, trust));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(s.error().message,
            "extension-hello: trust level community may not load in-process code; set "
            "apps.extension-hello.trustLevel to verified to allow it");
  s = host_->Load(pkg, GrantsFor(pkg, TrustLevel::kUntrusted));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kForbidden);
  EXPECT_FALSE(bus_.HasHandlers("message_received"));
  EXPECT_TRUE(host_->Methods().empty());
  // core (shipped) loads.
  EXPECT_TRUE(host_->Load(pkg, GrantsFor(pkg, TrustLevel::kCore)).ok());
}

TEST_F(ExtensionHostTest, AppPackagesAreNotLoadedInProcess) {
  registry::Package pkg = MakePackage("testkit", "oc_ext_testkit.so", TestkitCapabilities());
  pkg.manifest.type = registry::PackageType::kApp;
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(s.error().message.find("type app"), std::string::npos) << s.error().message;
  pkg.manifest.type = registry::PackageType::kExtension;
  pkg.manifest.main = "../escape.so";
  s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
}

TEST_F(ExtensionHostTest, UndeclaredToolIsRefusedAndNothingStays) {
  int inits = Stats().init_calls, shutdowns = Stats().shutdown_calls;
  json::object caps = TestkitCapabilities();
  caps["tools"] = J(R"({"provides": ["sleepy", "fail_tool", "register_late"]})");  // no echo_tool
  registry::Package pkg = MakePackage("testkit", "oc_ext_testkit.so", caps);
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kCapabilityDenied);
  EXPECT_EQ(s.error().message,
            "testkit: tool \"echo_tool\" is not granted (declare it in capabilities.tools.provides)");
  // init ran and returned 0: it is owed its shutdown; nothing is left registered.
  EXPECT_EQ(Stats().init_calls, inits + 1);
  EXPECT_EQ(Stats().shutdown_calls, shutdowns + 1);
  EXPECT_TRUE(host_->Loaded().empty());
  EXPECT_TRUE(host_->Tools().empty());
  EXPECT_TRUE(host_->Methods().empty());
  EXPECT_TRUE(host_->AuthProviders().empty());
  EXPECT_FALSE(bus_.HasHandlers("message_sending"));
  EXPECT_FALSE(bus_.HasHandlers("agent_end"));
  EXPECT_TRUE(host_->Describe().as_array().empty());
}

TEST_F(ExtensionHostTest, HookNotGrantedAsInterceptIsRefused) {
  json::object caps = TestkitCapabilities();
  // message_sending only subscribed: the testkit's interceptor is not granted.
  caps["hooks"] =
      J(R"({"intercepts": ["before_tool_call"], "subscribes": ["agent_end", "message_sending"]})");
  registry::Package pkg = MakePackage("testkit", "oc_ext_testkit.so", caps);
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kCapabilityDenied);
  EXPECT_EQ(s.error().message,
            "testkit: hook \"message_sending\" is not granted (declare it in capabilities.hooks.intercepts)");
  EXPECT_FALSE(bus_.HasHandlers("before_tool_call"));
  EXPECT_FALSE(bus_.HasHandlers("message_sending"));
  // A deny in apps.<id>.denies refuses a declared hook the same way.
  pkg.manifest.hooks_intercepts = {"message_sending", "before_tool_call"};
  pkg.manifest.hooks_subscribes = {"agent_end"};
  registry::Grants denied =
      registry::ComputeGrants(pkg.manifest, TrustLevel::kVerified, {}, {"hooks.subscribes:agent_end"});
  s = host_->Load(pkg, denied);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "testkit: hook \"agent_end\" is not granted (declare it in capabilities.hooks.subscribes)");
  EXPECT_TRUE(host_->Loaded().empty());
}

TEST_F(ExtensionHostTest, InitFailureIsReportedWithoutShutdown) {
  int inits = Stats().init_calls, shutdowns = Stats().shutdown_calls;
  registry::Package pkg = MakePackage("testkit-initfail", "oc_ext_testkit.so", json::object{});
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInternalError);
  EXPECT_EQ(s.error().message, "testkit-initfail: init failed (returned 7)");
  EXPECT_EQ(Stats().init_calls, inits + 1);
  EXPECT_EQ(Stats().shutdown_calls, shutdowns);
  EXPECT_TRUE(host_->Loaded().empty());
}

TEST_F(ExtensionHostTest, MissingLibraryAndMissingEntryPoint) {
  registry::Package pkg = MakePackage("gone", "oc_ext_no_entry.so", json::object{});
  fs::remove(pkg.dir / "lib.so");
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInternalError);
  EXPECT_EQ(s.error().message.rfind("gone: cannot load ", 0), 0u) << s.error().message;
  EXPECT_NE(s.error().message.find("No such file"), std::string::npos) << s.error().message;

  pkg = MakePackage("no-entry", "oc_ext_no_entry.so", json::object{});
  s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(s.error().message.find("has no entry point openclawos_extension"), std::string::npos)
      << s.error().message;
  EXPECT_TRUE(host_->Loaded().empty());
}

TEST_F(ExtensionHostTest, SameIdTwiceAndNameTakenByAnotherPackageConflict) {
  LoadTestkit();
  registry::Package pkg = PackageAt(tmp_ / "testkit");
  Status s = host_->Load(pkg, GrantsFor(pkg));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_EQ(s.error().message, "testkit: already loaded");

  // Another package (a private copy of the library) registering the same tools.
  registry::Package other = MakePackage(
      "testkit-two", "oc_ext_testkit.so",
      J(R"({"tools": {"provides": ["sleepy", "fail_tool", "echo_tool", "register_late"]}})").as_object(),
      /*copy=*/true);
  s = host_->Load(other, GrantsFor(other));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_EQ(s.error().message, "testkit-two: tool \"sleepy\" is already registered by testkit");
  EXPECT_EQ(host_->Loaded(), std::vector<std::string>{"testkit"});
  EXPECT_EQ(host_->ToolOwner("sleepy"), "testkit");
}

TEST_F(ExtensionHostTest, ToolMethodAndAuthAnswers) {
  LoadTestkit();
  EXPECT_EQ(host_->Tools().size(), 4u);
  EXPECT_EQ(host_->AuthProviders(), std::vector<std::string>{"testkit-auth"});

  agent::ToolOutcome out = Await(host_->InvokeTool("echo_tool", J(R"({"x": [1, "two"]})")));
  EXPECT_FALSE(out.is_error);
  EXPECT_EQ(J(out.output), J(R"({"x": [1, "two"]})"));
  out = Await(host_->InvokeTool("fail_tool", json::object{}));
  EXPECT_TRUE(out.is_error);
  EXPECT_EQ(out.output, "tool fail_tool failed (returned 3)");
  out = Await(host_->InvokeTool("nope", json::object{}));
  EXPECT_TRUE(out.is_error);
  EXPECT_EQ(out.output, "unknown tool: nope");
  // Registration is only possible during init.
  out = Await(host_->InvokeTool("register_late", json::object{}));
  EXPECT_EQ(out.output, "rc=" + std::to_string(OC_EXT_STATE));
  EXPECT_FALSE(host_->HasTool("late_tool"));

  Result<json::value> r = Await(host_->CallMethod("testkit.echo", J(R"({"a": 1})")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, J(R"({"a": 1})"));
  r = Await(host_->CallMethod("testkit.fail", json::object{}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(r.error().message, "bad thing");
  r = Await(host_->CallMethod("testkit.garbage", json::object{}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInternalError);
  EXPECT_NE(r.error().message.find("invalid JSON"), std::string::npos);
  r = Await(host_->CallMethod("testkit.missing", json::object{}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kMethodNotFound);

  r = Await(host_->CheckAuth("testkit-auth", "letmein"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, J(R"({"ok": true, "subject": "tester"})"));
  r = Await(host_->CheckAuth("testkit-auth", "guess"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, J(R"({"ok": false})"));
  r = Await(host_->CheckAuth("other", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(ExtensionHostTest, InterceptorsModifyAndBlockThroughTheBus) {
  LoadTestkit();
  hooks::InterceptOutcome o = Await(bus_.RunIntercept(
      "message_sending", J(R"({"channelId": "c", "target": "t", "content": "hello", "metadata": {}})")));
  EXPECT_FALSE(o.blocked);
  EXPECT_EQ(o.data.at("content"), "intercepted");

  o = Await(bus_.RunIntercept("before_tool_call", J(R"({"toolName": "banned", "toolInput": {}})")));
  EXPECT_TRUE(o.blocked);
  EXPECT_EQ(o.reason, "banned by testkit");
  EXPECT_EQ(o.blocked_by, "testkit");

  o = Await(bus_.RunIntercept("before_tool_call", J(R"({"toolName": "read", "toolInput": {}})")));
  EXPECT_FALSE(o.blocked);  // no answer = continue

  // A subscriber registered under an alias (agent_completed) receives agent_end.
  int events = Stats().hook_events;
  bus_.Emit("agent_end", J(R"({"runId": "r", "success": true})"));
  EXPECT_TRUE(Eventually([&] { return Stats().hook_events == events + 1; }));
}

TEST_F(ExtensionHostTest, SlowInterceptorFallsUnderTheBusTimeout) {
  LoadTestkit();
  auto start = Clock::now();
  hooks::InterceptOutcome o =
      Await(bus_.RunIntercept("before_tool_call", J(R"({"toolName": "slow", "toolInput": {}})")));
  auto took = Clock::now() - start;
  EXPECT_FALSE(o.blocked);  // a timeout is continue (the bus's interceptTimeoutMs is 300 here)
  EXPECT_LT(took, 900ms);
}

TEST_F(ExtensionHostTest, SlowToolTimesOutWithoutBlockingTheLoop) {
  LoadTestkit();
  host_->set_call_timeout(300ms);
  int shutdowns = Stats().shutdown_calls;
  int ticks = 0;
  bool stop = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_);
        while (!stop) {
          timer.expires_after(20ms);
          co_await timer.async_wait(asio::use_awaitable);
          ++ticks;
        }
      },
      asio::detached);
  auto start = Clock::now();
  agent::ToolOutcome out = Await(host_->InvokeTool("sleepy", J(R"({"ms": 1500})")));
  auto took = Clock::now() - start;
  EXPECT_TRUE(out.is_error);
  EXPECT_EQ(out.output, "tool sleepy timed out after 300 ms");
  EXPECT_LT(took, 1200ms);
  EXPECT_GE(ticks, 8);  // the loop kept running while the worker slept

  // The other worker still serves calls.
  out = Await(host_->InvokeTool("sleepy", J(R"({"ms": 10})")));
  EXPECT_FALSE(out.is_error);
  EXPECT_EQ(out.output, "slept 10 ms");
  stop = true;
  RunFor(50ms);

  // Unloading while the slow callback still runs: hooks go now, shutdown waits for the callback.
  host_.reset();
  EXPECT_FALSE(bus_.HasHandlers("message_sending"));
  EXPECT_EQ(Stats().shutdown_calls, shutdowns);
  workers_.join();
  EXPECT_EQ(Stats().shutdown_calls, shutdowns + 1);
}

TEST_F(ExtensionHostTest, UnloadRemovesEverythingAndCallsShutdown) {
  LoadTestkit();
  int shutdowns = Stats().shutdown_calls;
  ASSERT_TRUE(host_->Unload("testkit").ok());
  EXPECT_EQ(Stats().shutdown_calls, shutdowns + 1);
  EXPECT_TRUE(host_->Tools().empty());
  EXPECT_FALSE(bus_.HasHandlers("message_sending"));
  Status s = host_->Unload("testkit");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  LoadTestkit();  // and it loads again
  EXPECT_TRUE(host_->HasTool("sleepy"));
}

// The SDK's header-only JSON helpers (sdk/c/include/openclawos/extension_json.h).
std::string GetString(const char* json, const char* key) {
  char* s = oc_ext_json_get_string(json, key);
  std::string out = s ? s : "<null>";
  std::free(s);
  return out;
}

TEST(ExtensionJsonHelpers, GetStringSkipsOtherFieldsAndDecodesEscapes) {
  const char* doc =
      R"( {"a": 1, "b": {"x": [1, "}\"", {"y": null}]}, "c": true, "text": "h\u00e9\ud83d\ude00\n\"q\"\/"} )";
  EXPECT_EQ(GetString(doc, "text"), "h\xC3\xA9\xF0\x9F\x98\x80\n\"q\"/");
  EXPECT_EQ(GetString(doc, "a"), "<null>");  // not a string
  EXPECT_EQ(GetString(doc, "missing"), "<null>");
  EXPECT_EQ(GetString(R"({"b": {"text": "nested"}})", "text"), "<null>");  // top level only
  EXPECT_EQ(GetString(R"(["text"])", "text"), "<null>");
  EXPECT_EQ(GetString(R"({"text": "unterminated)", "text"), "<null>");
  EXPECT_EQ(GetString(R"({"text": "bad \x"})", "text"), "<null>");
  EXPECT_EQ(GetString(R"({"text": "\ud83d alone"})", "text"), "<null>");
  EXPECT_EQ(GetString(R"({"a" 1, "text": "x"})", "text"), "<null>");
  EXPECT_EQ(GetString(R"({})", "text"), "<null>");
  EXPECT_EQ(GetString(nullptr, "text"), "<null>");
}

TEST(ExtensionJsonHelpers, QuoteEscapesForJson) {
  char* q = oc_ext_json_quote("a\"b\\c\n\t\x01 \xC3\xA9");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(std::string(q), "\"a\\\"b\\\\c\\n\\t\\u0001 \xC3\xA9\"");
  EXPECT_EQ(J(q), "a\"b\\c\n\t\x01 \xC3\xA9");
  std::free(q);
  q = oc_ext_json_quote(nullptr);
  EXPECT_EQ(std::string(q), "\"\"");
  std::free(q);
}

}  // namespace
}  // namespace oc::extensions
