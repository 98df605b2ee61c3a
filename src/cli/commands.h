// The CLI's commands (SPEC §15). Each returns the process exit status: 0 success, 1 failure,
// 2 usage or config error.
#pragma once

#include <string>
#include <vector>

namespace oc::cli {

struct Options {
  bool json = false;
  bool verbose = false;
  bool follow = false;
  int lines = 50;
  std::string id;
  std::string path;
  std::string value;
  // agent, sessions, identities
  std::string message;               // agent -m
  std::string agent;                 // --agent
  std::string session;               // --session
  std::string channel;               // --channel
  int timeout_seconds = 600;         // agent --timeout
  int limit = 0;                     // --limit (0 = the server's default)
  long long at = -1;                 // sessions branch --at (-1 = the whole history)
  bool all = false;                  // sessions list --all
  bool full = false;                 // sessions show --full
  std::vector<std::string> addresses;  // identities link/unlink
  // cron add
  std::string name;                  // --name
  std::string cron_expr;             // --cron "m h dom mon dow"
  std::string tz;                    // --tz
  std::string every;                 // --every 30m
  std::string at_time;               // --at ISO-8601
  std::string deliver_channel;       // --deliver-channel
  std::string deliver_to;            // --deliver-to
  bool disabled = false;             // --disabled
  // approvals
  std::string reason;                // --reason
  // memory
  std::vector<std::string> query;    // memory search <query...>
  int top_k = 0;                     // --top-k (0 = memory.search.topK)
  double min_score = -1;             // --min-score (< 0 = memory.search.minScore)
  bool force = false;                // memory index --force
  // logs --audit, doctor --fix (commands_security.cpp, commands_doctor.cpp)
  bool audit = false;                // logs --audit
  std::string kind;                  // logs --audit --kind (a kind or its group: vault, auth)
  bool fix = false;                  // doctor --fix
  int exit_code = 0;
};

int CmdGateway(const Options& o);
int CmdStatus(const Options& o);
int CmdHealth(const Options& o);
int CmdAppsList(const Options& o);
int CmdAppsInfo(const Options& o);
int CmdAppsLogs(const Options& o);
int CmdAppsControl(const Options& o, const std::string& verb);
int CmdAppsInstall(const Options& o);
int CmdAppsUninstall(const Options& o);
int CmdManifestValidate(const Options& o);
int CmdConfigValidate(const Options& o);
int CmdConfigPath(const Options& o);
int CmdConfigGet(const Options& o);
int CmdConfigSet(const Options& o);
int CmdLogs(const Options& o);

// commands_sessions.cpp
int CmdAgent(const Options& o);
int CmdSessionsList(const Options& o);
int CmdSessionsShow(const Options& o);
int CmdSessionsBranch(const Options& o);
int CmdSessionsReset(const Options& o);
int CmdSessionsDelete(const Options& o);

// commands_identities.cpp (offline: they edit or read the config file)
int CmdIdentitiesList(const Options& o);
int CmdIdentitiesLink(const Options& o);
int CmdIdentitiesUnlink(const Options& o);

// commands_cron.cpp
int CmdCronList(const Options& o);
int CmdCronAdd(const Options& o);
int CmdCronRemove(const Options& o);
int CmdCronRun(const Options& o);

// commands_approvals.cpp
int CmdApprovalsList(const Options& o);
int CmdApprovalsResolve(const Options& o, bool approve);

// commands_memory.cpp
int CmdMemorySearch(const Options& o);
int CmdMemoryIndex(const Options& o);
int CmdMemoryStatus(const Options& o);

}  // namespace oc::cli
