// Facts about this installation for `security audit` and `doctor` (I/O side; the judgement is in
// security_checks.h). Everything here only reads, except where a name says otherwise.
#pragma once

#include <vector>

#include "cli/security_checks.h"
#include "config/config.h"

namespace oc::cli::security {

// The files that must stay private: home (0700), config.json, state.db, its -wal/-shm (0600), the
// IPC socket's directory (0700) and the socket (0600), vault.key (0600). Missing ones have
// exists == false.
std::vector<FileFacts> PrivateFiles(const config::Paths& paths);

// Every package the kernel would see (shipped + installed), with grants computed as the kernel
// computes them (registry::EffectiveTrust + ComputeGrants from the config).
std::vector<AppFacts> AppsOf(const config::Config& cfg, const config::Paths& paths);

// supervisor::ProbeSandboxSupport() when this build has it.
SandboxFacts ProbeSandbox();

// vault::LoadMasterKey without creating a key, when this build has the vault.
VaultKeyFacts VaultKey(const config::Paths& paths);

// vault::ProbeKeyring: {reachable, detail}; `available` false when this build has no vault.
struct KeyringFacts {
  bool available = false;
  bool reachable = false;
  std::string detail;
};
KeyringFacts ProbeKeyring();

}  // namespace oc::cli::security
