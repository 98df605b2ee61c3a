// {"$secret": NAME} references (SPEC §12): finding them and building the resolved copy of a config
// that the kernel's subsystems consume (the written config stays the one shown to users).
#include "config/config.h"

namespace oc::config {
namespace {

std::optional<std::string_view> RefName(const json::value& v) {
  const json::object* o = v.if_object();
  if (!o) return std::nullopt;
  const json::value* name = o->if_contains("$secret");
  if (!name || !name->is_string()) return std::nullopt;
  return std::string_view(name->get_string());
}

void Collect(const json::value& v, const std::string& path, std::vector<SecretRef>& out) {
  if (auto name = RefName(v)) {
    out.push_back({path, std::string(*name)});
    return;
  }
  if (const json::object* o = v.if_object()) {
    for (const auto& [key, sub] : *o) Collect(sub, JoinPath(path, key), out);
  } else if (const json::array* a = v.if_array()) {
    for (size_t i = 0; i < a->size(); ++i) Collect((*a)[i], IndexPath(path, i), out);
  }
}

struct Resolver {
  const Config::SecretLookup& lookup;
  const std::function<bool(std::string_view)>& skip;
  json::array errors;
  std::optional<Error> first;

  void Walk(json::value& v, const std::string& path) {
    if (skip && !path.empty() && skip(path)) return;
    if (auto name = RefName(v)) {
      std::string secret(*name);
      auto value = lookup(secret);
      if (value.ok()) {
        v = json::string(*value);
        return;
      }
      errors.push_back(json::object{{"path", path}, {"secret", secret}, {"message", value.error().message}});
      if (!first) first = MakeError(value.error().code, path + ": " + value.error().message);
      return;
    }
    if (json::object* o = v.if_object()) {
      for (auto& [key, sub] : *o) Walk(sub, JoinPath(path, key));
    } else if (json::array* a = v.if_array()) {
      for (size_t i = 0; i < a->size(); ++i) Walk((*a)[i], IndexPath(path, i));
    }
  }
};

}  // namespace

std::vector<SecretRef> FindSecretRefs(const json::value& v, std::string_view base) {
  std::vector<SecretRef> out;
  Collect(v, std::string(base), out);
  return out;
}

Result<Config> Config::WithSecretsResolved(const SecretLookup& lookup,
                                           const std::function<bool(std::string_view path)>& skip) const {
  json::value root = root_;
  Resolver resolver{lookup, skip, {}, std::nullopt};
  resolver.Walk(root, "");
  if (resolver.first) {
    Error e = *resolver.first;
    const json::object& err0 = resolver.errors.front().as_object();
    e.data = json::object{{"path", err0.at("path")}, {"secret", err0.at("secret")}, {"errors", resolver.errors}};
    return e;
  }
  return Config(std::move(root));
}

}  // namespace oc::config
