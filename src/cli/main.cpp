// `openclaw`: one binary. `openclaw gateway` runs the kernel; every other command is a client of
// a running kernel's control plane, except the offline ones (manifest validate, config ...).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

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

  auto* klogs = app.add_subcommand("logs", "Show the kernel log");
  klogs->add_option("-n,--lines", opt.lines, "Lines to show");
  klogs->add_flag("-f,--follow", opt.follow, "Keep printing new lines");
  klogs->add_flag("--json", opt.json);
  klogs->callback([&] { opt.exit_code = CmdLogs(opt); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors exit 2 (SPEC §15)
  }
  return opt.exit_code;
}
