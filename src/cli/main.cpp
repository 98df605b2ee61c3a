// `openclaw`: one binary. `openclaw gateway` runs the kernel; every other command is a client of
// a running kernel's control plane, except the offline ones (manifest validate, config ...).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "cli/command_groups.h"
#include "cli/commands.h"

namespace {
using namespace oc::cli;

// An integer option that must be at least `min` (CLI11's number checks print the double range).
CLI::Validator AtLeast(long long min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        try {
          if (std::stoll(text) >= min) return "";
        } catch (const std::exception&) {
        }
        return "must be an integer >= " + std::to_string(min);
      },
      ">=" + std::to_string(min));
}

void AddAgentCommand(CLI::App& app, Options& opt) {
  auto* agent = app.add_subcommand("agent", "Run one agent turn and print the reply");
  agent->add_option("-m,--message", opt.message, "The message to send")->required();
  agent->add_option("--agent", opt.agent, "Agent id (default: agents.default)");
  agent->add_option("--session", opt.session, "Session key or conversation address (default: the agent's main session)");
  agent->add_option("--timeout", opt.timeout_seconds, "Seconds to wait for the run (default 600)")
      ->check(AtLeast(1));
  agent->add_flag("--json", opt.json, "Print the final result as JSON");
  agent->callback([&] { opt.exit_code = CmdAgent(opt); });
}

void AddSessionsCommands(CLI::App& app, Options& opt) {
  auto* sessions = app.add_subcommand("sessions", "Conversations and their history");
  sessions->require_subcommand(1);
  auto* list = sessions->add_subcommand("list", "List sessions (active ones unless --all)");
  list->add_option("--agent", opt.agent, "Only this agent's sessions");
  list->add_option("--channel", opt.channel, "Only sessions on this channel");
  list->add_flag("--all", opt.all, "Include ended sessions");
  list->add_option("--limit", opt.limit, "At most N sessions")->check(AtLeast(1));
  list->add_flag("--json", opt.json);
  list->callback([&] { opt.exit_code = CmdSessionsList(opt); });
  auto* show = sessions->add_subcommand("show", "Print a session's messages");
  show->add_option("key", opt.session, "Session key or conversation address")->required();
  show->add_option("--limit", opt.limit, "Only the last N messages")->check(AtLeast(1));
  show->add_flag("--full", opt.full, "Do not shorten tool calls and results");
  show->add_flag("--json", opt.json);
  show->callback([&] { opt.exit_code = CmdSessionsShow(opt); });
  auto* branch = sessions->add_subcommand("branch", "Copy a session's history into a new session");
  branch->add_option("key", opt.session, "Session key or conversation address")->required();
  branch->add_option("--at", opt.at, "Copy up to this message seq (default: all)")->check(AtLeast(0));
  branch->add_flag("--json", opt.json);
  branch->callback([&] { opt.exit_code = CmdSessionsBranch(opt); });
  auto* reset = sessions->add_subcommand("reset", "End a session; the next message starts a new one");
  reset->add_option("key", opt.session, "Session key or conversation address")->required();
  reset->add_flag("--json", opt.json);
  reset->callback([&] { opt.exit_code = CmdSessionsReset(opt); });
  auto* del = sessions->add_subcommand("delete", "Delete a session and its history");
  del->add_option("key", opt.session, "Session key or conversation address")->required();
  del->add_flag("--json", opt.json);
  del->callback([&] { opt.exit_code = CmdSessionsDelete(opt); });
}

void AddIdentitiesCommands(CLI::App& app, Options& opt) {
  auto* identities = app.add_subcommand("identities", "People and their conversation addresses (config file)");
  identities->require_subcommand(1);
  auto* list = identities->add_subcommand("list", "Print each identity and its addresses");
  list->add_flag("--json", opt.json);
  list->callback([&] { opt.exit_code = CmdIdentitiesList(opt); });
  auto* link = identities->add_subcommand("link", "Link addresses (<channel>:<id>) to a person");
  link->add_option("name", opt.id, "The person")->required();
  link->add_option("addresses", opt.addresses, "Addresses, e.g. telegram:123 irc:alice")->required();
  link->add_flag("--json", opt.json);
  link->callback([&] { opt.exit_code = CmdIdentitiesLink(opt); });
  auto* unlink = identities->add_subcommand("unlink", "Unlink addresses from a person (all when none given)");
  unlink->add_option("name", opt.id, "The person")->required();
  unlink->add_option("addresses", opt.addresses, "Addresses to unlink");
  unlink->add_flag("--json", opt.json);
  unlink->callback([&] { opt.exit_code = CmdIdentitiesUnlink(opt); });
}

