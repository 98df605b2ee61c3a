// `openclaw identities list|link|unlink` (SPEC §7.1): people and their conversation addresses in
// the config file's `identities` section. Offline: the running kernel watches the file and picks
// up a change by itself.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "config/config_file.h"

namespace oc::cli {
namespace {
namespace fs = std::filesystem;

// A conversation address is "<channel>:<id>" (the config schema's pattern ^[^:]+:.+$).
bool IsAddress(std::string_view a) {
  size_t colon = a.find(':');
  return colon != std::string_view::npos && colon > 0 && colon + 1 < a.size();
}

// The `identities` object as written in the config file (no defaults, no ${VAR} substitution), so
// what is written back is what the user wrote. A missing file or section is an empty object.
Result<json::object> ReadIdentities(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (!fs::exists(file)) return json::object();
    return MakeError(ErrorCode::kInvalidParams, file.string() + ": cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto root = ParseLenientJson(text.str());
  if (!root.ok()) return MakeError(ErrorCode::kInvalidParams, file.string() + ": " + root.error().message);
  if (!root->is_object()) return MakeError(ErrorCode::kInvalidParams, file.string() + ": the config must be an object");
  const json::value* ids = root->as_object().if_contains("identities");
  if (!ids) return json::object();
  if (!ids->is_object()) return MakeError(ErrorCode::kInvalidParams, "identities: must be an object");
  for (const auto& [name, list] : ids->as_object())
    if (!list.is_array())
      return MakeError(ErrorCode::kInvalidParams, JoinPath("identities", name) + ": must be a list of addresses");
  return ids->as_object();
}

bool Contains(const json::array& list, std::string_view address) {
  for (const auto& a : list)
    if (a.is_string() && a.get_string() == address) return true;
  return false;
}

// Removes `address` from `list`; true when it was there.
bool Remove(json::array& list, std::string_view address) {
  bool removed = false;
  for (size_t i = list.size(); i-- > 0;)
    if (list[i].is_string() && list[i].get_string() == address) {
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      removed = true;
    }
  return removed;
}

std::string Joined(const json::array& list) {
  std::string out;
  for (const auto& a : list) out += (out.empty() ? "" : ", ") + Str(&a);
  return out;
}

// Validates and writes `identities` back through config::SetValue (lenient parse, whole-config
// validation, atomic write). Prints the config errors on failure.
int WriteIdentities(json::object ids) {
  Status s = config::SetValue(Paths().config_file, "identities", std::move(ids));
  if (!s.ok()) {
    PrintConfigError(s.error());
    return kUsage;
  }
  return kOk;
}

// Loads the identities to edit; prints the problem and returns nullopt on failure.
std::optional<json::object> LoadForEdit() {
  auto ids = ReadIdentities(Paths().config_file);
  if (!ids.ok()) {
    std::cerr << "openclaw: " << ids.error().message << "\n";
    return std::nullopt;
  }
  return std::move(ids).value();
}

}  // namespace

int CmdIdentitiesList(const Options& o) {
  auto cfg = LoadConfig();
  if (!cfg.ok()) return kUsage;
  const json::value* ids = cfg->Find("identities");
  json::object none;
  const json::object& identities = ids && ids->is_object() ? ids->as_object() : none;
  if (o.json) {
    PrintJson(identities);
    return kOk;
  }
  if (identities.empty() && isatty(STDOUT_FILENO))
    std::cout << "no identities (link addresses with `openclaw identities link NAME ADDRESS...`)\n";
  for (const auto& [name, list] : identities)
    std::cout << std::string_view(name) << ": " << (list.is_array() ? Joined(list.as_array()) : Str(&list)) << "\n";
  return kOk;
}

int CmdIdentitiesLink(const Options& o) {
  if (o.id.empty()) {
    std::cerr << "openclaw: identities link: NAME must not be empty\n";
    return kUsage;
  }
  for (const auto& a : o.addresses)
    if (!IsAddress(a)) {
      std::cerr << "openclaw: \"" << a << "\" is not a conversation address (<channel>:<id>, e.g. telegram:123)\n";
      return kUsage;
    }
  auto ids = LoadForEdit();
  if (!ids) return kUsage;
  // An address belongs to one person: linking it here moves it away from anyone else.
  json::array moved;
  std::vector<std::string> emptied;
  for (const auto& a : o.addresses)
    for (auto& [other, list] : *ids)
      if (other != o.id && Remove(list.as_array(), a)) {
        moved.push_back(json::object{{"address", a}, {"from", other}});
        if (list.as_array().empty()) emptied.emplace_back(other);
      }
  for (const auto& name : emptied) ids->erase(name);
  bool changed = !moved.empty();
  json::value& slot = (*ids)[o.id];
  if (!slot.is_array()) slot = json::array();
  for (const auto& a : o.addresses)
    if (!Contains(slot.as_array(), a)) {
      slot.as_array().emplace_back(a);
      changed = true;
    }
  json::array addresses = slot.as_array();
  if (changed)
    if (int rc = WriteIdentities(std::move(*ids)); rc != kOk) return rc;
  if (o.json) {
    json::array removed(emptied.begin(), emptied.end());
    PrintJson(json::object{{"name", o.id}, {"addresses", addresses}, {"moved", moved}, {"removed", removed},
                           {"changed", changed}});
    return kOk;
  }
  for (const auto& m : moved)
    std::cout << "moved " << Str(m.as_object().if_contains("address")) << " from "
              << Str(m.as_object().if_contains("from")) << " to " << o.id << "\n";
  for (const auto& name : emptied) std::cout << "removed identity " << name << " (no addresses left)\n";
  std::cout << o.id << ": " << Joined(addresses) << (changed ? "" : " (already linked)") << "\n";
  return kOk;
}

int CmdIdentitiesUnlink(const Options& o) {
  auto ids = LoadForEdit();
  if (!ids) return kUsage;
  auto it = ids->find(o.id);
  if (it == ids->end()) {
    std::cerr << "openclaw: no identity " << o.id << "\n";
    return kFail;
  }
  json::array& list = it->value().as_array();
  for (const auto& a : o.addresses)
    if (!Contains(list, a)) {
      std::cerr << "openclaw: " << a << " is not linked to " << o.id << "\n";
      return kFail;
    }
  for (const auto& a : o.addresses) Remove(list, a);
  const bool gone = o.addresses.empty() || list.empty();
  json::array remaining = gone ? json::array() : list;
  if (gone) ids->erase(it);
  if (int rc = WriteIdentities(std::move(*ids)); rc != kOk) return rc;
  if (o.json)
    PrintJson(json::object{{"name", o.id}, {"addresses", remaining}, {"removed", gone}});
  else
    std::cout << (gone ? "removed identity " + o.id : o.id + ": " + Joined(remaining)) << "\n";
  return kOk;
}

}  // namespace oc::cli
