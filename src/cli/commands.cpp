#include "cli/commands.h"

#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "cli/cli_common.h"
#include "config/config.h"
#include "config/config_file.h"
#include "gateway/control_client.h"
#include "kernel/kernel.h"
#include "registry/packages.h"
#include "registry/validate_command.h"

namespace oc::cli {
namespace fs = std::filesystem;

namespace {

std::string FormatBytes(const json::value* v) {
  if (!v || !v->is_number()) return "-";
  double b = v->to_number<double>();
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << b / (1024.0 * 1024.0) << "M";
  return s.str();
}

// Every answer of logs.tail / apps.logs carries `next`, the number of the line after its last one;
// asking with `after: next` returns only lines logged since, so nothing is printed twice.
constexpr auto kFollowInterval = std::chrono::seconds(1);

void PrintLines(const json::object& answer) {
  if (const auto* lines = answer.if_contains("lines"); lines && lines->is_array())
    for (const auto& line : lines->as_array()) std::cout << Str(&line) << "\n";
  std::cout.flush();
}

int FollowLines(std::string_view method, json::object params, const Options& o) {
  int rc = kOk;
  auto client = Connect(&rc);
  if (!client) return rc;
  auto r = client->Call(method, params);
  while (true) {
    if (!r.ok()) {
      std::cerr << "openclaw: " << method << ": " << r.error().message << "\n";
      return kFail;
    }
    const json::object* answer = r->if_object();
    if (!answer) {
      std::cerr << "openclaw: " << method << ": unexpected answer " << json::serialize(*r) << "\n";
      return kFail;
    }
    if (auto skipped = GetInt(*answer, "skipped"); skipped && *skipped > 0)
      std::cerr << "openclaw: " << *skipped << " line(s) were logged faster than they could be followed\n";
    const bool any = answer->contains("lines") && !answer->at("lines").as_array().empty();
    if (o.json) {
      if (any || !o.follow) PrintJson(*r);
    } else {
      PrintLines(*answer);
    }
    if (!o.follow) return kOk;
    auto next = GetInt(*answer, "next");
    if (!next) {
      std::cerr << "openclaw: " << method << ": the gateway does not number its lines; cannot follow\n";
      return kFail;
    }
    std::this_thread::sleep_for(kFollowInterval);
    json::object since = params;
    since.erase("lines");  // everything logged since, up to what the gateway keeps
    since["after"] = *next;
    r = client->Call(method, std::move(since));
  }
}

}  // namespace

int CmdGateway(const Options& o) { return kernel::RunGateway(Paths(), ShippedPackages(), o.verbose); }

int CmdHealth(const Options& o) {
  int rc = kOk;
  auto r = Call("health", json::object(), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
  } else {
    const auto& apps = r->at("apps");
    std::cout << "ok · kernel " << Str(r->as_object().if_contains("version")) << " · apps ready "
              << Str(apps.as_object().if_contains("ready")) << "/" << Str(apps.as_object().if_contains("total"))
              << "\n";
  }
  return kOk;
}

int CmdStatus(const Options& o) {
  int rc = kOk;
  auto r = Call("status", json::object(), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const auto& s = r->as_object();
  std::cout << "kernel     " << Str(s.if_contains("version")) << " (protocol " << Str(s.if_contains("protocolVersion"))
            << "), pid " << Str(s.if_contains("pid")) << ", up " << s.at("uptimeMs").to_number<int64_t>() / 1000 << "s\n"
            << "home       " << Str(s.if_contains("home")) << "\n"
            << "socket     " << Str(s.if_contains("socket")) << "\n"
            << "gateway    http://" << Str(s.at("gateway").as_object().if_contains("host")) << ":"
            << Str(s.at("gateway").as_object().if_contains("port")) << "\n"
            << "apps       " << s.at("apps").as_array().size() << " supervised, " << Str(s.if_contains("connections"))
            << " IPC connection(s)\n";
  return kOk;
}

int CmdAppsList(const Options& o) {
  int rc = kOk;
  auto r = Call("apps.list", json::object(), &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  std::cout << std::left << std::setw(28) << "ID" << std::setw(10) << "STATE" << std::setw(8) << "PID" << std::setw(10)
            << "RESTARTS" << std::setw(8) << "RSS" << std::setw(11) << "TRUST" << "VERSION\n";
  for (const auto& a : r->at("apps").as_array()) {
    const auto& app = a.as_object();
    const json::object* st = app.if_contains("status") ? app.at("status").if_object() : nullptr;
    const json::value* usage = st ? st->if_contains("resourceUsage") : nullptr;
    std::cout << std::setw(28) << Str(app.if_contains("id")) << std::setw(10)
              << (st ? Str(st->if_contains("state")) : "stopped") << std::setw(8) << (st ? Str(st->if_contains("pid")) : "-")
              << std::setw(10) << (st ? Str(st->if_contains("restartCount")) : "0") << std::setw(8)
              << FormatBytes(usage && usage->is_object() ? usage->as_object().if_contains("memoryRss") : nullptr)
              << std::setw(11) << Str(app.if_contains("trustLevel")) << Str(app.if_contains("version")) << "\n";
  }
  return kOk;
}

int CmdAppsInfo(const Options& o) {
  int rc = kOk;
  auto r = Call("apps.info", json::object{{"id", o.id}}, &rc);
  if (!r.ok()) return rc;
  if (o.json) {
    PrintJson(*r);
    return kOk;
  }
  const auto& a = r->as_object();
  std::cout << Str(a.if_contains("id")) << " " << Str(a.if_contains("version")) << " (" << Str(a.if_contains("type"))
            << ", trust " << Str(a.if_contains("trustLevel")) << ", " << (a.at("enabled").as_bool() ? "enabled" : "disabled")
            << ")\n  dir       " << Str(a.if_contains("dir")) << "\n";
  if (auto* st = a.if_contains("status")) std::cout << "  status    " << json::serialize(*st) << "\n";
  std::cout << "  declared  " << json::serialize(a.at("declared")) << "\n"
            << "  granted   " << json::serialize(a.at("granted")) << "\n";
  return kOk;
}

int CmdAppsLogs(const Options& o) { return FollowLines("apps.logs", json::object{{"id", o.id}, {"lines", o.lines}}, o); }

int CmdLogs(const Options& o) { return FollowLines("logs.tail", json::object{{"lines", o.lines}}, o); }

int CmdAppsControl(const Options& o, const std::string& verb) {
  int rc = kOk;
  auto r = Call("apps." + verb, json::object{{"id", o.id}}, &rc);
  if (!r.ok()) return rc;
  std::cout << o.id << ": " << verb << (verb == "stop" ? "ped" : "ed") << "\n";
  return kOk;
}

int CmdAppsInstall(const Options& o) {
  fs::path src = fs::absolute(o.path);
  auto cfg = LoadConfig();
  if (!cfg.ok()) return kUsage;
  auto client = ConnectTo(*cfg);
  if (client.ok()) {  // a running kernel installs and starts it
    auto r = (*client)->Call("apps.install", json::object{{"path", src.string()}});
    if (!r.ok()) {
      std::cerr << "openclaw: install failed: " << r.error().message << "\n";
      return kFail;
    }
    std::cout << "installed " << Str(r->as_object().if_contains("id")) << " " << Str(r->as_object().if_contains("version"))
              << (r->at("started").as_bool() ? " (started)" : "") << "\n";
    return kOk;
  }
  auto installed = registry::InstallPackage(src, Paths().packages, ShippedPackages());
  if (!installed.ok()) {
    std::cerr << "openclaw: install failed: " << installed.error().message << "\n";
    return kFail;
  }
  std::cout << "installed " << installed->manifest.id << " " << installed->manifest.version
            << " (starts with the next `openclaw gateway`)\n";
  return kOk;
}

int CmdAppsUninstall(const Options& o) {
  auto cfg = LoadConfig();
  if (!cfg.ok()) return kUsage;
  auto client = ConnectTo(*cfg);
  Status s;
  if (client.ok()) {
    auto r = (*client)->Call("apps.uninstall", json::object{{"id", o.id}});
    if (!r.ok()) s = r.error();
  } else {
    s = registry::UninstallPackage(o.id, Paths().packages);
  }
  if (!s.ok()) {
    std::cerr << "openclaw: uninstall failed: " << s.error().message << "\n";
    return kFail;
  }
  std::cout << "uninstalled " << o.id << "\n";
  return kOk;
}

int CmdManifestValidate(const Options& o) { return registry::RunManifestValidate(o.path, std::cout); }

int CmdConfigValidate(const Options&) {
  auto p = Paths();
  auto cfg = config::Config::Load(p.config_file, config::ProcessEnv());
  if (!cfg.ok()) {
    PrintConfigError(cfg.error());
    return kUsage;
  }
  std::cout << "ok: " << p.config_file.string() << (fs::exists(p.config_file) ? "" : " (absent: all defaults)") << "\n";
  return kOk;
}

int CmdConfigPath(const Options&) {
  std::cout << Paths().config_file.string() << "\n";
  return kOk;
}

int CmdConfigGet(const Options& o) {
  auto cfg = LoadConfig();
  if (!cfg.ok()) return kUsage;
  if (!o.path.empty() && !cfg->Find(o.path)) {
    std::cerr << "openclaw: no config value at " << o.path << "\n";
    return kFail;
  }
  PrintJson(cfg->Redacted(o.path));
  return kOk;
}

int CmdConfigSet(const Options& o) {
  // A value that parses as JSON is taken as JSON (numbers, booleans, objects); otherwise a string.
  auto parsed = ParseJson(o.value);
  json::value v = parsed.ok() ? std::move(parsed).value() : json::value(o.value);
  Status s = config::SetValue(Paths().config_file, o.path, std::move(v));
  if (!s.ok()) {
    PrintConfigError(s.error());
    return kUsage;
  }
  std::cout << "set " << o.path << "\n";
  return kOk;
}

}  // namespace oc::cli