void AddCronCommands(CLI::App& app, Options& opt) {
  auto* cron = app.add_subcommand("cron", "Scheduled jobs (kept by the running kernel)");
  cron->require_subcommand(1);
  auto* list = cron->add_subcommand("list", "List jobs with their schedule, next run (local time) and last outcome");
  list->add_option("--agent", opt.agent, "Only this agent's jobs");
  list->add_flag("--json", opt.json);
  list->callback([&] { opt.exit_code = CmdCronList(opt); });
  auto* add = cron->add_subcommand("add", "Add a job: one of --cron, --every, --at, and a message");
  auto* expr = add->add_option("--cron", opt.cron_expr, "Cron expression \"m h dom mon dow\" (or @daily, ...)");
  auto* every = add->add_option("--every", opt.every, "Interval, e.g. 30m, 1h30m, 2d");
  auto* at = add->add_option("--at", opt.at_time, "Once, at an ISO-8601 time (local to --tz without an offset)");
  expr->excludes(every)->excludes(at);
  every->excludes(at);
  add->add_option("--tz", opt.tz, "IANA time zone for --cron/--at (default: cron.defaultTimeZone)");
  add->add_option("-m,--message", opt.message, "What the agent is asked when the job runs")->required();
  add->add_option("--name", opt.name, "A name for the list (default: the message's first line)");
  add->add_option("--id", opt.id, "Job id (default: generated)");
  add->add_option("--agent", opt.agent, "Agent id (default: default)");
  add->add_option("--session", opt.session, "isolated (default: a fresh session per run), main, or a session key");
  add->add_option("--deliver-channel", opt.deliver_channel, "Send the answer to this channel ...");
  add->add_option("--deliver-to", opt.deliver_to, "... and this conversation on it");
  add->add_flag("--disabled", opt.disabled, "Add it switched off");
  add->add_flag("--json", opt.json);
  add->callback([&] { opt.exit_code = CmdCronAdd(opt); });
  auto* rm = cron->add_subcommand("rm", "Remove a job");
  rm->alias("remove");
  rm->add_option("id", opt.id, "Job id")->required();
  rm->add_flag("--json", opt.json);
  rm->callback([&] { opt.exit_code = CmdCronRemove(opt); });
  auto* run = cron->add_subcommand("run", "Run a job now (its schedule stays as it is)");
  run->add_option("id", opt.id, "Job id")->required();
  run->add_flag("--json", opt.json);
  run->callback([&] { opt.exit_code = CmdCronRun(opt); });
}

void AddApprovalsCommands(CLI::App& app, Options& opt) {
  auto* approvals = app.add_subcommand("approvals", "Exec commands waiting for your approval (tools.exec.security ask)");
  approvals->add_flag("--json", opt.json);
  auto* list = approvals->add_subcommand("list", "List pending requests (the default)");
  list->add_flag("--json", opt.json);
  auto* approve = approvals->add_subcommand("approve", "Let the command run");
  approve->add_option("id", opt.id, "Request id")->required();
  approve->add_flag("--json", opt.json);
  approve->callback([&] { opt.exit_code = CmdApprovalsResolve(opt, true); });
  auto* deny = approvals->add_subcommand("deny", "Refuse the command");
  deny->add_option("id", opt.id, "Request id")->required();
  deny->add_option("--reason", opt.reason, "Told to the agent");
  deny->add_flag("--json", opt.json);
  deny->callback([&] { opt.exit_code = CmdApprovalsResolve(opt, false); });
  approvals->callback([&opt, approvals, list] {
    if (approvals->get_subcommands().empty() || list->parsed()) opt.exit_code = CmdApprovalsList(opt);
  });
}

