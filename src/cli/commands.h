// The CLI's commands (SPEC §15). Each returns the process exit status: 0 success, 1 failure,
// 2 usage or config error.
#pragma once

#include <string>

namespace oc::cli {

struct Options {
  bool json = false;
  bool verbose = false;
  bool follow = false;
  int lines = 50;
  std::string id;
  std::string path;
  std::string value;
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

}  // namespace oc::cli
