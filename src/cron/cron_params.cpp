#include "cron/cron_params.h"

#include <algorithm>
#include <random>

namespace oc::cron {

Error ParamError(std::string_view path, std::string_view why) {
  json::object data;
  data["path"] = path;
  return MakeError(ErrorCode::kInvalidParams, std::string(path) + ": " + std::string(why), std::move(data));
}

Error Nested(std::string_view parent, Error e) {
  e.message = std::string(parent) + "." + e.message;
  if (json::object* data = e.data.if_object()) {
    if (auto path = GetString(*data, "path")) (*data)["path"] = std::string(parent) + "." + std::string(*path);
  }
  return e;
}

Result<const json::object*> ParamObject(const json::value& params, std::initializer_list<std::string_view> allowed) {
  static const json::object kEmpty;
  if (params.is_null()) return &kEmpty;
  const json::object* o = params.if_object();
  if (!o) return MakeError(ErrorCode::kInvalidParams, "params: expected an object");
  for (const auto& kv : *o) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end())
      return ParamError(kv.key(), "unknown field");
  }
  return o;
}

Result<std::optional<std::string>> OptionalString(const json::object& o, std::string_view key, StringRule rule) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return ParamError(key, "expected a string, got " + std::string(JsonTypeName(*v)));
  const std::string_view s = v->get_string();
  if (s.empty()) return ParamError(key, "must not be empty");
  if (s.size() > rule.max_chars) return ParamError(key, "longer than " + std::to_string(rule.max_chars) + " bytes");
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (rule.single_line && (u < 0x20 || u == 0x7f)) return ParamError(key, "must not contain control characters");
    if (rule.no_spaces && c == ' ') return ParamError(key, "must not contain spaces");
  }
  return std::optional<std::string>(std::string(s));
}

Result<std::optional<bool>> OptionalBool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::optional<bool>();
  if (!v->is_bool()) return ParamError(key, "expected a boolean, got " + std::string(JsonTypeName(*v)));
  return std::optional<bool>(v->as_bool());
}

Status CheckJobId(std::string_view path, std::string_view id) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
  if (!ok) return ParamError(path, "must be 1-64 characters of A-Z a-z 0-9 _ . -");
  return Status::Ok();
}

std::string NewJobId() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device rd;
  std::string id = "job-";
  for (int i = 0; i < 8; ++i) {
    const unsigned b = rd() & 0xffu;
    id += kDigits[b >> 4];
    id += kDigits[b & 0xf];
  }
  return id;
}

Result<std::optional<std::string>> OptionalSession(const json::object& o) {
  return OptionalString(o, "session", StringRule{256, true, true});
}

Result<DeliverField> OptionalDeliver(const json::object& o) {
  const json::value* v = o.if_contains("deliver");
  if (!v) return DeliverField();
  if (v->is_null()) return DeliverField(std::optional<std::pair<std::string, std::string>>());
  if (!v->is_object()) return ParamError("deliver", "expected {channel, to} or null");
  auto fields = ParamObject(*v, {"channel", "to"});
  if (!fields.ok()) return Nested("deliver", fields.error());
  auto channel = OptionalString(**fields, "channel", StringRule{128, true, true});
  if (!channel.ok()) return Nested("deliver", channel.error());
  auto to = OptionalString(**fields, "to", StringRule{512, true, false});
  if (!to.ok()) return Nested("deliver", to.error());
  if (!*channel) return ParamError("deliver.channel", "required");
  if (!*to) return ParamError("deliver.to", "required");
  return DeliverField(std::make_pair(std::move(**channel), std::move(**to)));
}

std::string DefaultJobName(std::string_view message) {
  const size_t newline = message.find_first_of("\r\n");
  std::string_view line = message.substr(0, newline);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  constexpr size_t kMax = 40;
  if (line.size() <= kMax) return std::string(line);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  return std::string(line.substr(0, cut)) + "…";
}

}  // namespace oc::cron