void AddMemoryCommands(CLI::App& app, Options& opt) {
  auto* memory = app.add_subcommand("memory", "Long-term memory: hybrid search, indexing, status");
  memory->require_subcommand(1);
  auto* search = memory->add_subcommand("search", "Search the agent's memory (vector + text)");
  search->add_option("query", opt.query, "What to look for")->required();
  search->add_option("--agent", opt.agent, "Agent id (default: default)");
  search->add_option("--top-k", opt.top_k, "At most N results (default: memory.search.topK)")->check(AtLeast(1));
  search->add_option("--min-score", opt.min_score, "Drop results below this score (default: memory.search.minScore)")
      ->check(CLI::Range(0.0, 1.0));
  search->add_flag("--json", opt.json);
  search->callback([&] { opt.exit_code = CmdMemorySearch(opt); });
  auto* index = memory->add_subcommand("index", "Index the workspaces' memory files now and print the report");
  index->add_option("--agent", opt.agent, "Only this agent's workspace (default: all)");
  index->add_flag("--force", opt.force, "Re-chunk files even when unchanged");
  index->add_flag("--json", opt.json);
  index->callback([&] { opt.exit_code = CmdMemoryIndex(opt); });
  auto* status = memory->add_subcommand("status", "Embedding model, counts per workspace, last index");
  status->add_flag("--json", opt.json);
  status->callback([&] { opt.exit_code = CmdMemoryStatus(opt); });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace oc::cli;
  CLI::App app{"OpenClawOS — a personal AI assistant runtime built like an operating system", "openclaw"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(OPENCLAWOS_KERNEL_VERSION));
  Options opt;

  auto* gateway = app.add_subcommand("gateway", "Run the kernel in the foreground");
  gateway->add_flag("-v,--verbose", opt.verbose, "Debug logging");
  gateway->callback([&] { opt.exit_code = CmdGateway(opt); });

  auto* status = app.add_subcommand("status", "Show the running kernel's status");
  status->add_flag("--json", opt.json);
  status->callback([&] { opt.exit_code = CmdStatus(opt); });

  auto* health = app.add_subcommand("health", "Check that the kernel answers");
  health->add_flag("--json", opt.json);
  health->callback([&] { opt.exit_code = CmdHealth(opt); });

  auto* apps = app.add_subcommand("apps", "Manage apps");
  apps->require_subcommand(1);
  auto* list = apps->add_subcommand("list", "List apps and their state");
  list->add_flag("--json", opt.json);
  list->callback([&] { opt.exit_code = CmdAppsList(opt); });
  auto* info = apps->add_subcommand("info", "Declared vs granted capabilities, state, resources");
  info->add_option("id", opt.id)->required();
  info->add_flag("--json", opt.json);
  info->callback([&] { opt.exit_code = CmdAppsInfo(opt); });
  auto* logs = apps->add_subcommand("logs", "Show an app's output");
  logs->add_option("id", opt.id)->required();
  logs->add_option("-n,--lines", opt.lines, "Lines to show");
  logs->add_flag("-f,--follow", opt.follow, "Keep printing new lines");
  logs->add_flag("--json", opt.json);
  logs->callback([&] { opt.exit_code = CmdAppsLogs(opt); });
  for (const char* verb : {"start", "stop", "restart"}) {
    auto* sub = apps->add_subcommand(verb, std::string(verb) + " an app");
    sub->add_option("id", opt.id)->required();
    sub->callback([&opt, verb] { opt.exit_code = CmdAppsControl(opt, verb); });
  }
  auto* install = apps->add_subcommand("install", "Install a package directory");
  install->add_option("path", opt.path)->required();
  install->callback([&] { opt.exit_code = CmdAppsInstall(opt); });
  auto* uninstall = apps->add_subcommand("uninstall", "Remove an installed package");
  uninstall->add_option("id", opt.id)->required();
  uninstall->callback([&] { opt.exit_code = CmdAppsUninstall(opt); });

  auto* manifest = app.add_subcommand("manifest", "Package manifests");
  manifest->require_subcommand(1);
  auto* validate = manifest->add_subcommand("validate", "Validate a manifest (file or package dir)");
  validate->add_option("path", opt.path)->required();
  validate->callback([&] { opt.exit_code = CmdManifestValidate(opt); });

  auto* config = app.add_subcommand("config", "Configuration");
  config->require_subcommand(1);
  config->add_subcommand("validate", "Validate the config file")->callback([&] { opt.exit_code = CmdConfigValidate(opt); });
  config->add_subcommand("path", "Print the config file's path")->callback([&] { opt.exit_code = CmdConfigPath(opt); });
  auto* get = config->add_subcommand("get", "Print the effective config (secrets redacted)");
  get->add_option("key", opt.path, "Dotted path, e.g. gateway.port");
  get->callback([&] { opt.exit_code = CmdConfigGet(opt); });
  auto* set = config->add_subcommand("set", "Set a value in the config file (JSON or plain string)");
  set->add_option("key", opt.path)->required();
  set->add_option("value", opt.value)->required();
  set->callback([&] { opt.exit_code = CmdConfigSet(opt); });

  AddAgentCommand(app, opt);
  AddSessionsCommands(app, opt);
  AddIdentitiesCommands(app, opt);
  AddCronCommands(app, opt);
  AddApprovalsCommands(app, opt);
  AddMemoryCommands(app, opt);
  AddVaultCommands(app, opt);
  AddSecurityCommands(app, opt);

  auto* klogs = app.add_subcommand("logs", "Show the kernel log");
  klogs->add_option("-n,--lines", opt.lines, "Lines to show");
  klogs->add_flag("-f,--follow", opt.follow, "Keep printing new lines");
  klogs->add_flag("--json", opt.json);
  klogs->add_flag("--audit", opt.audit, "Show the audit log (security events) instead");
  klogs->add_option("--kind", opt.kind, "With --audit: only this kind or group (vault, auth.failed, ...)");
  klogs->callback([&] { opt.exit_code = opt.audit ? CmdAuditLog(opt) : CmdLogs(opt); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors exit 2 (SPEC §15)
  }
  return opt.exit_code;
}
