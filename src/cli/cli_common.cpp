#include "cli/cli_common.h"

#include <algorithm>
#include <iostream>

namespace oc::cli {

config::Paths Paths() { return config::ResolvePaths(config::ProcessEnv()); }

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

Result<std::unique_ptr<gateway::ControlClient>> ConnectTo(const config::Config& cfg) {
  auto gw = cfg.gateway();
  std::string host = gw.host == "0.0.0.0" ? "127.0.0.1" : gw.host;  // a wildcard bind is reached on loopback
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

}  // namespace oc::cli
