// Routing of an inbound message (SPEC §7.1, §7.3): which agent answers it (bindings) and which
// session it joins (identity scope, group isolation).
//
// Agent: the most specific matching binding (the number of conditions it sets; ties: first listed),
// else channels.<channel>.agentId, else "default". A binding without conditions matches everything.
// Conditions (all given must hold; exact, case-sensitive unless said otherwise):
//   channel, accountId, chatType — equal to the inbound's;
//   peer   — the sender: metadata.from, or the conversation for a direct chat without `from`; given
//            either bare ("123") or as a sender address ("telegram:123");
//   group  — the group id (metadata.groupId, else the group conversation), bare or "<channel>:<id>";
//   senderDomain — the part of `from` after its last '@', case-insensitive (a leading '@' in the
//            pattern is ignored); a sender without '@' never matches;
//   bodyRegex — RE2 (linear time, no backtracking), matched anywhere in the text (partial match).
// Session key:
//   direct message, session.scope "identity" (default) → "agent:<agentId>:identity:<identity>", where
//     <identity> is the name under `identities` that lists the sender's address, else the address.
//     The sender's address is "<channel>:<from>" when metadata.from is given, else the conversation
//     address itself; either form listed under `identities` links it.
//   direct message, scope "conversation"              → "agent:<agentId>:conv:<address>"
//   group message (chatType "group")                   → "agent:<agentId>:group:<address>", for
//     every sender (linked or not): groups are isolated per group address.
// Immutable once built; rebuilt on config reload.
#pragma once

#include <re2/re2.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace oc::sessions {

// "<channel>:<conversation>" → {channel, conversation}, split at the first ':' (the conversation may
// contain more). kInvalidParams when either part is empty or there is no ':'.
Result<std::pair<std::string, std::string>> ParseAddress(std::string_view address);

// The key of an agent's main session used by the control plane when no session is named.
std::string MainSessionKey(std::string_view agent_id);

struct Inbound {
  std::string address;       // "<channel>:<conversation>"
  std::string channel;       // from the address (or metadata.channelId when given)
  std::string conversation;  // from the address
  std::string from;          // metadata.from (sender id on the platform), may be empty
  std::string account_id;    // metadata.accountId, may be empty
  std::string chat_type = "direct";  // metadata.chatType: direct | group
  std::string group_id;      // metadata.groupId, else the conversation for groups
  std::string text;
  // Builds it from agent.queue params {sessionKey, text, metadata}. kInvalidParams (data.path) for a
  // malformed address or a chatType other than direct|group.
  static Result<Inbound> FromQueueParams(std::string_view session_key, std::string_view text,
                                         const json::value& metadata);
};

struct Route {
  std::string agent_id;
  std::string session_key;
  std::string kind;      // identity | conversation | group
  std::string identity;  // identity name or sender address (groups: the sender's, "" without from)
  int binding = -1;      // index of the binding that matched; -1 = none
};

class Router {
 public:
  // From the config root: bindings, identities, session.scope, channels.<ch>.agentId; each may be
  // absent (a non-object root is an empty config). kInvalidParams naming
  // "bindings[i].match.bodyRegex" when RE2 rejects a pattern, and naming the offending path for a
  // value of the wrong shape (normally caught earlier by the config schema).
  static Result<Router> FromConfig(const json::value& root);
  Router() = default;

  Route Resolve(const Inbound& in) const;
  // The identity a sender address belongs to (the linked name, else the address).
  std::string IdentityOf(std::string_view address) const;
  // {name: [addresses]} as configured.
  json::value IdentitiesJson() const;

 private:
  struct Binding {
    std::string agent_id;
    std::optional<std::string> channel, account_id, peer, group, chat_type, sender_domain;
    std::shared_ptr<re2::RE2> body;  // null when absent
    int specificity = 0;
  };
  Status LoadBindings(const json::object& cfg);
  Status LoadIdentities(const json::object& cfg);
  static Status ReadMatch(const json::object& match, const std::string& base, Binding& b);
  static bool Matches(const Binding& b, const Inbound& in);
  // The identity of a direct message's sender (see the session key rules above).
  std::string DirectIdentity(const Inbound& in) const;

  std::vector<Binding> bindings_;
  std::map<std::string, std::string, std::less<>> identity_of_;  // address → name
  std::map<std::string, std::vector<std::string>> identities_;
  std::map<std::string, std::string, std::less<>> channel_agent_;  // channel → agentId
  bool conversation_scope_ = false;
};

}  // namespace oc::sessions
