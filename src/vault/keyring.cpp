#include "vault/keyring.h"

#include <dlfcn.h>
#include <libsecret/secret.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace oc::vault::keyring {
namespace {

// libsecret (and with it GLib, GObject, GIO, libgcrypt) is loaded on the first keyring call, not
// linked: a kernel whose master key comes from the environment or vault.key, as on every headless
// server, never maps those libraries (about 3 MiB of its idle RSS). The header gives the types.
struct SecretApi {
  decltype(&secret_password_lookup_sync) lookup;
  decltype(&secret_password_store_sync) store;
  decltype(&secret_password_clear_sync) clear;
  decltype(&secret_password_free) password_free;
  decltype(&g_cancellable_new) cancellable_new;
  decltype(&g_cancellable_cancel) cancellable_cancel;
  decltype(&g_object_unref) object_unref;
  decltype(&g_error_matches) error_matches;
  decltype(&g_error_free) error_free;
  decltype(&g_io_error_quark) io_error_quark;
};

template <class Fn>
bool Bind(void* library, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(library, name));  // searches libsecret's own dependencies too
  if (!fn) missing = name;
  return fn != nullptr;
}

Result<const SecretApi*> LoadApi() {
  static const Result<const SecretApi*> api = []() -> Result<const SecretApi*> {
    void* library = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      return MakeError(ErrorCode::kConnectionClosed, std::string("keyring unavailable: cannot load libsecret (") +
                                                          dlerror() + "); install libsecret-1-0");
    static SecretApi loaded{};
    std::string missing;
    bool ok = Bind(library, "secret_password_lookup_sync", loaded.lookup, missing) &&
              Bind(library, "secret_password_store_sync", loaded.store, missing) &&
              Bind(library, "secret_password_clear_sync", loaded.clear, missing) &&
              Bind(library, "secret_password_free", loaded.password_free, missing) &&
              Bind(library, "g_cancellable_new", loaded.cancellable_new, missing) &&
              Bind(library, "g_cancellable_cancel", loaded.cancellable_cancel, missing) &&
              Bind(library, "g_object_unref", loaded.object_unref, missing) &&
              Bind(library, "g_error_matches", loaded.error_matches, missing) &&
              Bind(library, "g_error_free", loaded.error_free, missing) &&
              Bind(library, "g_io_error_quark", loaded.io_error_quark, missing);
    if (!ok) return MakeError(ErrorCode::kConnectionClosed, "keyring unavailable: libsecret lacks " + missing);
    return static_cast<const SecretApi*>(&loaded);
  }();
  return api;
}

const SecretSchema* Schema() {
  static const SecretSchema schema = [] {
    SecretSchema s{};
    s.name = "org.openclawos.Vault";
    s.flags = SECRET_SCHEMA_NONE;
    s.attributes[0] = {"home", SECRET_SCHEMA_ATTRIBUTE_STRING};
    s.attributes[1] = {"slot", SECRET_SCHEMA_ATTRIBUTE_STRING};
    s.attributes[2] = {nullptr, SECRET_SCHEMA_ATTRIBUTE_STRING};
    return s;
  }();
  return &schema;
}

// A GCancellable that a watchdog thread cancels after kCallTimeout unless the call ended first.
class Deadline {
 public:
  explicit Deadline(const SecretApi& api)
      : api_(api), cancellable_(api.cancellable_new()), watchdog_([this] { Watch(); }) {}
  ~Deadline() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    watchdog_.join();
    api_.object_unref(cancellable_);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  GCancellable* get() { return cancellable_; }

 private:
  void Watch() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, kCallTimeout, [this] { return done_; })) api_.cancellable_cancel(cancellable_);
  }
  const SecretApi& api_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  GCancellable* cancellable_;
  std::thread watchdog_;
};

// Takes ownership of `error` (may be null) and turns it into an Error.
Error Unreachable(const SecretApi& api, GError* error, const char* what) {
  std::string message = std::string("keyring ") + what + " failed: " + (error ? error->message : "unknown error");
  if (error && api.error_matches(error, api.io_error_quark(), G_IO_ERROR_CANCELLED))
    message = std::string("keyring ") + what + " did not answer within " +
              std::to_string(kCallTimeout.count()) + " s";
  if (error) api.error_free(error);
  return MakeError(ErrorCode::kConnectionClosed, message);
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Whether GDBus itself (which reads the real process environment) would find a bus without
// autolaunching one.
bool ProcessHasBus() {
  const char* address = std::getenv("DBUS_SESSION_BUS_ADDRESS");
  if (address && *address) return true;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  return runtime && *runtime && IsSocket(std::string(runtime) + "/bus");
}

}  // namespace

std::optional<std::string> BusMissing(const config::EnvLookup& env) {
  auto address = env("DBUS_SESSION_BUS_ADDRESS");
  auto runtime = env("XDG_RUNTIME_DIR");
  bool lookup_has_bus = (address && !address->empty()) ||
                        (runtime && !runtime->empty() && IsSocket(*runtime + "/bus"));
  if (lookup_has_bus && ProcessHasBus()) return std::nullopt;
  return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus)";
}

Result<std::optional<std::string>> Lookup(const std::filesystem::path& home, const char* slot) {
  auto loaded = LoadApi();
  if (!loaded.ok()) return loaded.error();
  const SecretApi& api = **loaded;
  Deadline deadline(api);
  GError* error = nullptr;
  gchar* value = api.lookup(Schema(), deadline.get(), &error, "home", home.c_str(), "slot", slot,
                            static_cast<char*>(nullptr));
  if (error) {
    if (value) api.password_free(value);
    return Unreachable(api, error, "lookup");
  }
  if (!value) return std::optional<std::string>();
  std::string out(value);
  api.password_free(value);  // wipes the copy libsecret made
  return std::optional<std::string>(std::move(out));
}

Status Store(const std::filesystem::path& home, const char* slot, const std::string& value) {
  std::string label = "OpenClawOS vault key (" + home.string() + ")";
  if (std::string_view(slot) == kPending) label = "OpenClawOS vault key, rotation in progress (" + home.string() + ")";
  auto loaded = LoadApi();
  if (!loaded.ok()) return loaded.error();
  const SecretApi& api = **loaded;
  Deadline deadline(api);
  GError* error = nullptr;
  gboolean ok = api.store(Schema(), SECRET_COLLECTION_DEFAULT, label.c_str(), value.c_str(), deadline.get(), &error,
                          "home", home.c_str(), "slot", slot, static_cast<char*>(nullptr));
  if (!ok || error) return Unreachable(api, error, "store");
  return Status::Ok();
}

Status Clear(const std::filesystem::path& home, const char* slot) {
  auto loaded = LoadApi();
  if (!loaded.ok()) return loaded.error();
  const SecretApi& api = **loaded;
  Deadline deadline(api);
  GError* error = nullptr;
  api.clear(Schema(), deadline.get(), &error, "home", home.c_str(), "slot", slot, static_cast<char*>(nullptr));
  if (error) return Unreachable(api, error, "clear");
  return Status::Ok();
}

}  // namespace oc::vault::keyring
