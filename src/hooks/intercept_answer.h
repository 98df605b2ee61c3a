// Interpretation of one interceptor's answer (the `result` of hook.result, SPEC §6). Pure functions,
// no I/O: the hook bus calls them, and they are tested on their own.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"

namespace oc::hooks {

struct InterceptAnswer {
  enum class Action { kContinue, kModify, kBlock, kInvalid };
  Action action = Action::kContinue;
  json::value data;    // kModify: the replacement data (already validated)
  std::string reason;  // kBlock: the reason given (may be empty); kInvalid: what was wrong
};

// Accepted forms: {action:"continue"} | {action:"modify", data} | {action:"block", reason?};
// shorthands: an object without "action" = modify with that object as data; null = block.
// Anything else (unknown action, modify without data, a string/array/number...) is kInvalid, as is
// a modification that ValidateModifiedData refuses. `original` is the data the chain started with.
InterceptAnswer InterpretInterceptAnswer(const json::value& result, const json::value& original);

// Modified data replaces the current data, so it must be a whole, well-typed object: an object, and
// every field of `original` (when that is an object) still present with the same JSON kind (all
// numbers count as one kind). Fields the original lacks are free. Error: kInvalidParams naming the
// field.
Status ValidateModifiedData(const json::value& modified, const json::value& original);

}  // namespace oc::hooks
