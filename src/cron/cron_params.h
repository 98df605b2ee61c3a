// Validation of the cron.* control-plane params (internal to oc_cron; cron_service.cpp uses it).
// Every error is kInvalidParams "<path>: <why>" with data {path}, the path being the field name
// ("message", "deliver.to", "schedule.cron").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/json.h"
#include "common/status.h"

namespace oc::cron {

Error ParamError(std::string_view path, std::string_view why);
// A field error `e` of an object under `parent`: "deliver." + "to: ...", path "deliver.to".
Error Nested(std::string_view parent, Error e);

// `params` as an object (null counts as {}), with no keys but `allowed`.
Result<const json::object*> ParamObject(const json::value& params, std::initializer_list<std::string_view> allowed);

// A string field: nullopt when absent; an error when present but not a string, empty, longer than
// max_chars, or (single_line) containing control characters or, with no_spaces, blanks.
struct StringRule {
  size_t max_chars = 256;
  bool single_line = true;
  bool no_spaces = false;
};
Result<std::optional<std::string>> OptionalString(const json::object& o, std::string_view key, StringRule rule);
Result<std::optional<bool>> OptionalBool(const json::object& o, std::string_view key);

// Job ids: 1-64 of [A-Za-z0-9_.-].
Status CheckJobId(std::string_view path, std::string_view id);
// "job-" + 16 random hex digits.
std::string NewJobId();
// "isolated" | "main" | a session key (single line, no blanks, at most 256 characters).
Result<std::optional<std::string>> OptionalSession(const json::object& o);
// deliver: absent → nullopt; null → {nullopt} (remove); {channel, to} → the pair.
using DeliverField = std::optional<std::optional<std::pair<std::string, std::string>>>;
Result<DeliverField> OptionalDeliver(const json::object& o);
// A job's default name: the message's first line, at most 40 bytes (cut on a character boundary).
std::string DefaultJobName(std::string_view message);

}  // namespace oc::cron
