#include "vault/keyring.h"

#include <libsecret/secret.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace oc::vault::keyring {
namespace {

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
  Deadline() : cancellable_(g_cancellable_new()), watchdog_([this] { Watch(); }) {}
  ~Deadline() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    watchdog_.join();
    g_object_unref(cancellable_);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  GCancellable* get() { return cancellable_; }

 private:
  void Watch() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, kCallTimeout, [this] { return done_; })) g_cancellable_cancel(cancellable_);
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  GCancellable* cancellable_;
  std::thread watchdog_;
};

// Takes ownership of `error` (may be null) and turns it into an Error.
Error Unreachable(GError* error, const char* what) {
  std::string message = std::string("keyring ") + what + " failed: " + (error ? error->message : "unknown error");
  if (error && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    message = std::string("keyring ") + what + " did not answer within " +
              std::to_string(kCallTimeout.count()) + " s";
  if (error) g_error_free(error);
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
  Deadline deadline;
  GError* error = nullptr;
  gchar* value = secret_password_lookup_sync(Schema(), deadline.get(), &error, "home", home.c_str(), "slot", slot,
                                             static_cast<char*>(nullptr));
  if (error) {
    if (value) secret_password_free(value);
    return Unreachable(error, "lookup");
  }
  if (!value) return std::optional<std::string>();
  std::string out(value);
  secret_password_free(value);  // wipes the copy libsecret made
  return std::optional<std::string>(std::move(out));
}

Status Store(const std::filesystem::path& home, const char* slot, const std::string& value) {
  std::string label = "OpenClawOS vault key (" + home.string() + ")";
  if (std::string_view(slot) == kPending) label = "OpenClawOS vault key, rotation in progress (" + home.string() + ")";
  Deadline deadline;
  GError* error = nullptr;
  gboolean ok = secret_password_store_sync(Schema(), SECRET_COLLECTION_DEFAULT, label.c_str(), value.c_str(),
                                           deadline.get(), &error, "home", home.c_str(), "slot", slot,
                                           static_cast<char*>(nullptr));
  if (!ok || error) return Unreachable(error, "store");
  return Status::Ok();
}

Status Clear(const std::filesystem::path& home, const char* slot) {
  Deadline deadline;
  GError* error = nullptr;
  secret_password_clear_sync(Schema(), deadline.get(), &error, "home", home.c_str(), "slot", slot,
                             static_cast<char*>(nullptr));
  if (error) return Unreachable(error, "clear");
  return Status::Ok();
}

}  // namespace oc::vault::keyring
