// The extension loader (SPEC §10): loads `skill` and `extension` packages — shared libraries speaking
// the C ABI of sdk/c/include/openclawos/extension.h — into the kernel process, and exposes what they
// register: agent tools, control-plane methods, auth providers, and hook handlers on the HookBus.
//
// Threading: an ExtensionHost lives on the kernel's loop (`loop`); call every method from there. Load
// blocks (dlopen and the library's init), so call it at startup or on config reload, not while serving.
// Extension callbacks may block, so they run on `workers`; their answers come back on `loop`. A call
// that does not answer within call_timeout() is abandoned (tools: an error outcome; methods and auth:
// kTimeout); the loop never waits for a worker. A callback that never returns keeps its worker busy
// forever: with every worker stuck, later calls queue and time out too.
//
// Isolation: none. Extension code runs in the kernel's address space: a callback that crashes,
// corrupts memory or exits takes the kernel down, which is why only trust `core` and `verified` load.
//
// Lifetime: `bus`, `workers` and the execution context of `loop` must outlive the host, and the
// work still queued on `workers` (join the pool before destroying the loop's context). Unloading
// (destruction) removes the hooks at once, skips callbacks still queued, and calls shutdown and
// dlclose() when the last callback in flight has returned (possibly on a worker thread).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/agent.h"
#include "agent/llm.h"
#include "common/json.h"
#include "common/status.h"
#include "hooks/hook_bus.h"
#include "registry/capabilities.h"
#include "registry/packages.h"

namespace oc::extensions {

class Library;        // one loaded shared library and what it registered (library.h)
struct Registration;  // one tool / hook / method / auth provider of a Library
enum class CallbackKind;

class ExtensionHost {
 public:
  ExtensionHost(asio::any_io_executor loop, asio::thread_pool& workers, hooks::HookBus& bus);
  ExtensionHost(const ExtensionHost&) = delete;
  ExtensionHost& operator=(const ExtensionHost&) = delete;
  // Unloads every package (see Lifetime above).
  ~ExtensionHost();

  // How long a tool, method or auth call may take before its caller gives up. Default 60 s. Hook
  // interceptors fall under the bus's hooks.interceptTimeoutMs instead.
  void set_call_timeout(std::chrono::milliseconds timeout) { call_timeout_ = timeout; }
  std::chrono::milliseconds call_timeout() const { return call_timeout_; }

  // Loads the library pkg.dir / pkg.manifest.main and runs its init. On any failure nothing stays
  // registered (and the library is unloaded). Errors, each message starting with "<id>: ":
  //  - the id is already loaded: kConflict;
  //  - the package type is not skill/extension, or `main` is empty, absolute or has "..":
  //    kInvalidParams;
  //  - grants.trust is not core/verified: kForbidden ("<id>: trust level community may not load
  //    in-process code; set apps.<id>.trustLevel to verified to allow it");
  //  - dlopen fails (missing file, unresolved symbol...): kInternalError with dlerror();
  //  - no `openclawos_extension` symbol, or it returns NULL / a descriptor without init:
  //    kInvalidParams;
  //  - the descriptor's ABI differs: kInvalidParams ("<id>: built for extension ABI 2, this kernel
  //    speaks 1"); nothing but the entry point (and the library's static initialisers) has run;
  //  - a registration refused: not granted (a tool not in grants.tools, a method not in
  //    grants.gateway_methods, a hook not in grants.hooks_subscribe / hooks_intercept) →
  //    kCapabilityDenied naming it; a name another package (or this one) already registered →
  //    kConflict; an invalid one (unknown hook, bad schema JSON, NULL callback) → kInvalidParams.
  //    The first refusal is reported even when init returned 0 (shutdown is then called);
  //  - init returned non-zero: kInternalError (shutdown is not called).
  Status Load(const registry::Package& pkg, const registry::Grants& grants);

  // Unloads one package as the destructor does (hooks removed now, shutdown and dlclose once its
  // last callback in flight returns). kNotFound when it is not loaded.
  Status Unload(std::string_view id);

  // Ids of the loaded packages, sorted.
  std::vector<std::string> Loaded() const;

  // Tools of every loaded package, sorted by name.
  std::vector<agent::ToolSpec> Tools() const;
  bool HasTool(std::string_view name) const;
  std::optional<std::string> ToolOwner(std::string_view name) const;
  // Runs the tool on a worker. Unknown tool, a callback that failed, was skipped (unloading) or timed
  // out: an error outcome saying so (never an exception). Otherwise the text the tool answered.
  asio::awaitable<agent::ToolOutcome> InvokeTool(std::string name, json::value input);

  // Gateway methods of every loaded package, sorted; the kernel registers them on the control server.
  std::vector<std::string> Methods() const;
  std::optional<std::string> MethodOwner(std::string_view method) const;
  // Runs the method on a worker. The answer is parsed as JSON (no answer = null). Errors: unknown
  // method kMethodNotFound; timeout kTimeout; an answer that is not JSON kInternalError; an error
  // answer: its {code, message} when it gives a protocol code, else kInternalError with its text.
  asio::awaitable<Result<json::value>> CallMethod(std::string name, json::value params);

  // Auth providers of every loaded package, sorted.
  std::vector<std::string> AuthProviders() const;
  // check(credential) → {ok: bool, subject?: string}. Errors: unknown provider kNotFound; timeout
  // kTimeout; an error answer or one without a boolean "ok" kInternalError.
  asio::awaitable<Result<json::value>> CheckAuth(std::string name, std::string credential);

  // For `openclaw apps info/list` and status, sorted by id:
  // [{id, type, name, abi, path, tools[], methods[], authProviders[],
  //   hooks {subscribes[], intercepts[]}}].
  json::value Describe() const;

 private:
  // A registration of a package being loaded: refused when not granted or already taken.
  std::optional<Error> CheckRegistration(const std::string& id, const registry::Grants& grants,
                                         Registration& registration) const;
  Status RegisterHooks(const std::shared_ptr<Library>& lib, int trust_rank);
  // The library and registration index of a tool / method / auth provider; nullopt when unknown.
  std::optional<std::pair<std::shared_ptr<Library>, size_t>> Find(CallbackKind kind,
                                                                  std::string_view name) const;
  std::vector<std::string> Names(CallbackKind kind) const;  // sorted

  asio::any_io_executor loop_;
  asio::thread_pool& workers_;
  hooks::HookBus& bus_;
  std::chrono::milliseconds call_timeout_{60000};
  std::map<std::string, std::shared_ptr<Library>, std::less<>> libraries_;  // by package id
  // Deliveries that finish after the host is gone must not touch the bus: they hold a weak_ptr.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace oc::extensions
