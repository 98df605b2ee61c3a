// Fuzzes the config reader (SPEC §14): the lenient JSON reader (comments, trailing commas), "${VAR}"
// substitution, env overrides, defaults, schema validation, the cross-field checks, and the
// {"$secret": NAME} handling built on top (Redacted, FindSecretRefs, WithSecretsResolved).
//
// Invariants checked:
//  - nothing crashes; an error always carries a message and a non-empty list of {path, message};
//  - a Config's root is an object; every typed accessor can be read;
//  - Redacted() never shows a {"$secret"} reference, and shows "[redacted]" at every reference path;
//  - resolving every reference leaves none behind; skipping apps.* leaves only those;
//  - a valid config written back out (when it has no '$' to re-substitute) reads back to the same root.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/config_internal.h"
#include "fuzz_check.h"

namespace {

using namespace oc;
using namespace oc::config;

const EnvLookup& Env() {
  static const EnvLookup env = MapEnv({{"PORT", "18790"}, {"HOST", "127.0.0.1"}, {"EMPTY", ""},
                                       {"TOKEN", "env-token-value"}, {"NESTED", "${PORT}"}, {"OPENCLAW_PORT", "19000"}});
  return env;
}

void CheckError(const Error& e) {
  FUZZ_CHECK(!e.message.empty());
  const json::object* data = e.data.if_object();
  FUZZ_CHECK(data != nullptr);
  const json::value* errors = data->if_contains("errors");
  FUZZ_CHECK(errors && errors->is_array() && !errors->as_array().empty());
  for (const auto& err : errors->as_array()) {
    FUZZ_CHECK(err.is_object());
    FUZZ_CHECK(err.as_object().contains("path") && err.at("path").is_string());
    FUZZ_CHECK(err.as_object().contains("message") && !err.at("message").as_string().empty());
  }
}

bool HasSecretRef(const json::value& v) { return !FindSecretRefs(v).empty(); }

void CheckAccessors(const Config& c) {
  (void)c.gateway();
  (void)c.supervisor();
  (void)c.ipc();
  (void)c.hooks();
  (void)c.logging();
  (void)c.ChannelEnabled("irc");
  if (const json::value* apps = c.Find("apps"); apps && apps->is_object())
    for (const auto& [id, v] : apps->as_object()) (void)c.app(id);
}

void CheckSecrets(const Config& c) {
  json::value shown = c.Redacted();
  FUZZ_CHECK(!HasSecretRef(shown));
  auto refs = FindSecretRefs(c.root());
  for (const auto& ref : refs) {
    FUZZ_CHECK(!ref.name.empty());
    // Only plain dotted paths can be looked up again (keys may contain '.', arrays use [i]).
    if (ref.path.find('[') != std::string::npos) continue;
    const json::value* original = c.Find(ref.path);
    // The path may lead elsewhere (keys containing '.', empty keys): check only real references.
    if (original == nullptr || !original->is_object() || !original->as_object().contains("$secret")) continue;
    FUZZ_CHECK(c.Redacted(ref.path) == json::value(kRedacted));
  }
  auto all = c.WithSecretsResolved([](std::string_view name) -> Result<std::string> {
    return "value-of-" + std::string(name);
  });
  FUZZ_CHECK(all.ok());
  FUZZ_CHECK(!HasSecretRef(all->root()));
  auto skip_apps = [](std::string_view path) { return path.starts_with("apps."); };
  auto some = c.WithSecretsResolved(
      [](std::string_view name) -> Result<std::string> {
        return MakeError(ErrorCode::kNotFound, "no secret \"" + std::string(name) + "\"");
      },
      skip_apps);
  bool outside_apps = false;
  for (const auto& ref : refs) outside_apps |= !ref.path.starts_with("apps.");
  FUZZ_CHECK(some.ok() == !outside_apps);
  if (!some.ok()) FUZZ_CHECK(some.error().data.at("errors").as_array().size() >= 1);
}

void CheckRoundTrip(const Config& c) {
  std::string text = json::serialize(c.root());
  if (text.find('$') != std::string::npos) return;  // would be substituted again
  auto again = Config::FromText(text, MapEnv({}));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->root() == c.root());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto doc = internal::ParseDocument(input);
  if (doc.ok()) FUZZ_CHECK(doc->is_object());
  else CheckError(doc.error());

  auto cfg = Config::FromText(input, Env());
  if (!cfg.ok()) {
    CheckError(cfg.error());
    return 0;
  }
  FUZZ_CHECK(doc.ok());
  FUZZ_CHECK(cfg->root().is_object());
  CheckAccessors(*cfg);
  CheckSecrets(*cfg);
  CheckRoundTrip(*cfg);
  return 0;
}
