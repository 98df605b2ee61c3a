#include "cli/cli_common.h"

#include "audit/audit.h"
#include "store/database.h"
#include "vault/vault.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>

namespace oc::cli {

config::Paths Paths() { return config::ResolvePaths(config::ProcessEnv()); }

std::filesystem::path ShippedPackages() {
  if (const char* env = std::getenv("OPENCLAWOS_SHIPPED_PACKAGES")) return env;
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "packages";
  return exe.parent_path().parent_path() / "packages";
}

void PrintConfigError(const Error& e) {
  std::cerr << "openclaw: " << e.message << "\n";
  if (auto* o = e.data.if_object())
    if (auto* errs = o->if_contains("errors"); errs && errs->is_array())
      for (const auto& err : errs->as_array())
        std::cerr << "  " << err.at("path").as_string().c_str() << ": " << err.at("message").as_string().c_str() << "\n";
}

Result<config::Config> LoadConfig() {
  auto cfg = config::Config::Load(Paths().config_file, config::ProcessEnv());
  if (!cfg.ok()) PrintConfigError(cfg.error());
  return cfg;
}

namespace {
// gateway.auth.token/password written as {"$secret": NAME}: read from the vault the way the kernel
// does (state.db + the master key from the same source); each read is audited.
Result<std::string> GatewayCredential(const std::string& name) {
  auto paths = Paths();
  auto db = store::Database::Open(paths.database);
  if (!db.ok()) return db.error();
  auto key = vault::LoadMasterKey({paths.home, config::ProcessEnv(), false});
  auto opened = key.ok() ? vault::Vault::Open(**db, std::move(key).value())
                         : Result<std::unique_ptr<vault::Vault>>(key.error());
  if (!opened.ok()) return opened.error();
  auto value = (*opened)->Get(name);
  (void)audit::Record(**db, {"vault.get", "cli", name, value.ok() ? "ok" : "failed", {{"purpose", "gateway auth"}}});
  return value;
}
}  // namespace

Result<std::unique_ptr<gateway::ControlClient>> ConnectTo(const config::Config& cfg) {
  auto gw = cfg.gateway();
  std::string host = gw.host == "0.0.0.0" ? "127.0.0.1" : gw.host;  // a wildcard bind is reached on loopback
  for (auto [secret, plain] : {std::pair{&gw.auth_token_secret, &gw.auth_token},
                               std::pair{&gw.auth_password_secret, &gw.auth_password}}) {
    if (secret->empty()) continue;
    auto value = GatewayCredential(*secret);
    if (!value.ok()) return MakeError(value.error().code, "gateway credential: " + value.error().message);
    *plain = std::move(value).value();
  }
  return gateway::ControlClient::Connect(host, gw.port, gw.auth_token, gw.auth_password);
}

std::unique_ptr<gateway::ControlClient> Connect(int* exit_code) {
  auto cfg = LoadConfig();
  if (!cfg.ok()) {
    *exit_code = kUsage;
    return nullptr;
  }
  auto client = ConnectTo(*cfg);
  if (!client.ok()) {
    std::cerr << "openclaw: " << client.error().message << "\n";
    *exit_code = kFail;
    return nullptr;
  }
  return std::move(client).value();
}

Result<json::value> Call(std::string_view method, json::value params, int* exit_code) {
  auto client = Connect(exit_code);
  if (!client) return MakeError(ErrorCode::kConnectionClosed, "not connected");
  auto r = client->Call(method, std::move(params));
  if (!r.ok()) {
    std::cerr << "openclaw: " << method << ": " << r.error().message << "\n";
    *exit_code = kFail;
  }
  return r;
}

std::string Str(const json::value* v) {
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

void PrintJson(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// "YYYY-MM-DD HH:MM:SS" in local time.
std::string LocalTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace oc::cli
