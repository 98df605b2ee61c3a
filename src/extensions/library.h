// One extension library loaded into the kernel (internal to oc_extensions): dlopen, the ABI check,
// the host side of the C API (registration during init, answers, logging), and calling a registered
// callback on a worker thread.
//
// Threading: Open, Init and the accessors run on the kernel's loop; Call runs on worker threads,
// concurrently. Registrations are written only during Init and are read-only afterwards, so Call
// needs no lock. The destructor (shutdown + dlclose) runs wherever the last reference is dropped:
// workers hold one while a callback runs, so code is never unmapped under a running callback.
#pragma once

#include <openclawos/extension.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::extensions {

enum class CallbackKind { kTool, kHook, kMethod, kAuth };
// "tool", "hook", "method", "auth provider": for messages.
std::string_view CallbackKindName(CallbackKind kind);

struct Registration {
  CallbackKind kind = CallbackKind::kTool;
  std::string name;          // tool / canonical hook / method / auth provider name
  std::string description;   // tools only
  json::value input_schema;  // tools only: a JSON Schema object
  bool intercept = false;    // hooks only
  oc_ext_callback fn = nullptr;
  void* user = nullptr;
};

// How one callback ended.
struct CallAnswer {
  bool ran = false;       // false: skipped (the package is unloading) or it threw; see `failure`
  int rc = 0;             // the callback's return value
  bool answered = false;  // set_result was called
  bool is_error = false;  // set_result's is_error
  std::string text;       // set_result's text
  std::string failure;    // why it did not run
};

class Library {
 public:
  // Checks one registration against the grants and the other loaded packages; an Error refuses it.
  // It may canonicalise the name (hook aliases) before the duplicate check within the library.
  using Checker = std::function<std::optional<Error>(Registration&)>;

  // dlopen()s `path` (RTLD_NOW | RTLD_LOCAL), finds the entry point and checks the descriptor: ABI
  // version first, then its size and init. Errors as documented at ExtensionHost::Load; the library
  // is closed again on failure. Nothing of the library runs here but its static
  // initialisers (dlopen runs them) and its entry point.
  static Result<std::shared_ptr<Library>> Open(std::string package_id, std::string package_type,
                                               const std::filesystem::path& package_dir,
                                               const std::filesystem::path& path);
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  // Calls shutdown (when init succeeded) and dlclose()s.
  ~Library();

  // Runs init once. Every registration goes through `check`, then through the duplicate check within
  // this library. The first refusal (or init's non-zero return) fails Init; later calls of
  // register_* (from callbacks) are refused with OC_EXT_STATE.
  Status Init(Checker check);

  // Runs registration `index` with `input` (worker thread). Never throws.
  CallAnswer Call(size_t index, const std::string& input) const;
  // From now on Call skips the callback (the host is unloading the package).
  void MarkUnloading() { unloading_ = true; }

  const std::string& id() const { return id_; }
  const std::string& type() const { return type_; }
  const std::string& path() const { return path_; }
  std::string display_name() const;
  uint32_t abi_version() const { return descriptor_->abi_version; }
  const std::vector<Registration>& registrations() const { return registrations_; }

 private:
  Library(std::string id, std::string type, std::string dir, std::string path);

  // The C side of oc_host_api: `host` is the Library.
  static int RegisterTool(void* host, const char* name, const char* description,
                          const char* input_schema_json, oc_ext_callback invoke, void* user);
  static int RegisterHook(void* host, const char* hook, int intercept, oc_ext_callback on_event, void* user);
  static int RegisterMethod(void* host, const char* method, oc_ext_callback call, void* user);
  static int RegisterAuthProvider(void* host, const char* name, oc_ext_callback check, void* user);
  static void SetResult(oc_output* out, const char* text, int is_error);
  static void Log(void* host, int level, const char* message);

  // Validates and records a registration; returns the OC_EXT_* code.
  int Add(Registration registration);
  int Refuse(int code, Error error);

  std::string id_, type_, dir_, path_;
  void* handle_ = nullptr;
  const oc_extension* descriptor_ = nullptr;
  oc_host_api api_{};
  std::vector<Registration> registrations_;
  Checker check_;
  bool registering_ = false;
  bool initialized_ = false;  // init returned 0: shutdown is owed
  std::optional<Error> refusal_;
  std::atomic<bool> unloading_{false};
};

}  // namespace oc::extensions
