// `openclaw approvals [list] | approve ID | deny ID [--reason]` (SPEC §8.3): the exec commands the
// agent is waiting to run under tools.exec.security "ask".
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace oc::cli {
namespace {

std::string Field(const json::object& o, std::string_view key) { return Str(o.if_contains(key)); }

// "in 95s" until the request times out (and counts as denied).
std::string ExpiresIn(const json::object& o) {
  const json::value* v = o.if_contains("expiresAt");
  if (!v || !v->is_int64()) return "-";
  int64_t left = (v->as_int64() - NowMs()) / 1000;
  return left <= 0 ? "now" : "in " + std::to_string(left) + "s";
}

}  // namespace

int CmdApprovalsList(const Options& o) {
  int code = kOk;
  auto r = Call("approvals.list", json::object{}, &code);
  if (!r.ok()) return code;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const json::array& pending = r->at("pending").as_array();
  if (pending.empty()) {
    std::cout << "No approvals pending.\n";
    return kOk;
  }
  for (const auto& item : pending) {
    const auto& p = item.as_object();
    std::cout << Field(p, "id") << "  agent " << Field(p, "agentId") << "  session " << Field(p, "sessionKey")
              << "  expires " << ExpiresIn(p) << "\n    $ " << Field(p, "command") << "\n    in " << Field(p, "cwd")
              << "\n";
  }
  std::cout << "Approve with `openclaw approvals approve ID`, refuse with `openclaw approvals deny ID`.\n";
  return kOk;
}

int CmdApprovalsResolve(const Options& o, bool approve) {
  int code = kOk;
  json::object params{{"id", o.id}, {"decision", approve ? "approve" : "deny"}};
  if (!o.reason.empty()) params["reason"] = o.reason;
  auto r = Call("approvals.resolve", std::move(params), &code);
  if (!r.ok()) return code;
  if (o.json) PrintJson(*r);
  else std::cout << (approve ? "Approved " : "Denied ") << o.id << "\n";
  return kOk;
}

}  // namespace oc::cli
