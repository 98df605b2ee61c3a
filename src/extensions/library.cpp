#include "extensions/library.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <exception>
#include <utility>

// The answer slot behind the C header's opaque `oc_output`: lives on the worker's stack for the
// duration of one callback.
struct oc_output {
  bool answered = false;
  bool is_error = false;
  std::string text;
};

namespace oc::extensions {
namespace {

// The version-1 descriptor ends with `shutdown`: a smaller struct_size cannot be a v1 descriptor.
constexpr size_t kMinDescriptorSize = offsetof(oc_extension, shutdown) + sizeof(void (*)(void));

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

bool Empty(const char* s) { return s == nullptr || *s == '\0'; }

}  // namespace

std::string_view CallbackKindName(CallbackKind kind) {
  switch (kind) {
    case CallbackKind::kTool:
      return "tool";
    case CallbackKind::kHook:
      return "hook";
    case CallbackKind::kMethod:
      return "method";
    case CallbackKind::kAuth:
      return "auth provider";
  }
  return "callback";
}

Library::Library(std::string id, std::string type, std::string dir, std::string path)
    : id_(std::move(id)), type_(std::move(type)), dir_(std::move(dir)), path_(std::move(path)) {
  api_.abi_version = OPENCLAWOS_EXTENSION_ABI_VERSION;
  api_.struct_size = sizeof(oc_host_api);
  api_.host = this;
  api_.package_id = id_.c_str();
  api_.package_dir = dir_.c_str();
  api_.register_tool = &Library::RegisterTool;
  api_.register_hook = &Library::RegisterHook;
  api_.register_method = &Library::RegisterMethod;
  api_.register_auth_provider = &Library::RegisterAuthProvider;
  api_.set_result = &Library::SetResult;
  api_.log = &Library::Log;
}

Result<std::shared_ptr<Library>> Library::Open(std::string package_id, std::string package_type,
                                               const std::filesystem::path& package_dir,
                                               const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(package_dir, ec);
  std::filesystem::path file = std::filesystem::absolute(path, ec);
  std::shared_ptr<Library> lib(
      new Library(std::move(package_id), std::move(package_type), dir.string(), file.string()));
  const std::string& id = lib->id_;
  lib->handle_ = dlopen(lib->path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle_)
    return MakeError(ErrorCode::kInternalError, id + ": cannot load " + lib->path_ + ": " + DlError());
  dlerror();  // clear, so a NULL symbol value is told apart from a missing symbol
  void* symbol = dlsym(lib->handle_, OPENCLAWOS_EXTENSION_ENTRY_SYMBOL);
  if (!symbol) {
    return MakeError(ErrorCode::kInvalidParams, id + ": " + lib->path_ + " has no entry point " +
                                                    OPENCLAWOS_EXTENSION_ENTRY_SYMBOL +
                                                    " (not an OpenClawOS extension library)");
  }
  auto entry = reinterpret_cast<oc_extension_entry>(symbol);
  const oc_extension* descriptor = entry();
  if (!descriptor)
    return MakeError(ErrorCode::kInvalidParams,
                     id + ": " + OPENCLAWOS_EXTENSION_ENTRY_SYMBOL + " returned NULL");
  // abi_version is the first field in every ABI version: read nothing else before it matches.
  if (descriptor->abi_version != OPENCLAWOS_EXTENSION_ABI_VERSION) {
    return MakeError(
        ErrorCode::kInvalidParams,
        id + ": built for extension ABI " + std::to_string(descriptor->abi_version) +
            ", this kernel speaks " + std::to_string(OPENCLAWOS_EXTENSION_ABI_VERSION),
        json::object{{"abi", descriptor->abi_version}, {"kernelAbi", OPENCLAWOS_EXTENSION_ABI_VERSION}});
  }
  if (descriptor->struct_size < kMinDescriptorSize) {
    return MakeError(ErrorCode::kInvalidParams,
                     id + ": extension descriptor too small (" + std::to_string(descriptor->struct_size) +
                         " bytes, ABI 1 needs " + std::to_string(kMinDescriptorSize) + ")");
  }
  if (!descriptor->init)
    return MakeError(ErrorCode::kInvalidParams, id + ": extension descriptor has no init function");
  lib->descriptor_ = descriptor;
  return lib;
}

Library::~Library() {
  if (initialized_ && descriptor_->shutdown) {
    try {
      descriptor_->shutdown();
    } catch (...) {
      spdlog::error("extension {}: shutdown threw an exception", id_);
    }
  }
  if (handle_ && dlclose(handle_) != 0) spdlog::warn("extension {}: dlclose: {}", id_, DlError());
}

std::string Library::display_name() const {
  return descriptor_ && descriptor_->name ? descriptor_->name : id_;
}

Status Library::Init(Checker check) {
  check_ = std::move(check);
  registering_ = true;
  int rc = 0;
  try {
    rc = descriptor_->init(&api_);
  } catch (const std::exception& e) {
    rc = -1;
    spdlog::error("extension {}: init threw: {}", id_, e.what());
  } catch (...) {
    rc = -1;
    spdlog::error("extension {}: init threw an exception", id_);
  }
  registering_ = false;
  check_ = nullptr;
  // A refused registration wins over init's own verdict: it says what is wrong. init may have
  // returned 0 anyway (ignoring the refusal), so shutdown is owed then.
  initialized_ = rc == 0;
  if (refusal_) return *refusal_;
  if (rc != 0)
    return MakeError(ErrorCode::kInternalError, id_ + ": init failed (returned " + std::to_string(rc) + ")");
  return Status::Ok();
}

CallAnswer Library::Call(size_t index, const std::string& input) const {
  CallAnswer answer;
  if (unloading_) {
    answer.failure = "the package is being unloaded";
    return answer;
  }
  const Registration& r = registrations_.at(index);
  oc_output out;
  try {
    answer.rc = r.fn(r.user, input.c_str(), &out);
    answer.ran = true;
  } catch (const std::exception& e) {
    answer.failure = std::string("the callback threw: ") + e.what();
  } catch (...) {
    answer.failure = "the callback threw an exception";
  }
  answer.answered = out.answered;
  answer.is_error = out.is_error;
  answer.text = std::move(out.text);
  return answer;
}

int Library::Refuse(int code, Error error) {
  spdlog::warn("extension {}", error.message);  // the message starts with the package id
  if (!refusal_) refusal_ = std::move(error);
  return code;
}

int Library::Add(Registration r) {
  std::string what = std::string(CallbackKindName(r.kind)) + " \"" + r.name + "\"";
  if (!registering_) {
    spdlog::warn("extension {}: {} registered outside init: ignored", id_, what);
    return OC_EXT_STATE;
  }
  if (r.name.empty())
    return Refuse(OC_EXT_INVALID,
                  MakeError(ErrorCode::kInvalidParams, id_ + ": " + std::string(CallbackKindName(r.kind)) +
                                                           " registered without a name"));
  if (!r.fn)
    return Refuse(OC_EXT_INVALID,
                  MakeError(ErrorCode::kInvalidParams, id_ + ": " + what + " without a callback"));
  if (std::optional<Error> refused = check_(r)) {
    int code = refused->code == ErrorCode::kConflict           ? OC_EXT_CONFLICT
               : refused->code == ErrorCode::kCapabilityDenied ? OC_EXT_DENIED
                                                               : OC_EXT_INVALID;
    return Refuse(code, std::move(*refused));
  }
  for (const Registration& other : registrations_) {
    if (other.kind == r.kind && other.name == r.name && other.intercept == r.intercept) {
      return Refuse(OC_EXT_CONFLICT,
                    MakeError(ErrorCode::kConflict, id_ + ": " + std::string(CallbackKindName(r.kind)) +
                                                        " \"" + r.name + "\" registered twice"));
    }
  }
  registrations_.push_back(std::move(r));
  return OC_EXT_OK;
}

int Library::RegisterTool(void* host, const char* name, const char* description,
                          const char* input_schema_json, oc_ext_callback invoke, void* user) try {
  auto* lib = static_cast<Library*>(host);
  Registration r{CallbackKind::kTool,
                 Empty(name) ? "" : name,
                 Empty(description) ? "" : description,
                 json::object{{"type", "object"}},
                 false,
                 invoke,
                 user};
  if (!Empty(input_schema_json)) {
    Result<json::value> schema = ParseJson(input_schema_json);
    if (!schema.ok() || !schema->is_object()) {
      return lib->Refuse(OC_EXT_INVALID, MakeError(ErrorCode::kInvalidParams,
                                                   lib->id_ + ": tool \"" + r.name +
                                                       "\": the input schema is not a JSON object"));
    }
    r.input_schema = std::move(*schema);
  }
  return lib->Add(std::move(r));
} catch (...) {
  return OC_EXT_INVALID;  // out of memory: nothing may escape into C code
}

int Library::RegisterHook(void* host, const char* hook, int intercept, oc_ext_callback on_event,
                          void* user) try {
  // The hook name is resolved (aliases) by the host's checker, which knows the hook table.
  Registration r{CallbackKind::kHook, Empty(hook) ? "" : hook, "", nullptr, intercept != 0, on_event, user};
  return static_cast<Library*>(host)->Add(std::move(r));
} catch (...) {
  return OC_EXT_INVALID;
}

int Library::RegisterMethod(void* host, const char* method, oc_ext_callback call, void* user) try {
  Registration r{CallbackKind::kMethod, Empty(method) ? "" : method, "", nullptr, false, call, user};
  return static_cast<Library*>(host)->Add(std::move(r));
} catch (...) {
  return OC_EXT_INVALID;
}

int Library::RegisterAuthProvider(void* host, const char* name, oc_ext_callback check, void* user) try {
  Registration r{CallbackKind::kAuth, Empty(name) ? "" : name, "", nullptr, false, check, user};
  return static_cast<Library*>(host)->Add(std::move(r));
} catch (...) {
  return OC_EXT_INVALID;
}

void Library::SetResult(oc_output* out, const char* text, int is_error) {
  if (!out) return;
  try {
    out->text = text ? text : "";
    out->answered = true;
    out->is_error = is_error != 0;
  } catch (...) {
    out->answered = true;  // out of memory copying the text: report an (empty) error answer
    out->is_error = true;
  }
}

void Library::Log(void* host, int level, const char* message) {
  if (!host) return;
  try {
    auto* lib = static_cast<Library*>(host);
    spdlog::level::level_enum spd = level <= OC_EXT_LOG_DEBUG  ? spdlog::level::debug
                                    : level == OC_EXT_LOG_INFO ? spdlog::level::info
                                    : level == OC_EXT_LOG_WARN ? spdlog::level::warn
                                                               : spdlog::level::err;
    spdlog::log(spd, "[{}] {}", lib->id_, message ? message : "");
  } catch (...) {
  }
}

}  // namespace oc::extensions
