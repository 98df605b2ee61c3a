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
  json::value data;    // kModify: the fields to merge into the current data (already validated)
  std::string reason;  // kBlock: the reason given (may be empty); kInvalid: what was wrong
};

// Accepted forms: {action:"continue"} | {action:"modify", data} | {action:"block", reason?};
// shorthands: an object without "action" = modify with that object as data; null = block.
// Anything else (unknown action, modify without data, a string/array/number...) is kInvalid, as is
// a modification that ValidateModifiedData refuses. `original` is the data the chain started with.
InterceptAnswer InterpretInterceptAnswer(const json::value& result, const json::value& original);

// Modified data is merged shallowly into the current data (an interceptor sends only the fields it
// changes: {"content": "..."}), so it must be an object whose fields that also exist in `original`
// keep their JSON kind (all numbers count as one kind). New fields are free. Error: kInvalidParams
// naming the field.
Status ValidateModifiedData(const json::value& modified, const json::value& original);

}  // namespace oc::hooks
